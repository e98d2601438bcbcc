// sim/engine.cc — the scheduler loop of one simulated engine (see engine.h).
#include "sim/engine.h"

#include <algorithm>
#include <cassert>

#include "sim/tokenizer.h"

namespace ap::sim {

struct Engine::Seq {
  uint64_t id;
  EngineRequest req;
  double arrival = 0;
  double last_token = 0;
  std::vector<BlockId> table;
  std::vector<uint64_t> hashes;  // chained hashes of the full blocks of known tokens
  int64_t num_computed = 0;      // tokens whose KV is in the cache
  int64_t generated = 0;
  int64_t committed = 0;  // blocks registered in the prefix index
  int64_t scheduled = 0;  // tokens in the current step
  int64_t cached_tokens = -1;
  bool running = false;
  bool aborted = false;
  bool finished = false;

  int64_t known() const { return static_cast<int64_t>(req.prompt.size()) + generated; }
  uint32_t TokenAt(int64_t i) const {
    int64_t p = static_cast<int64_t>(req.prompt.size());
    return i < p ? req.prompt[i] : req.output[i - p];
  }
};

Engine::Engine(EngineConfig config)
    : config_(std::move(config)), kv_(config_.num_gpu_blocks, config_.block_size) {}

Engine::~Engine() = default;

uint64_t Engine::Add(EngineRequest request, double now) {
  auto s = std::make_unique<Seq>();
  s->id = next_id_++;
  s->req = std::move(request);
  if (s->req.output.empty()) s->req.output.push_back(0);
  s->arrival = now;
  Seq* raw = s.get();
  seqs_.emplace(raw->id, std::move(s));
  waiting_.push_back(raw);
  return raw->id;
}

bool Engine::Abort(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || it->second->finished || it->second->aborted) return false;
  Seq& s = *it->second;
  s.aborted = true;
  ++stats_.finished_abort;
  if (in_step_ && s.scheduled > 0) return true;  // EndStep cleans it up
  if (s.running) {
    running_.erase(std::find(running_.begin(), running_.end(), &s));
  } else {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &s));
  }
  kv_.Release(&s.table);
  seqs_.erase(it);
  return true;
}

void Engine::EnsureHashes(Seq& s, int64_t tokens) {
  const int bs = config_.block_size;
  std::vector<uint32_t> block(bs);
  while (static_cast<int64_t>(s.hashes.size()) < tokens / bs) {
    int64_t b = static_cast<int64_t>(s.hashes.size());
    for (int i = 0; i < bs; ++i) block[i] = s.TokenAt(b * bs + i);
    uint64_t parent = b == 0 ? Mix(0, HashBytes(s.req.lora)) : s.hashes.back();
    s.hashes.push_back(BlockHash(parent, block));
  }
}

// Gives `s` the blocks for its next chunk within the budget; may preempt later running requests.
bool Engine::Schedule(Seq& s, int64_t* budget, bool allow_preempt) {
  int64_t n = std::min(s.known() - s.num_computed, *budget);
  if (n <= 0) return false;
  const int bs = config_.block_size;
  int64_t need = (s.num_computed + n + bs - 1) / bs - static_cast<int64_t>(s.table.size());
  while (!kv_.Allocate(static_cast<int>(need), &s.table)) {
    if (!allow_preempt || running_.empty()) return false;
    Seq* victim = running_.back();
    Preempt(*victim);
    if (victim == &s) return false;
  }
  s.scheduled = n;
  *budget -= n;
  step_.push_back(&s);
  return true;
}

void Engine::Preempt(Seq& s) {
  running_.pop_back();
  if (s.scheduled > 0) {  // already in this step's batch: take it out again
    step_.erase(std::find(step_.begin(), step_.end(), &s));
    s.scheduled = 0;
  }
  kv_.Release(&s.table);
  s.num_computed = 0;
  s.committed = 0;
  s.running = false;
  waiting_.push_front(&s);
  ++stats_.preemptions;
}

bool Engine::Admit(Seq& s, int64_t* budget) {
  int64_t known = s.known();
  EnsureHashes(s, known);
  // At least one token must be computed to sample from, so the last block never fully hits.
  int64_t max_hit = (known - 1) / config_.block_size;
  std::span<const uint64_t> lookup(s.hashes.data(),
                                   static_cast<size_t>(std::min<int64_t>(max_hit, s.hashes.size())));
  int hits = kv_.AcquireCached(lookup, &s.table);
  s.num_computed = static_cast<int64_t>(hits) * config_.block_size;
  s.committed = hits;
  if (!Schedule(s, budget, /*allow_preempt=*/false)) {
    kv_.Release(&s.table);
    s.num_computed = 0;
    s.committed = 0;
    return false;
  }
  s.cached_tokens = s.num_computed;
  stats_.prefix_queries += static_cast<uint64_t>(known);
  stats_.prefix_hits += static_cast<uint64_t>(s.num_computed);
  s.running = true;
  running_.push_back(&s);
  return true;
}

