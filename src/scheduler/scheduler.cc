// scheduler/scheduler.cc — the Pool's decision, its queue around it, and the factory.
#include "scheduler/scheduler.h"

#include <cstdio>

#include <boost/asio/post.hpp>

#include "base/log.h"
#include "base/random.h"
#include "scheduler/request_info.h"
#include "scheduler/scraper.h"

namespace ap::scheduler {
namespace net = boost::asio;

namespace {

// Per-thread scratch, so a decision allocates nothing once warm.
struct Scratch {
  std::vector<Candidate> candidates;
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> matched;
};
Scratch& LocalScratch() {
  thread_local Scratch s;
  return s;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Pool::Pool(std::string model, config::SchedulerConfig config, std::vector<const gateway::BackendState*> members,
           std::optional<net::any_io_executor> bookkeeping)
    : model_(std::move(model)),
      config_(std::move(config)),
      members_(std::move(members)),
      index_(members_.size(), kDefaultCapacityTokens * kCharsPerToken / config_.prefix_block_chars),
      queue_(static_cast<size_t>(config_.queue_max)),
      bookkeeping_(std::move(bookkeeping)) {
  weights_ = config_.scorers;
  if (config_.mode == "round-robin") mode_ = Mode::kRoundRobin;
  else if (config_.mode == "random") mode_ = Mode::kRandom;
  else if (config_.mode == "load") mode_ = Mode::kLoad, weights_ = {2, 2, 0, 0, 0, 0};
  else if (config_.mode == "prefix") mode_ = Mode::kPrefix, weights_ = {0, 0, 3, 0, 0, 0};
  for (size_t i = 0; i < members_.size(); ++i) {
    auto r = std::make_unique<ReplicaState>();
    r->name = members_[i]->config.name;
    r->endpoint = members_[i]->endpoint;
    r->endpoint.key += "#scrape";  // its own pooled connections
    r->index = i;
    replicas_.push_back(std::move(r));
  }
  if (!members_.empty()) adapter_ = members_[0]->config.model;
}

int Pool::IndexOf(const gateway::BackendState* b) const {
  for (size_t i = 0; i < members_.size(); ++i)
    if (members_[i] == b) return static_cast<int>(i);
  return -1;
}

Pool::Decision Pool::Decide(const gateway::PickContext& ctx, Clock::time_point now) {
  auto& s = LocalScratch();
  auto& all = s.candidates;
  all.clear();
  const bool need_lora = weights_.lora > 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    bool excluded = false;
    for (auto* e : ctx.exclude) excluded |= e == members_[i];
    if (excluded) continue;
    auto& r = *replicas_[i];
    Candidate c;
    c.replica = i;
    c.fresh = r.Fresh(now, config_.stale_after);
    c.down = r.Down() || members_[i]->breaker->state() == gateway::CircuitBreaker::State::kOpen;
    c.waiting = r.EstimatedWaiting(c.fresh);
    c.kv_usage = c.fresh ? r.kv_usage.load(std::memory_order_relaxed) : -1;
    c.in_flight = r.in_flight.load(std::memory_order_relaxed);
    if (need_lora) c.lora = r.lora.load();
    all.push_back(std::move(c));
  }
  Decision d;
  std::span<Candidate> c = FilterHealthy(all);
  if (c.empty()) return d;
  if (need_lora) c = FilterLoraAvailable(c, adapter_.empty() ? std::string_view(ctx.body.model) : adapter_);
  if (UsesQueue()) {
    c = FilterUnsaturated(c, config_.max_waiting, config_.max_kv_cache);
    if (c.empty()) {
      d.verdict = Verdict::kSaturated;
      return d;
    }
  }
  size_t prompt_blocks = 0;
  if (weights_.prefix > 0) {
    HashPromptBlocks(PromptRegion(ctx.body.body), config_.prefix_block_chars, kMaxPromptBlocks, &s.hashes);
    prompt_blocks = s.hashes.size();
    s.matched.assign(members_.size(), 0);
    uint64_t mask = 0;
    for (auto& x : c) mask |= PrefixIndex::Bit(x.replica);
    index_.Match(s.hashes, mask, s.matched);
    for (auto& x : c) x.prefix_blocks = s.matched[x.replica];
    ScorePrefix(c, prompt_blocks);
  }
  if (mode_ == Mode::kDefault || mode_ == Mode::kLoad) {
    if (weights_.queue > 0) ScoreQueue(c);
    if (weights_.kv_cache > 0) ScoreKvCache(c);
    if (weights_.in_flight > 0) ScoreInFlight(c);
    if (weights_.session > 0) {
      std::string user = ctx.body.user;
      auto keys = ReadRequestKeys(ctx.incoming, user, "", {});
      ScoreSession(c, keys.session.empty() ? 0 : HashString(keys.session) | 1);
    }
    if (weights_.lora > 0) ScoreLora(c, adapter_.empty() ? ctx.body.model : adapter_);
  }
  // Choose, then ask the winner's circuit breaker; a refusal removes it and ranks again.
  while (!c.empty()) {
    size_t best;
    if (mode_ == Mode::kRoundRobin) best = round_robin_.fetch_add(1, std::memory_order_relaxed) % c.size();
    else if (mode_ == Mode::kRandom) best = static_cast<size_t>(RandomUnit() * static_cast<double>(c.size())) % c.size();
    else best = Rank(c, weights_, RandomUnit());
    const auto* backend = members_[c[best].replica];
    if (backend->breaker->Allow(now)) {
      const Candidate& w = c[best];
      d.verdict = Verdict::kPicked;
      d.backend = backend;
      replicas_[w.replica]->picks.fetch_add(1, std::memory_order_relaxed);
      if (prompt_blocks > 0) {
        metrics_.prefix_blocks_total.fetch_add(prompt_blocks, std::memory_order_relaxed);
        metrics_.prefix_blocks_matched.fetch_add(w.prefix_blocks, std::memory_order_relaxed);
      }
      if (config_.debug_header) d.debug = DebugString(w, prompt_blocks);
      RememberPick(now, w.replica, w.total, w.prefix_blocks, prompt_blocks);
      if (prompt_blocks > 0) RecordPrefix(w.replica, s.hashes);
      return d;
    }
    std::swap(c[best], c[c.size() - 1]);
    c = c.subspan(0, c.size() - 1);
  }
  return d;
}

void Pool::RememberPick(Clock::time_point now, size_t replica, double score, size_t matched, size_t blocks) {
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  uint64_t share = blocks > 0 ? std::min<uint64_t>(1000, matched * 1000 / blocks) + 1 : 0;
  auto& slot = recent_[recent_next_.fetch_add(1, std::memory_order_relaxed) % kRecentPicks];
  slot.score.store(static_cast<float>(score), std::memory_order_relaxed);
  slot.packed.store((ms & ((1ull << 42) - 1)) << 22 | (replica & 0xfff) << 10 | (share & 0x3ff), std::memory_order_relaxed);
}

std::vector<Pool::RecentPick> Pool::RecentPicks() const {
  std::vector<RecentPick> out;
  uint64_t next = recent_next_.load(std::memory_order_relaxed);
  uint64_t first = next > kRecentPicks ? next - kRecentPicks : 0;
  for (uint64_t i = first; i < next; ++i) {
    uint64_t p = recent_[i % kRecentPicks].packed.load(std::memory_order_relaxed);
    if (p == 0) continue;
    RecentPick r;
    r.at = Clock::time_point(std::chrono::milliseconds(p >> 22));
    r.replica = (p >> 10) & 0xfff;
    uint64_t share = p & 0x3ff;
    r.prefix_share = share == 0 ? -1 : static_cast<double>(share - 1) / 1000.0;
    r.score = recent_[i % kRecentPicks].score.load(std::memory_order_relaxed);
    if (r.replica < replicas_.size()) out.push_back(r);
  }
  return out;
}

void Pool::RecordPrefix(size_t replica, const std::vector<uint64_t>& hashes) {
  if (!bookkeeping_) {
    index_.Record(replica, hashes);
    return;
  }
  // The index update (a few hundred LRU touches for a long prompt) runs on the scraper's thread;
  // the pool outlives it only through the weak reference.
  // Bounded: when the bookkeeping thread falls behind, updates are dropped (the index is an
  // estimate; a lost update costs accuracy, never correctness).
  if (pending_records_.fetch_add(1, std::memory_order_relaxed) >= kMaxPendingRecords) {
    pending_records_.fetch_sub(1, std::memory_order_relaxed);
    metrics_.records_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  net::post(*bookkeeping_, [weak = weak_from_this(), replica, h = hashes] {
    if (auto self = weak.lock()) {
      self->index_.Record(replica, h);
      self->pending_records_.fetch_sub(1, std::memory_order_relaxed);
    }
  });
}

bool Pool::HasCapacity(const gateway::PickContext& ctx, Clock::time_point now) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    const auto& r = *replicas_[i];
    if (r.Down()) continue;
    bool excluded = false;
    for (auto* e : ctx.exclude) excluded |= e == members_[i];
    if (excluded) continue;
    Candidate c;
    c.fresh = r.Fresh(now, config_.stale_after);
    c.waiting = r.EstimatedWaiting(c.fresh);
    c.kv_usage = r.kv_usage.load(std::memory_order_relaxed);
    if (!Saturated(c, config_.max_waiting, config_.max_kv_cache)) return true;
  }
  return false;
}

std::string Pool::DebugString(const Candidate& c, size_t prompt_blocks) const {
  std::string out = "replica=" + replicas_[c.replica]->name;
  char buf[64];
  if (mode_ == Mode::kRoundRobin || mode_ == Mode::kRandom) return out + "; mode=" + config_.mode;
  std::snprintf(buf, sizeof buf, "; score=%.3f", c.total);
  out += buf;
  const double w[kNumScores] = {weights_.queue, weights_.kv_cache, weights_.prefix,
                                weights_.session, weights_.lora, weights_.in_flight};
  for (int i = 0; i < kNumScores; ++i) {
    if (w[i] <= 0) continue;
    std::snprintf(buf, sizeof buf, "; %s=%.2f", ScoreName(i), c.scores[i]);
    out += buf;
  }
  if (prompt_blocks > 0) {
    std::snprintf(buf, sizeof buf, "; prefix_blocks=%u/%zu", c.prefix_blocks, prompt_blocks);
    out += buf;
  }
  return out;
}

net::awaitable<gateway::PickResult> Pool::Pick(const gateway::BackendGroup& group, const gateway::PickContext& ctx) {
  gateway::PickResult result;
  const auto start = Clock::now();
  bool waited = false, front = false;
  RequestKeys keys;
  while (true) {
    auto now = Clock::now();
    Decision d;
    // Requests already waiting go first: a newcomer joins the line instead of overtaking it.
    bool must_queue = UsesQueue() && !waited && queue_.size() > 0;
    if (!must_queue) {
      d = Decide(ctx, now);
      metrics_.decision.Observe(Seconds(Clock::now() - now));
    } else {
      d.verdict = Verdict::kSaturated;
      if (HasCapacity(ctx, now)) queue_.Wake(1);  // capacity freed since the last event: head first
    }
    if (d.verdict == Verdict::kPicked) {
      if (waited) metrics_.queue_wait.Observe(Seconds(Clock::now() - start));
      result.backend = d.backend;
      result.debug = std::move(d.debug);
      co_return result;
    }
    if (d.verdict == Verdict::kNone) co_return result;  // nothing can take it: the gateway falls back
    if (!waited) {
      std::string user = ctx.body.user;
      keys = ReadRequestKeys(ctx.incoming, user, config_.priority_header, config_.priorities);
      metrics_.queued_total.fetch_add(1, std::memory_order_relaxed);
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    auto left = config_.queue_timeout - elapsed;
    AdmissionQueue::Outcome outcome = AdmissionQueue::Outcome::kTimeout;
    if (left.count() > 0) {
      metrics_.queue_depth.fetch_add(1, std::memory_order_relaxed);
      outcome = co_await queue_.Wait(keys.tenant, keys.priority, left, front);
      metrics_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
    }
    waited = true;
    front = true;
    if (outcome == AdmissionQueue::Outcome::kWoken) continue;
    bool full = outcome == AdmissionQueue::Outcome::kFull;
    (full ? metrics_.rejected_full : metrics_.rejected_timeout).fetch_add(1, std::memory_order_relaxed);
    std::string message =
        full ? "every replica of model '" + model_ + "' is saturated and the scheduler's queue is full (" +
                   std::to_string(queue_.max()) + " requests waiting); retry later"
             : "every replica of model '" + model_ + "' stayed saturated for " +
                   std::to_string(config_.queue_timeout.count()) + " ms; retry later";
    result.error = api::ApiError{api::ErrorKind::kRateLimited, std::move(message), "",
                                 full ? "scheduler_queue_full" : "scheduler_queue_timeout"};
    co_return result;
  }
}

void Pool::OnStart(const gateway::BackendState& backend, const gateway::PickContext& ctx) {
  int i = IndexOf(&backend);
  if (i >= 0) replicas_[i]->in_flight.fetch_add(1, std::memory_order_relaxed);
}

void Pool::OnFinish(const gateway::BackendState& backend, const gateway::PickContext& ctx, int status) {
  int i = IndexOf(&backend);
  if (i < 0) return;
  auto& r = *replicas_[i];
  r.in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (status == 0 || status >= 500) {
    if (!r.request_failed.exchange(true, std::memory_order_relaxed))
      log::Debug("scheduler", "replica failed a request; out until its next good scrape",
                 {{"model", model_}, {"replica", r.name}, {"status", status}});
  }
  if (UsesQueue() && queue_.size() > 0) queue_.Wake(1);
}

void Pool::AfterScrape(ReplicaState& replica) {
  int64_t tokens = replica.capacity_tokens.load(std::memory_order_relaxed);
  if (tokens > 0)
    index_.SetCapacity(replica.index, static_cast<size_t>(tokens) * kCharsPerToken / config_.prefix_block_chars);
  if (!UsesQueue() || queue_.size() == 0 || replica.Down()) return;
  Candidate c;
  c.fresh = replica.Fresh(Clock::now(), config_.stale_after);
  c.waiting = replica.EstimatedWaiting(c.fresh);
  c.kv_usage = replica.kv_usage.load(std::memory_order_relaxed);
  if (!Saturated(c, config_.max_waiting, config_.max_kv_cache)) queue_.Wake(1);
}

}  // namespace ap::scheduler
