// limits/redis_counters.cc — Counters in Redis, shared by every gateway replica, spent through
// this replica's slices (limits/slices.h).
//
// Admission takes from the slices this replica holds; what they lack is asked of Redis, and the
// requests one event loop sends in one turn go as one EVALSHA of the grant script on that loop's
// pipelined connection. Slices running low are fetched ahead the same way, without a waiter.
// Settlement returns tokens and slots to the slices at once; one thread gives back what the
// slices should not keep, sends the spend of settled requests (merged per counter) and beats,
// every settle_interval, as one call of the tick script. When Redis does not answer within the
// timeout, admission uses what the slices hold and then follows the policy: fail open (the
// local fallback counters answer, per replica) or fail closed (refused as unavailable); Redis is
// tried again after a second.
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.h"
#include "base/random.h"
#include "base/thread.h"
#include "limits/counters.h"
#include "limits/internal/redis.h"
#include "limits/internal/scripts.h"
#include "limits/slices.h"

namespace ap::limits {
namespace {

using internal::RedisReply;
using Clock = std::chrono::steady_clock;
namespace net = boost::asio;

constexpr int kAttempts = 8;                 // grants lost to other loops' takes before giving up
constexpr auto kBeatInterval = std::chrono::seconds(1);  // the script counts a replica alive 10 s
constexpr size_t kItemsPerCall = 500;

// Spend of settled requests not yet in Redis, per budget counter.
struct PendingSpend {
  double limit = 0;
  double actual = 0;
  double soft_limit = -1;
  std::string scope;
  int64_t ttl_s = 0;
};

class RedisCounters : public Counters {
 public:
  RedisCounters(const RedisCountersOptions& o, internal::RedisEndpoint e, std::shared_ptr<LocalCounters> fallback,
                SoftBudgetAlert alert)
      : options_(o),
        pipeline_(e, std::max(o.timeout, std::chrono::milliseconds(200))),
        sync_(e, std::chrono::milliseconds(1000)),
        fallback_(std::move(fallback)),
        alert_(std::move(alert)),
        slices_(o.slice_fraction),
        replica_(RandomHexId(8)),
        grant_sha_(internal::ScriptSha(internal::kGrantScript)),
        tick_sha_(internal::ScriptSha(internal::kTickScript)) {}

  ~RedisCounters() override {
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      cv_.notify_all();
      thread_.join();
    }
    if (registered_) Tick(/*all=*/true, /*leave=*/true);  // every share back to Redis; leave
  }

  // Loads the scripts and registers this replica (its first beat) before any grant.
  Result<void> Start() {
    for (const std::string* script : {&internal::kGrantScript, &internal::kTickScript}) {
      auto r = sync_.Command({"SCRIPT", "LOAD", *script});
      if (!r) return r.error();
      if (r->is_error()) return "redis: " + r->str;
    }
    if (!Tick(false, false)) return std::string("redis: the first heartbeat failed");
    thread_ = std::thread([this] {
      base::NameThisThread("ap-lim-redis");
      TickLoop();
    });
    return {};
  }

  boost::asio::awaitable<Decision> Admit(Checks checks) override {
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      SliceTable::Take take = slices_.TakeFrom(checks);
      if (take.outcome == SliceTable::Take::Outcome::kTaken) {
        if (!take.grants.empty()) {
          auto ex = co_await net::this_coro::executor;
          FetchAhead(std::move(take.grants), ex);
        }
        co_return Decided(Decision::Outcome::kAdmitted, -1, std::move(take.levels));
      }
      if (take.outcome == SliceTable::Take::Outcome::kRefused)
        co_return Decided(Decision::Outcome::kRefused, take.refused, std::move(take.levels));
      if (Clock::now() < retry_at_.load()) break;                // Redis is down: the policy answers
      if (!co_await AskRedis(std::move(take.grants))) break;
    }
    co_return Unreachable(checks);  // Redis down, or (rarely) grants taken by other loops every time
  }

  void Settle(std::vector<Settlement> settlements, std::shared_ptr<const void>) override {
    for (const Settlement& s : settlements) {
      slices_.Release(s);
      if (s.kind == CounterKind::kSpend && s.actual != 0)
        QueueSpend(s.key, s.limit, s.actual, s.soft_limit, s.scope, s.ttl_s);
    }
  }