std::optional<double> Engine::BeginStep(double now) {
  assert(!in_step_);
  step_.clear();
  int64_t budget = config_.max_num_batched_tokens;
  // Running requests first, oldest first; a later one may be preempted to make room.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Seq* s = running_[i];
    if (!Schedule(*s, &budget, /*allow_preempt=*/true) && !s->running) break;
  }
  // Then waiting requests, FCFS, skipping those whose adapter would exceed max_loras.
  for (size_t i = 0; i < waiting_.size() && budget > 0 &&
                     static_cast<int>(running_.size()) < config_.max_num_seqs;) {
    Seq* s = waiting_[i];
    if (!s->req.lora.empty()) {
      std::vector<std::string_view> active;
      for (Seq* r : running_)
        if (!r->req.lora.empty() &&
            std::find(active.begin(), active.end(), r->req.lora) == active.end())
          active.push_back(r->req.lora);
      if (std::find(active.begin(), active.end(), s->req.lora) == active.end() &&
          static_cast<int>(active.size()) >= config_.max_loras) {
        ++i;
        continue;
      }
    }
    if (!Admit(*s, &budget)) break;  // the KV cache is full: the queue waits
    waiting_.erase(waiting_.begin() + static_cast<ptrdiff_t>(i));
  }
  if (step_.empty()) return std::nullopt;

  StepLoad load;
  double ctx_weighted = 0;
  for (Seq* s : step_) {
    bool decode = s->scheduled == 1 && s->num_computed >= static_cast<int64_t>(s->req.prompt.size());
    if (decode) {
      ++load.decode_seqs;
      load.kv_tokens_read += s->num_computed;
    } else {
      load.prefill_tokens += s->scheduled;
      ctx_weighted += static_cast<double>(s->scheduled) * (s->num_computed + s->scheduled / 2.0);
    }
  }
  if (load.prefill_tokens > 0) load.prefill_context = ctx_weighted / load.prefill_tokens;
  in_step_ = true;
  step_started_ = now;
  return StepSeconds(config_, load);
}

void Engine::Finish(Seq& s, double now) {
  s.finished = true;
  stats_.e2e.Observe(now - s.arrival);
  if (s.req.hits_max_tokens) ++stats_.finished_length; else ++stats_.finished_stop;
  kv_.Release(&s.table);
}

void Engine::EndStep(double now, std::vector<TokenEvent>* events) {
  assert(in_step_);
  in_step_ = false;
  stats_.busy_seconds += now - step_started_;
  const int bs = config_.block_size;
  bool any_done = false;
  for (Seq* s : step_) {
    int64_t n = s->scheduled;
    s->scheduled = 0;
    if (s->aborted) {
      if (s->running) running_.erase(std::find(running_.begin(), running_.end(), s));
      kv_.Release(&s->table);
      seqs_.erase(s->id);
      continue;
    }
    s->num_computed += n;
    EnsureHashes(*s, s->num_computed);
    for (; s->committed < s->num_computed / bs; ++s->committed)
      kv_.Commit(s->table[s->committed], s->hashes[s->committed]);
    if (s->num_computed < s->known()) continue;  // a prefill chunk: no token yet
    ++s->generated;
    ++stats_.generation_tokens;
    if (s->generated == 1) {
      stats_.ttft.Observe(now - s->arrival);
      stats_.prompt_tokens += s->req.prompt.size();
    } else {
      stats_.itl.Observe(now - s->last_token);
    }
    s->last_token = now;
    bool done = s->generated >= static_cast<int64_t>(s->req.output.size());
    if (done) {
      Finish(*s, now);
      any_done = true;
    }
    events->push_back({s->id, 1, done, s->cached_tokens});
  }
  step_.clear();
  if (any_done) {
    std::erase_if(running_, [](Seq* s) { return s->finished; });
    for (const auto& e : *events)
      if (e.finished) seqs_.erase(e.id);
  }
}

int64_t Engine::CachedTokens(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? -1 : it->second->cached_tokens;
}

std::string Engine::RunningLoras() const {
  std::vector<std::string_view> names;
  for (Seq* s : running_)
    if (!s->req.lora.empty() && std::find(names.begin(), names.end(), s->req.lora) == names.end())
      names.push_back(s->req.lora);
  std::string out;
  for (auto n : names) out.append(out.empty() ? "" : ",").append(n);
  return out;
}

std::string Engine::WaitingLoras() const {
  std::vector<std::string_view> names;
  for (Seq* s : waiting_)
    if (!s->req.lora.empty() && std::find(names.begin(), names.end(), s->req.lora) == names.end())
      names.push_back(s->req.lora);
  std::string out;
  for (auto n : names) out.append(out.empty() ? "" : ",").append(n);
  return out;
}

}  // namespace ap::sim
