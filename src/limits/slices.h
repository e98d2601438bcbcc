// limits/slices.h — what one gateway replica holds of the counters that live in Redis.
//
// An admission that asks Redis costs a round trip and ~70 µs of Redis's Lua engine, and Redis is
// one core for every replica. So a replica takes a *slice* of each counter it uses (a share of a
// token bucket, parallel slots, USD of a budget) in one call and spends it here: most admissions
// are a lookup under this table's mutex. Redis stays the only place capacity comes from, so the
// replicas together never admit more than the global counter holds. What slices cost is that
// capacity one replica holds cannot serve another, and that is bounded:
//   * a slice is limit × fraction (1/256 by default), or what the request needs if more: at a
//     counter's steady rate (limit/60 per second) a replica asks Redis ~4 times a second per
//     counter, whatever the limit;
//   * a replica keeps at most two slices unused: the rest (token refunds, slots of finished
//     requests, unspent budget) goes back at the next settlement tick, and everything goes back
//     after a second without use. N replicas strand at most N × 2 × fraction of a limit (three
//     replicas: 2.3 %), and only while they are busy;
//   * a slice is fetched ahead when it runs below half, so admissions do not wait for Redis;
//   * a refusal from Redis is remembered for a moment (buckets: until enough could have refilled,
//     at most 100 ms; slots and budgets: 10 ms), so a client hammering an exhausted limit does
//     not turn every request into a Redis call.
// With fraction 0 every admission asks Redis for exactly what it needs (the exact mode).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "limits/counters.h"

namespace ap::limits {

// One item of a grant call: take at least `need` (refused when less is there; parallel slots and
// budgets also refuse when nothing is left) and up to `want`.
struct GrantRequest {
  std::string key;  // the counter, e.g. "ap:team:ml:t"
  CounterKind kind = CounterKind::kRequests;
  double limit = 0;
  double need = 0;
  double want = 0;
  int64_t ttl_s = 0;  // spend: how long the budget window's counters must live
};

// Unused capacity going back to Redis (negative: a debt this replica owes, e.g. tokens a request
// used beyond its reservation).
struct GiveBack {
  std::string key;
  CounterKind kind = CounterKind::kRequests;
  double limit = 0;
  double amount = 0;
  int64_t ttl_s = 0;
};

class SliceTable {
 public:
  static constexpr double kDefaultFraction = 1.0 / 256;

  // `now_ms`: a steady clock (tests); null: std::chrono::steady_clock.
  explicit SliceTable(double fraction = kDefaultFraction, std::function<int64_t()> now_ms = nullptr);

  // The slice of a counter of `limit` (0 in the exact mode).
  double SliceOf(CounterKind kind, double limit) const;

  struct Take {
    enum class Outcome { kTaken, kShort, kRefused } outcome = Outcome::kShort;
    int refused = -1;                // kRefused: the first check Redis recently refused
    Levels levels;                   // kTaken, kRefused: per check, what is left as this replica knows it
    std::vector<GrantRequest> grants;  // kShort: what to ask Redis for; kTaken: slices to fetch ahead
  };
  // Takes every check's amount from what this replica holds, all or nothing.
  Take TakeFrom(Checks checks);
  Take TakeFrom(std::initializer_list<Check> checks) { return TakeFrom(Checks(checks.begin(), checks.size())); }

  // Redis's answer to a grant: `granted` < 0 when refused; `level` what is left in Redis
  // (buckets: tokens; slots and budgets: limit minus what every replica holds and spent).
  void Answer(const GrantRequest& grant, double granted, double level);
  // The grant did not reach Redis.
  void Failed(const GrantRequest& grant);

  // A finished request gives back to its slices: tokens (delta = used - reserved), its parallel
  // slot, budget (delta = actual - reserved cost). Requests counters settle nothing.
  void Release(const Settlement& s);

  // What goes back to Redis now: beyond two slices, everything after a second unused, or
  // everything (`all`: shutdown, tests). Slices unused for a minute are forgotten.
  std::vector<GiveBack> TakeGiveBacks(bool all);
  // A give-back that did not reach Redis is held again.
  void Restore(const GiveBack& g);

  // Unused capacity held of a counter, and the counter's level in Redis as of the last answer.
  double Held(std::string_view key);
  // Redis reclaimed this replica's slots and budget shares (it missed heartbeats): forget them.
  void DropShares();

 private:
  struct Slice {
    CounterKind kind = CounterKind::kRequests;
    double limit = 0;
    int64_t ttl_s = 0;
    double free = 0;           // r, t: tokens; p: slots held minus in flight; s: USD held minus reserved
    double global = 0;         // what Redis said was left at the last answer
    int64_t used_ms = 0;       // last take or release
    int64_t refused_until = 0; // a refusal from Redis holds until then
    bool refilling = false;    // a fetch ahead is on its way
  };
  Slice& SliceFor(std::string_view key, CounterKind kind, double limit, int64_t ttl_s, int64_t now);

  double fraction_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, Slice, CounterKeyHash, std::equal_to<>> slices_;
};

}  // namespace ap::limits
