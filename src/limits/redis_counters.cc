// limits/redis_counters.cc — Counters in Redis, shared by every gateway replica.
//
// Admission: the requests one event loop admits in one turn go to Redis as one EVALSHA on that
// loop's pipelined connection (one round trip, one script call, however many requests). Settlements
// (token reconciliation, spend, lease release) are queued and sent by one thread every
// settle_interval as one script call, merged per counter: N requests cost one Redis command per
// interval, not N hot-key updates. When Redis does not answer within the timeout, admission
// follows the policy: fail open (the local fallback counters answer, per replica) or fail closed
// (refused as unavailable); Redis is tried again after a second.
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
#include "limits/counters.h"
#include "limits/internal/redis.h"
#include "limits/internal/scripts.h"

namespace ap::limits {
namespace {

using internal::RedisReply;
using Clock = std::chrono::steady_clock;
namespace net = boost::asio;

constexpr int64_t kLeaseTtlMs = 15 * 60 * 1000;


class RedisCounters : public Counters {
 public:
  RedisCounters(const RedisCountersOptions& o, internal::RedisEndpoint e, std::shared_ptr<LocalCounters> fallback,
                SoftBudgetAlert alert)
      : options_(o),
        pipeline_(e, std::max(o.timeout, std::chrono::milliseconds(200))),
        sync_(e, std::chrono::milliseconds(1000)),
        fallback_(std::move(fallback)),
        alert_(std::move(alert)),
        admit_sha_(internal::ScriptSha(internal::kAdmitScript)),
        settle_sha_(internal::ScriptSha(internal::kSettleScript)) {
    thread_ = std::thread([this] { SettleLoop(); });
  }

  ~RedisCounters() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  Result<void> LoadScripts() {
    for (const std::string* script : {&internal::kAdmitScript, &internal::kSettleScript}) {
      auto r = sync_.Command({"SCRIPT", "LOAD", *script});
      if (!r) return r.error();
      if (r->is_error()) return "redis: " + r->str;
    }
    return {};
  }

  // Admissions wait here until their event loop's batch answers: every Admit issued in one turn
  // of a loop goes to Redis as one script call.
  struct Waiting {
    const std::vector<Check>* checks;
    std::string_view lease;
    std::optional<Decision> decision;
    net::steady_timer* wake;
  };
  struct LoopBatch {
    std::vector<Waiting*> queue;
    bool flush_scheduled = false;
  };

  boost::asio::awaitable<Decision> Admit(const std::vector<Check>& checks, std::string_view lease) override {
    if (Clock::now() >= retry_at_.load()) {
      auto ex = co_await net::this_coro::executor;
      net::steady_timer wake(ex, std::chrono::steady_clock::time_point::max());
      Waiting me{&checks, lease, std::nullopt, &wake};
      LoopBatch& batch = *ThreadBatch();
      batch.queue.push_back(&me);
      if (!batch.flush_scheduled) {
        batch.flush_scheduled = true;
        net::co_spawn(ex, FlushAdmissions(&batch), net::detached);  // runs once this turn yields
      }
      if (!me.decision) co_await wake.async_wait(net::as_tuple(net::use_awaitable));
      if (me.decision && me.decision->outcome != Decision::Outcome::kUnavailable) co_return std::move(*me.decision);
    }
    if (!options_.fail_open) {
      Health().refused_unavailable++;
      Decision d;
      d.outcome = Decision::Outcome::kUnavailable;
      d.error = "the rate limiter's Redis is unreachable and the gateway is configured to fail closed";
      co_return d;
    }
    Health().fallback_admissions++;
    Decision d = fallback_->AdmitNow(checks, lease);
    d.degraded = true;
    co_return d;
  }

  // This thread's batch for this instance (event loops are threads; each has its own batch).
  LoopBatch* ThreadBatch() {
    thread_local std::unordered_map<const void*, std::unique_ptr<LoopBatch>> batches;
    auto& b = batches[this];
    if (!b) b = std::make_unique<LoopBatch>();
    return b.get();
  }

  net::awaitable<void> FlushAdmissions(LoopBatch* batch) {
    std::vector<Waiting*> waiting;
    waiting.swap(batch->queue);
    batch->flush_scheduled = false;
    size_t total_checks = 0;
    for (auto* w : waiting) total_checks += w->checks->size();
    internal::RespCommand cmd;
    cmd.Arg("EVALSHA").Arg(admit_sha_).Arg(static_cast<int64_t>(total_checks));
    for (auto* w : waiting)
      for (const auto& c : *w->checks) cmd.Arg(c.key);
    cmd.Arg(kLeaseTtlMs).Arg(static_cast<int64_t>(waiting.size()));
    for (auto* w : waiting) {
      cmd.Arg(static_cast<int64_t>(w->checks->size())).Arg(w->lease.empty() ? std::string_view("-") : w->lease);
      for (const auto& c : *w->checks) {
        char kind = static_cast<char>(c.kind);
        cmd.Arg(std::string_view(&kind, 1)).Arg(c.limit).Arg(c.amount).Arg(std::max<int64_t>(1, c.ttl_s));
      }
    }
    std::string command = cmd.Take();
    auto r = co_await pipeline_.Command(command, options_.timeout);
    if (r && r->is_error() && r->str.starts_with("NOSCRIPT")) {  // Redis restarted: load again
      std::string eval = internal::RespCommand::WithHead(command, "EVAL", internal::kAdmitScript);
      r = co_await pipeline_.Command(eval, options_.timeout);
    }
    const bool ok = r && r->type == RedisReply::Type::kArray && r->elements.size() == total_checks + waiting.size();
    if (ok) MarkUp();
    else MarkDown(r ? (r->is_error() ? r->str : std::string("unexpected reply")) : r.error());
    size_t at = 0;
    for (auto* w : waiting) {
      Decision d;
      if (ok) {
        int64_t refused = r->elements[at++].integer;
        d.refused = static_cast<int>(refused) - 1;
        d.outcome = refused == 0 ? Decision::Outcome::kAdmitted : Decision::Outcome::kRefused;
        for (size_t i = 0; i < w->checks->size(); ++i) d.levels.push_back(std::strtod(r->elements[at++].str.c_str(), nullptr));
      }  // else kUnavailable: the waiter applies the failure policy
      w->decision = std::move(d);
      w->wake->cancel();
    }
  }

