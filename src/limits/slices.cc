// limits/slices.cc — see slices.h.
#include "limits/slices.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace ap::limits {
namespace {

constexpr int64_t kIdleMs = 1000;        // unused this long: everything goes back
constexpr int64_t kForgetMs = 60'000;    // an empty slice unused this long is dropped
constexpr int64_t kBucketRefusalMs = 100;  // at most, for token buckets
constexpr int64_t kShareRefusalMs = 10;    // slots and budgets: other replicas give back any time
// An unpriced request reserves a nano-dollar of a budget, so it needs the budget to have
// something left (spent < limit), as a request of $0 would not.
constexpr double kMinSpend = 1e-9;
constexpr double kNegligible = 1e-9;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double AmountOf(const Check& c) { return c.kind == CounterKind::kSpend ? std::max(c.amount, kMinSpend) : c.amount; }

}  // namespace

SliceTable::SliceTable(double fraction, std::function<int64_t()> now_ms)
    : fraction_(std::max(0.0, fraction)), now_ms_(now_ms ? std::move(now_ms) : SteadyMs) {}

double SliceTable::SliceOf(CounterKind kind, double limit) const {
  double slice = limit * fraction_;
  return kind == CounterKind::kParallel ? std::floor(slice) : slice;
}

SliceTable::Slice& SliceTable::SliceFor(std::string_view key, CounterKind kind, double limit, int64_t ttl_s,
                                        int64_t now) {
  auto it = slices_.find(key);
  if (it == slices_.end()) {
    it = slices_.emplace(std::string(key), Slice{}).first;
    it->second.kind = kind;
    it->second.global = limit;
    it->second.used_ms = now;
  }
  Slice& s = it->second;
  s.limit = limit;  // a PATCHed limit applies from the next request
  s.ttl_s = std::max(s.ttl_s, ttl_s);
  return s;
}

SliceTable::Take SliceTable::TakeFrom(Checks checks) {
  Take t;
  t.levels.resize(checks.size());
  // Each check's slice is found once (map nodes never move) and taken from in the second pass.
  boost::container::small_vector<Slice*, 8> found(checks.size());
  std::lock_guard lock(mu_);
  const int64_t now = now_ms_();
  for (size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    Slice& s = *(found[i] = &SliceFor(c.key, c.kind, c.limit, c.ttl_s, now));
    t.levels[i] = s.global + s.free;
    const double amount = AmountOf(c);
    if (s.free >= amount) continue;
    if (now < s.refused_until) {
      if (t.refused < 0) t.refused = static_cast<int>(i);
      continue;
    }
    const double need = amount - s.free;
    t.grants.push_back({std::string(c.key), c.kind, c.limit, need, std::max(need, SliceOf(c.kind, c.limit)), c.ttl_s});
  }
  if (t.refused >= 0) {
    t.outcome = Take::Outcome::kRefused;
    t.grants.clear();
    return t;
  }
  if (!t.grants.empty()) return t;  // kShort
  t.outcome = Take::Outcome::kTaken;
  for (size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    Slice& s = *found[i];
    const double amount = AmountOf(c);
    s.free -= amount;
    s.used_ms = now;
    t.levels[i] = s.global + s.free;
    const double slice = SliceOf(c.kind, c.limit);
    if (!s.refilling && slice >= amount && slice > 0 && s.free < std::max(amount, slice / 2)) {
      s.refilling = true;
      t.grants.push_back({std::string(c.key), c.kind, c.limit, 0, slice, c.ttl_s});
    }
  }
  return t;
}

void SliceTable::Answer(const GrantRequest& g, double granted, double level) {
  std::lock_guard lock(mu_);
  const int64_t now = now_ms_();
  Slice& s = SliceFor(g.key, g.kind, g.limit, g.ttl_s, now);
  s.global = level;
  s.refilling = false;
  if (granted >= 0) {
    s.free += granted;
    s.refused_until = 0;
    return;
  }
  int64_t hold = kShareRefusalMs;
  if (g.kind == CounterKind::kRequests || g.kind == CounterKind::kTokens) {
    // Until the bucket could hold what was asked for, at the refill rate of limit/60 per second.
    const double per_ms = g.limit / 60000.0;
    const double wait = per_ms > 0 ? (std::max(g.need, 1.0) - level) / per_ms : double(kBucketRefusalMs);
    hold = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(wait)), 1, kBucketRefusalMs);
  }
  s.refused_until = now + hold;
}

void SliceTable::Failed(const GrantRequest& g) {
  std::lock_guard lock(mu_);
  if (auto it = slices_.find(g.key); it != slices_.end()) it->second.refilling = false;
}

void SliceTable::Release(const Settlement& r) {
  if (r.kind == CounterKind::kRequests) return;
  std::lock_guard lock(mu_);
  const int64_t now = now_ms_();
  Slice& s = SliceFor(r.key, r.kind, r.limit, r.ttl_s, now);
  if (r.kind == CounterKind::kParallel) s.free += 1;
  else s.free -= r.delta;  // tokens: used - reserved; spend: actual - reserved
  s.used_ms = now;
}

std::vector<GiveBack> SliceTable::TakeGiveBacks(bool all) {
  std::vector<GiveBack> out;
  std::lock_guard lock(mu_);
  const int64_t now = now_ms_();
  for (auto it = slices_.begin(); it != slices_.end();) {
    Slice& s = it->second;
    const bool idle = now - s.used_ms >= kIdleMs;
    const double keep = all || idle ? 0 : 2 * SliceOf(s.kind, s.limit);
    double give = 0;
    if (s.free > keep) give = s.free - keep;
    else if (s.free < 0 && (all || idle)) give = s.free;  // a debt is paid once the slice rests
    if (std::abs(give) < kNegligible) {
      if (all || idle) s.free = 0;
    } else {
      s.free -= give;
      if (give > 0) s.refused_until = 0;  // Redis holds at least this again
      out.push_back({it->first, s.kind, s.limit, give, s.ttl_s});
    }
    if (s.free == 0 && !s.refilling && now - s.used_ms >= kForgetMs) it = slices_.erase(it);
    else ++it;
  }
  return out;
}

void SliceTable::Restore(const GiveBack& g) {
  std::lock_guard lock(mu_);
  SliceFor(g.key, g.kind, g.limit, g.ttl_s, now_ms_()).free += g.amount;
}

double SliceTable::Held(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = slices_.find(key);
  return it == slices_.end() ? 0 : it->second.free;
}

void SliceTable::DropShares() {
  std::lock_guard lock(mu_);
  for (auto& [key, s] : slices_)
    if (s.kind == CounterKind::kParallel || s.kind == CounterKind::kSpend) s.free = 0;
}

}  // namespace ap::limits
