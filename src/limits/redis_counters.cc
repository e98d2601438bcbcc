// limits/redis_counters.cc — Counters in Redis, shared by every gateway replica.
//
// Admission is one EVALSHA per request on the event loop's pipelined connection. Settlements
// (token reconciliation, spend, lease release) are queued and sent by one thread every
// settle_interval as one script call, merged per counter: N requests cost one Redis command per
// interval, not N hot-key updates. When Redis does not answer within the timeout, admission
// follows the policy: fail open (the local fallback counters answer, per replica) or fail closed
// (refused as unavailable); Redis is tried again after a second.
#include <atomic>
#include <condition_variable>
#include <thread>

#include "base/log.h"
#include "limits/counters.h"
#include "limits/internal/redis.h"
#include "limits/internal/scripts.h"

namespace ap::limits {
namespace {

using internal::RedisReply;
using Clock = std::chrono::steady_clock;

constexpr int64_t kLeaseTtlMs = 15 * 60 * 1000;

std::string Num(double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  return std::string(buf, static_cast<size_t>(n));
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

  boost::asio::awaitable<Decision> Admit(const std::vector<Check>& checks, std::string_view lease) override {
    if (Clock::now() >= retry_at_.load()) {
      std::vector<std::string> args;
      args.reserve(5 + checks.size() * 5);
      args.push_back("EVALSHA");
      args.push_back(admit_sha_);
      args.push_back(std::to_string(checks.size()));
      for (const auto& c : checks) args.emplace_back(c.key);
      args.emplace_back(lease);
      args.push_back(std::to_string(kLeaseTtlMs));
      for (const auto& c : checks) {
        args.push_back(std::string(1, static_cast<char>(c.kind)));
        args.push_back(Num(c.limit));
        args.push_back(Num(c.amount));
        args.push_back(std::to_string(std::max<int64_t>(1, c.ttl_s)));
      }
      auto r = co_await pipeline_.Command(args, options_.timeout);
      if (r && r->is_error() && r->str.starts_with("NOSCRIPT")) {  // Redis restarted: load again
        args[0] = "EVAL";
        args[1] = internal::kAdmitScript;
        r = co_await pipeline_.Command(std::move(args), options_.timeout);
      }
      if (r && r->type == RedisReply::Type::kArray && r->elements.size() == checks.size() + 2) {
        MarkUp();
        Decision d;
        int64_t refused = r->elements[0].integer;
        d.refused = static_cast<int>(refused) - 1;
        d.outcome = refused == 0 ? Decision::Outcome::kAdmitted : Decision::Outcome::kRefused;
        for (size_t i = 0; i < checks.size(); ++i) d.levels.push_back(std::strtod(r->elements[i + 2].str.c_str(), nullptr));
        co_return d;
      }
      MarkDown(r ? (r->is_error() ? r->str : std::string("unexpected reply")) : r.error());
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

  void Settle(std::vector<Settlement> settlements) override {
    std::lock_guard lock(mu_);
    for (const auto& s : settlements)
      pending_.push_back({s.kind, std::string(s.key), s.limit, s.delta, std::string(s.lease), s.soft_limit,
                          std::string(s.scope), s.actual});
  }

  double Read(CounterKind kind, const std::string& key, double limit) override {
    if (kind == CounterKind::kSpend) {
      auto r = sync_.Command({"GET", key + ":done"});
      if (r && r->type == RedisReply::Type::kString) return std::strtod(r->str.c_str(), nullptr);
      return 0;
    }
    if (kind == CounterKind::kParallel) {
      auto r = sync_.Command({"ZCARD", key});
      return r && r->type == RedisReply::Type::kInteger ? static_cast<double>(r->integer) : 0;
    }
    auto r = sync_.Command({"HGET", key, "v"});
    return r && r->type == RedisReply::Type::kString ? std::strtod(r->str.c_str(), nullptr) : limit;
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
    Settlement View() const { return {kind, key, limit, delta, lease, soft_limit, scope, actual}; }
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