  void Settle(std::vector<Settlement> settlements, std::shared_ptr<const void> owner) override {
    std::lock_guard lock(mu_);
    pending_.insert(pending_.end(), settlements.begin(), settlements.end());
    owners_.push_back(std::move(owner));  // the views stay valid until the batch is sent
  }

  double Read(CounterKind kind, const std::string& key, double limit) override {
    if (kind == CounterKind::kParallel) {
      auto r = sync_.Command({"ZCARD", key});
      return r && r->type == RedisReply::Type::kInteger ? static_cast<double>(r->integer) : 0;
    }
    // Every counter of a scope is a field of the scope's hash (internal/scripts.h).
    auto colon = key.rfind(':');
    std::string hash = key.substr(0, colon), field = key.substr(colon + 1);
    if (kind == CounterKind::kSpend) field[0] = 'd';  // what was actually spent
    auto r = sync_.Command({"HGET", hash, field});
    if (!r || r->type != RedisReply::Type::kString) return kind == CounterKind::kSpend ? 0 : limit;
    return std::strtod(r->str.c_str(), nullptr);  // buckets: "level:at_ms", the level as of then
  }

  void Flush() override { SendPending(); }

 private:
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

  void SettleLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, options_.settle_interval);
      lock.unlock();
      SendPending();
      lock.lock();
    }
    lock.unlock();
    SendPending();
  }

  // Merges pending settlements per counter (parallel leases stay one each) into one script call.
  void SendPending() {
    std::vector<Settlement> batch;
    std::vector<std::shared_ptr<const void>> owners;  // keep the views alive until sent
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
      owners.swap(owners_);
    }
    if (batch.empty()) return;
    std::vector<Settlement> merged;
    merged.reserve(batch.size());
    std::unordered_map<std::string_view, size_t> index;
    for (const auto& s : batch) {
      if (s.kind == CounterKind::kParallel) {
        merged.push_back(s);
        continue;
      }
      auto [it, inserted] = index.try_emplace(s.key, merged.size());
      if (inserted) {
        merged.push_back(s);
      } else {
        Settlement& m = merged[it->second];
        m.delta += s.delta;
        m.actual += s.actual;
        m.ttl_s = std::max(m.ttl_s, s.ttl_s);
      }
    }
    constexpr size_t kPerCall = 500;
    for (size_t from = 0; from < merged.size(); from += kPerCall) {
      size_t to = std::min(merged.size(), from + kPerCall);
      internal::RespCommand cmd;
      cmd.Arg("EVALSHA").Arg(settle_sha_).Arg(static_cast<int64_t>(to - from));
      for (size_t i = from; i < to; ++i) cmd.Arg(merged[i].key);
      for (size_t i = from; i < to; ++i) {
        const auto& s = merged[i];
        char kind = static_cast<char>(s.kind);
        cmd.Arg(std::string_view(&kind, 1)).Arg(s.limit).Arg(s.delta);
        cmd.Arg(s.lease.empty() ? std::string_view("-") : s.lease).Arg(s.soft_limit).Arg(s.actual);
        cmd.Arg(std::max<int64_t>(s.ttl_s, 86400));
      }
      std::string command = cmd.Take();
      auto r = sync_.CommandResp(command);
      if (r && r->is_error() && r->str.starts_with("NOSCRIPT")) {
        r = sync_.CommandResp(internal::RespCommand::WithHead(command, "EVAL", internal::kSettleScript));
      }
      if (!r || r->is_error()) {
        // Redis is down: apply to the fallback so local limits stay consistent, and say so once.
        if (fallback_) fallback_->Settle(std::vector<Settlement>(merged.begin() + from, merged.begin() + to), nullptr);
        MarkDown(r ? r->str : r.error());
        continue;
      }
      if (alert_)
        for (const auto& e : r->elements) {
          size_t i = from + static_cast<size_t>(e.integer) - 1;
          if (i < to)
            alert_(std::string(merged[i].scope), Read(CounterKind::kSpend, std::string(merged[i].key), 0),
                   merged[i].soft_limit);
        }
    }
  }

  RedisCountersOptions options_;
  internal::RedisPipeline pipeline_;
  internal::RedisSync sync_;
  std::shared_ptr<LocalCounters> fallback_;
  SoftBudgetAlert alert_;
  std::string admit_sha_, settle_sha_;
  std::atomic<Clock::time_point> retry_at_{Clock::time_point()};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Settlement> pending_;
  std::vector<std::shared_ptr<const void>> owners_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Counters>> OpenRedisCounters(const RedisCountersOptions& options,
                                                    std::shared_ptr<LocalCounters> fallback, SoftBudgetAlert alert) {
  auto e = internal::ParseRedisUrl(options.url);
  if (!e) return e.error();
  auto counters = std::make_unique<RedisCounters>(options, *e, std::move(fallback), std::move(alert));
  if (auto r = counters->LoadScripts(); !r) return r.error();
  return std::unique_ptr<Counters>(std::move(counters));
}

}  // namespace ap::limits