  // As this replica sees it: buckets and slots count what this replica holds unused as left.
  double Read(CounterKind kind, const std::string& key, double limit) override {
    auto colon = key.rfind(':');
    std::string hash = key.substr(0, colon), field = key.substr(colon + 1);
    if (kind == CounterKind::kSpend) field[0] = 'd';  // what was actually spent
    auto r = sync_.Command({"HGET", hash, field});
    const bool found = r && r->type == RedisReply::Type::kString;
    switch (kind) {
      case CounterKind::kSpend: return found ? std::strtod(r->str.c_str(), nullptr) : 0;
      case CounterKind::kParallel:  // slots held by every replica, less the ones this one holds unused
        return (found ? std::strtod(r->str.c_str(), nullptr) : 0) - slices_.Held(key);
      default:  // "level:at_ms", the level as of then
        return (found ? std::strtod(r->str.c_str(), nullptr) : limit) + slices_.Held(key);
    }
  }

  void Flush() override { Tick(/*all=*/true, /*leave=*/false); }

 private:
  static Decision Decided(Decision::Outcome outcome, int refused, Levels levels) {
    Decision d;
    d.outcome = outcome;
    d.refused = refused;
    d.levels = std::move(levels);
    return d;
  }

  Decision Unreachable(Checks checks) {
    if (!options_.fail_open) {
      Health().refused_unavailable++;
      Decision d;
      d.outcome = Decision::Outcome::kUnavailable;
      d.error = "the rate limiter's Redis is unreachable and the gateway is configured to fail closed";
      return d;
    }
    Health().fallback_admissions++;
    Decision d = fallback_->AdmitNow(checks);
    d.degraded = true;
    return d;
  }

  // Grant calls wait here until their event loop's batch is answered: every grant asked in one
  // turn of a loop, fetches ahead included, goes to Redis as one script call.
  struct Waiting {
    std::vector<GrantRequest> grants;
    bool answered = false;
    net::steady_timer* wake;
  };
  struct LoopBatch {
    std::vector<Waiting*> waiting;
    std::vector<GrantRequest> ahead;  // fetches ahead: nobody waits for them
    bool flush_scheduled = false;
  };

  // This thread's batch for this instance (event loops are threads; each has its own batch).
  LoopBatch* ThreadBatch() {
    thread_local std::unordered_map<const void*, std::unique_ptr<LoopBatch>> batches;
    auto& b = batches[this];
    if (!b) b = std::make_unique<LoopBatch>();
    return b.get();
  }

  template <typename Executor>
  void ScheduleFlush(LoopBatch* batch, const Executor& ex) {
    if (batch->flush_scheduled) return;
    batch->flush_scheduled = true;
    net::co_spawn(ex, FlushGrants(batch), net::detached);  // runs once this turn yields
  }

  template <typename Executor>
  void FetchAhead(std::vector<GrantRequest> grants, const Executor& ex) {
    if (Clock::now() < retry_at_.load()) {
      for (const auto& g : grants) slices_.Failed(g);
      return;
    }
    LoopBatch* batch = ThreadBatch();
    for (auto& g : grants) batch->ahead.push_back(std::move(g));
    ScheduleFlush(batch, ex);
  }

  // Whether Redis answered; its grants (or refusals) are in the slices either way.
  net::awaitable<bool> AskRedis(std::vector<GrantRequest> grants) {
    auto ex = co_await net::this_coro::executor;
    net::steady_timer wake(ex, std::chrono::steady_clock::time_point::max());
    Waiting me{std::move(grants), false, &wake};
    LoopBatch* batch = ThreadBatch();
    batch->waiting.push_back(&me);
    ScheduleFlush(batch, ex);
    co_await wake.async_wait(net::as_tuple(net::use_awaitable));
    co_return me.answered;
  }

