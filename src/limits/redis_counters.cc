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

std::string Num(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

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
    for (const char* script : {internal::kAdmitScript, internal::kSettleScript}) {
      auto r = sync_.Command({"SCRIPT", "LOAD", script});
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

  void Settle(std::vector<Settlement> settlements) override {
    std::lock_guard lock(mu_);
    for (const auto& s : settlements)
      pending_.push_back({s.kind, std::string(s.key), s.limit, s.delta, std::string(s.lease), s.soft_limit,
                          std::string(s.scope), s.actual, s.ttl_s});
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

  // A settlement that owns its strings, queued until the next batch.
  struct Pending {
    CounterKind kind;
    std::string key;
    double limit, delta;
    std::string lease;
    double soft_limit;
    std::string scope;
    double actual;
    int64_t ttl_s;
    Settlement View() const { return {kind, key, limit, delta, lease, soft_limit, scope, actual, ttl_s}; }
  };

  // Merges pending settlements per counter (and leases per counter) into one script call.
  void SendPending() {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
    }
    if (batch.empty()) return;
    std::vector<Pending> merged;
    std::unordered_map<std::string, size_t> index;
    for (auto& s : batch) {
      if (s.kind == CounterKind::kParallel) {
        merged.push_back(std::move(s));
        continue;
      }
      auto [it, inserted] = index.try_emplace(s.key, merged.size());
      if (inserted) merged.push_back(std::move(s));
      else {
        merged[it->second].delta += s.delta;
        merged[it->second].actual += s.actual;
        merged[it->second].ttl_s = std::max(merged[it->second].ttl_s, s.ttl_s);
      }
    }
    constexpr size_t kPerCall = 500;
    for (size_t from = 0; from < merged.size(); from += kPerCall) {
      size_t to = std::min(merged.size(), from + kPerCall);
      std::vector<std::string> args{"EVALSHA", settle_sha_, std::to_string(to - from)};
      for (size_t i = from; i < to; ++i) args.push_back(merged[i].key);
      for (size_t i = from; i < to; ++i) {
        const auto& s = merged[i];
        args.push_back(std::string(1, static_cast<char>(s.kind)));
        args.push_back(Num(s.limit));
        args.push_back(Num(s.delta));
        args.push_back(s.lease.empty() ? "-" : s.lease);
        args.push_back(Num(s.soft_limit));
        args.push_back(Num(s.actual));
        args.push_back(std::to_string(std::max<int64_t>(s.ttl_s, 86400)));
      }
      auto r = sync_.Command(args);
      if (r && r->is_error() && r->str.starts_with("NOSCRIPT")) {
        args[0] = "EVAL";
        args[1] = internal::kSettleScript;
        r = sync_.Command(args);
      }
      if (!r || r->is_error()) {
        // Redis is down: apply to the fallback so local limits stay consistent, and say so once.
        if (fallback_) {
          std::vector<Settlement> views;
          for (size_t i = from; i < to; ++i) views.push_back(merged[i].View());
          fallback_->Settle(std::move(views));
        }
        MarkDown(r ? r->str : r.error());
        continue;
      }
      if (alert_)
        for (const auto& e : r->elements) {
          size_t i = from + static_cast<size_t>(e.integer) - 1;
          if (i < to) alert_(merged[i].scope, Read(CounterKind::kSpend, merged[i].key, 0), merged[i].soft_limit);
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
  std::vector<Pending> pending_;
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
