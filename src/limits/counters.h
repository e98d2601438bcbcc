// limits/counters.h — the counters behind rate limits, parallel limits and budgets, checked and
// taken in one atomic step per request, wherever they live.
//
// Semantics (identical in both implementations; see docs/limits.md):
//  * requests (r) and tokens (t): a token bucket of `limit` that refills at limit/60 per second,
//    so "N per minute" allows a burst of N and then N per minute. Admission takes `amount` (1, or
//    the reserved tokens); settling adds back reserved-minus-used (the level may go negative
//    when a request used more than it reserved: later requests wait for the debt to refill).
//  * parallel (p): admission takes a slot, settling frees it (in Redis, slots are held per
//    replica, and a replica that stops beating for 10 s has its slots reclaimed).
//  * spend (s): USD spent in the current budget window plus reservations; admission refuses once
//    spent + reserved would pass the limit, settling adds used-minus-reserved.
// Admission checks every counter first and takes from none unless all allow it.
//
// LocalCounters keeps them in this process (one gateway, or the fail-open fallback);
// RedisCounters keeps them in Redis with Lua scripts so every replica shares them, and spends
// them through slices each replica holds (limits/slices.h): a global limit is never exceeded,
// and can be under-used by at most the few slices replicas hold unused.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include <boost/asio/awaitable.hpp>
#include <boost/container/small_vector.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "limits/admin_store.h"

namespace ap::limits {

enum class CounterKind : char { kRequests = 'r', kTokens = 't', kParallel = 'p', kSpend = 's' };

struct Check {
  CounterKind kind;
  std::string_view key;  // the counter's name, e.g. "ap:team:ml:r"; must outlive the Admit call
  double limit = 0;
  double amount = 0;    // r, p: 1; t: reserved tokens; s: reserved USD
  int64_t ttl_s = 0;    // s: seconds the window has left (the counter expires after it)
};

// Hashes counter names ("ap:team:ml:r"), which the server builds from admin-chosen names: eight
// bytes per step (std::hash's murmur was ~15 calls and ~1k instructions per limited request).
struct CounterKeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    if (i < s.size()) {
      uint64_t w = 0;
      std::memcpy(&w, s.data() + i, s.size() - i);
      h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    }
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// The checks of one admission (a ticket holds them inline), and what each one left.
using Checks = std::span<const Check>;
using Levels = boost::container::small_vector<double, 8>;

struct Decision {
  enum class Outcome { kAdmitted, kRefused, kUnavailable } outcome = Outcome::kUnavailable;
  int refused = -1;            // index of the first check that refused
  Levels levels;               // per check, after admission: r/t tokens left, p slots free, s USD left
  bool degraded = false;       // answered by the local fallback because Redis was unreachable
  std::string error;           // kUnavailable: why
};

// Views: Settle copies what it keeps past the call.
struct Settlement {
  CounterKind kind;
  std::string_view key;
  double limit = 0;
  double delta = 0;        // t: used - reserved tokens; s: used - reserved USD
  double soft_limit = -1;  // s: alert when this request's actual cost carried spend across it (< 0: none)
  std::string_view scope;  // s: what to name in the alert ("team ml")
  double actual = 0;       // s: the request's actual cost (reserved + delta)
  int64_t ttl_s = 0;       // s: how long the budget window's counters must live
};

class Counters {
 public:
  virtual ~Counters() = default;
  // `checks` must stay valid until the returned awaitable completes.
  virtual boost::asio::awaitable<Decision> Admit(Checks checks) = 0;
  // Returns at once; applied in batches. `owner` keeps what the settlements' views point into
  // alive until they are applied (the admission's ticket).
  virtual void Settle(std::vector<Settlement> settlements, std::shared_ptr<const void> owner) = 0;
  // Current value for the admin API (blocking): USD actually spent (settled, without in-flight
  // reservations), requests in flight, or tokens left in a bucket.
  virtual double Read(CounterKind kind, const std::string& key, double limit) = 0;
  // Applies pending settlements now (tests, shutdown).
  virtual void Flush() = 0;
};

// Called once when a spend counter crosses its soft limit (scope, spent, soft limit).
using SoftBudgetAlert = std::function<void(const std::string&, double, double)>;

class LocalCounters : public Counters {
 public:
  // `ledger`: where spend is kept durably (batched by Flush); may be null. `now_ms`: the clock.
  LocalCounters(std::shared_ptr<AdminStore> ledger, SoftBudgetAlert alert,
                std::function<int64_t()> now_ms = nullptr);

  boost::asio::awaitable<Decision> Admit(Checks checks) override;
  void Settle(std::vector<Settlement> settlements, std::shared_ptr<const void> owner = nullptr) override;
  double Read(CounterKind kind, const std::string& key, double limit) override;
  void Flush() override;

  // The synchronous core of Admit (benchmarks and tests call it directly).
  Decision AdmitNow(Checks checks);
  Decision AdmitNow(std::initializer_list<Check> checks) { return AdmitNow(Checks(checks.begin(), checks.size())); }

 private:
  struct Bucket {
    double level = 0;
    int64_t at_ms = 0;
  };
  double Refill(Bucket& b, double limit, int64_t now);
  Bucket& BucketFor(std::string_view key, double limit, int64_t now);

  // Maps looked up by string_view without building a std::string (C++20 heterogeneous lookup).
  template <typename V>
  using Map = std::unordered_map<std::string, V, CounterKeyHash, std::equal_to<>>;
  template <typename V>
  static V& Slot(Map<V>& map, std::string_view key) {
    auto it = map.find(key);
    if (it == map.end()) it = map.emplace(std::string(key), V{}).first;
    return it->second;
  }

  std::shared_ptr<AdminStore> ledger_;
  SoftBudgetAlert alert_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
  Map<Bucket> buckets_;
  // In one process a parallel slot is a count: the process's end frees every slot anyway (in
  // Redis, slots are held per replica and reaped when a replica stops beating).
  Map<int64_t> in_flight_;
  struct Spend {
    double held = 0;       // spent + in-flight reservations
    double committed = 0;  // actually spent
  };
  Map<Spend> spend_;
  std::map<std::string, double, std::less<>> unsaved_spend_;  // committed, not yet in the ledger
};

struct RedisCountersOptions {
  std::string url;
  std::chrono::milliseconds timeout{50};
  std::chrono::milliseconds settle_interval{20};
  bool fail_open = true;
  // A replica's slice of each counter as a fraction of its limit (limits/slices.h); 0: every
  // admission asks Redis for exactly what it needs.
  double slice_fraction = 1.0 / 256;
};

// Counters in Redis; when Redis does not answer, `fallback` (fail open) or a refusal (fail
// closed), and a retry of Redis after a second.
Result<std::unique_ptr<Counters>> OpenRedisCounters(const RedisCountersOptions& options,
                                                    std::shared_ptr<LocalCounters> fallback, SoftBudgetAlert alert);

// Whether the counters last reached Redis (1), and how many admissions the fallback answered.
struct CounterHealth {
  std::atomic<int> redis_up{1};
  std::atomic<uint64_t> fallback_admissions{0};
  std::atomic<uint64_t> refused_unavailable{0};
  std::atomic<uint64_t> budget_alerts{0};
};
CounterHealth& Health();

}  // namespace ap::limits