  net::awaitable<void> FlushGrants(LoopBatch* batch) {
    std::vector<Waiting*> waiting;
    std::vector<GrantRequest> ahead;
    waiting.swap(batch->waiting);
    ahead.swap(batch->ahead);
    batch->flush_scheduled = false;
    std::vector<const GrantRequest*> items;
    for (auto* w : waiting)
      for (const auto& g : w->grants) items.push_back(&g);
    for (const auto& g : ahead) items.push_back(&g);

    internal::RespCommand cmd;
    cmd.Arg("EVALSHA").Arg(grant_sha_).Arg(static_cast<int64_t>(items.size()));
    for (const auto* g : items) cmd.Arg(g->key);
    cmd.Arg(replica_);
    for (const auto* g : items) {
      char kind = static_cast<char>(g->kind);
      cmd.Arg(std::string_view(&kind, 1)).Arg(g->limit).Arg(g->need).Arg(g->want).Arg(std::max<int64_t>(1, g->ttl_s));
    }
    std::string command = cmd.Take();
    auto r = co_await pipeline_.Command(command, options_.timeout);
    if (r && r->is_error() && r->str.starts_with("NOSCRIPT")) {  // Redis restarted: load again
      std::string eval = internal::RespCommand::WithHead(command, "EVAL", internal::kGrantScript);
      r = co_await pipeline_.Command(eval, options_.timeout);
    }
    const bool ok = r && r->type == RedisReply::Type::kArray && r->elements.size() == 2 * items.size();
    if (ok) MarkUp();
    else MarkDown(r ? (r->is_error() ? r->str : std::string("unexpected reply")) : r.error());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!ok) {
        slices_.Failed(*items[i]);
        continue;
      }
      slices_.Answer(*items[i], std::strtod(r->elements[2 * i].str.c_str(), nullptr),
                     std::strtod(r->elements[2 * i + 1].str.c_str(), nullptr));
    }
    for (auto* w : waiting) {
      w->answered = ok;
      w->wake->cancel();
    }
  }

  void MarkUp() {
    if (Health().redis_up.exchange(1) == 0) log::Info("limits", "redis reachable again; limits are global");
  }
  void MarkDown(const std::string& error) {
    retry_at_.store(Clock::now() + std::chrono::seconds(1));
    if (Health().redis_up.exchange(0) == 1)
      log::Error("limits", options_.fail_open ? "redis unreachable: failing open with local limits"
                                              : "redis unreachable: failing closed (requests refused)",
                 {{"error", error}});
  }

  void TickLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, options_.settle_interval);
      if (stopping_) break;
      lock.unlock();
      Tick(false, false);
      lock.lock();
    }
  }

  // One tick: give back what the slices should not keep (`all`: everything), send the spend of
  // settled requests, beat when due (`leave`: give back every share and leave). One script call
  // per kItemsPerCall counters. Whatever does not reach Redis is kept for the next tick. Returns
  // whether Redis answered.
  bool Tick(bool all, bool leave) {
    std::lock_guard serial(tick_mu_);  // the tick thread, Flush and the destructor
    std::vector<Item> items;
    std::unordered_map<std::string_view, size_t> index;
    SpendMap spend;
    {
      std::lock_guard lock(mu_);
      spend.swap(spend_);
    }
    std::vector<GiveBack> gives = slices_.TakeGiveBacks(all);
    items.reserve(gives.size() + spend.size());
    for (auto& g : gives) {
      items.push_back({g.key, g.kind, g.limit, g.amount, PendingSpend{g.limit, 0, -1, "", g.ttl_s}});
    }
    for (size_t i = 0; i < items.size(); ++i) index.emplace(items[i].key, i);
    for (auto& [key, p] : spend) {
      auto it = index.find(key);
      if (it == index.end()) {
        items.push_back({key, CounterKind::kSpend, p.limit, 0, p});
        continue;
      }
      Item& item = items[it->second];
      int64_t ttl = std::max(item.spend.ttl_s, p.ttl_s);
      item.spend = p;
      item.spend.ttl_s = ttl;
    }
    const auto now = Clock::now();
    const int beat = leave ? 2 : now - last_beat_ >= kBeatInterval ? 1 : 0;
    if (items.empty() && beat == 0) return true;

    bool reached = true;
    for (size_t from = 0; from < items.size() || from == 0; from += kItemsPerCall) {
      const size_t to = std::min(items.size(), from + kItemsPerCall);
      internal::RespCommand cmd;
      cmd.Arg("EVALSHA").Arg(tick_sha_).Arg(static_cast<int64_t>(to - from));
      for (size_t i = from; i < to; ++i) cmd.Arg(items[i].key);
      cmd.Arg(replica_).Arg(static_cast<int64_t>(from == 0 ? beat : 0));
      for (size_t i = from; i < to; ++i) {
        const Item& it = items[i];
        char kind = static_cast<char>(it.kind);
        cmd.Arg(std::string_view(&kind, 1)).Arg(it.limit).Arg(it.give).Arg(it.spend.actual).Arg(it.spend.soft_limit);
        cmd.Arg(std::max<int64_t>(it.spend.ttl_s, 86400));
      }
      std::string command = cmd.Take();
      auto r = sync_.CommandResp(command);
      if (r && r->is_error() && r->str.starts_with("NOSCRIPT"))
        r = sync_.CommandResp(internal::RespCommand::WithHead(command, "EVAL", internal::kTickScript));
      if (!r || r->type != RedisReply::Type::kArray || r->elements.empty()) {
        reached = false;
        MarkDown(r ? r->str : r.error());
        for (size_t i = from; i < to; ++i) Keep(items[i]);
        if (to == items.size()) break;
        continue;
      }
      MarkUp();
      if (from == 0 && beat == 1) {
        last_beat_ = now;
        if (r->elements[0].integer == 1 && registered_) {
          log::Warn("limits", "Redis no longer knew this replica (it missed heartbeats, or Redis restarted): "
                              "the slots and budget it held are dropped");
          slices_.DropShares();
        }
        registered_ = true;
      }
      if (alert_)
        for (size_t e = 1; e < r->elements.size(); ++e) {
          const Item& it = items[from + static_cast<size_t>(r->elements[e].integer) - 1];
          alert_(it.spend.scope, Read(CounterKind::kSpend, it.key, 0), it.spend.soft_limit);
        }
      if (to == items.size()) break;
    }
    return reached;
  }

  // What one tick sends of one counter.
  struct Item {
    std::string key;
    CounterKind kind;
    double limit = 0, give = 0;
    PendingSpend spend;
  };
  using SpendMap = std::unordered_map<std::string, PendingSpend, CounterKeyHash, std::equal_to<>>;

  // An item whose tick failed: its give-back is held again, its spend sent with the next tick.
  void Keep(const Item& item) {
    if (item.give != 0) slices_.Restore({item.key, item.kind, item.limit, item.give, item.spend.ttl_s});
    const PendingSpend& p = item.spend;
    if (p.actual != 0) QueueSpend(item.key, p.limit, p.actual, p.soft_limit, p.scope, p.ttl_s);
  }

  // Adds settled spend to what the next tick sends, merged per counter.
  void QueueSpend(std::string_view key, double limit, double actual, double soft_limit, std::string_view scope,
                  int64_t ttl_s) {
    std::lock_guard lock(mu_);
    auto it = spend_.find(key);
    if (it == spend_.end()) it = spend_.emplace(std::string(key), PendingSpend{}).first;
    PendingSpend& p = it->second;
    p.limit = limit;
    p.actual += actual;
    p.soft_limit = soft_limit;
    if (p.scope.empty()) p.scope = scope;
    p.ttl_s = std::max(p.ttl_s, ttl_s);
  }

  RedisCountersOptions options_;
  internal::RedisPipeline pipeline_;
  internal::RedisSync sync_;
  std::shared_ptr<LocalCounters> fallback_;
  SoftBudgetAlert alert_;
  SliceTable slices_;
  const std::string replica_;
  std::string grant_sha_, tick_sha_;
  std::atomic<Clock::time_point> retry_at_{Clock::time_point()};
  std::mutex mu_;  // spend_, stopping_
  std::condition_variable cv_;
  SpendMap spend_;
  bool stopping_ = false;
  std::mutex tick_mu_;
  Clock::time_point last_beat_{};
  bool registered_ = false;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Counters>> OpenRedisCounters(const RedisCountersOptions& options,
                                                    std::shared_ptr<LocalCounters> fallback, SoftBudgetAlert alert) {
  auto e = internal::ParseRedisUrl(options.url);
  if (!e) return e.error();
  auto counters = std::make_unique<RedisCounters>(options, *e, std::move(fallback), std::move(alert));
  if (auto r = counters->Start(); !r) return r.error();
  return std::unique_ptr<Counters>(std::move(counters));
}

}  // namespace ap::limits
