// limits/local_counters.cc — Counters in this process (see counters.h for the semantics, which
// internal/scripts.h implements again in Lua for Redis). One mutex: a check holds it for a few
// hundred nanoseconds.
#include <algorithm>
#include <array>

#include "limits/counters.h"

namespace ap::limits {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CounterHealth& Health() {
  static CounterHealth health;
  return health;
}

LocalCounters::LocalCounters(std::shared_ptr<AdminStore> ledger, SoftBudgetAlert alert,
                             std::function<int64_t()> now_ms)
    : ledger_(std::move(ledger)), alert_(std::move(alert)), now_ms_(now_ms ? std::move(now_ms) : SteadyMs) {
  if (ledger_)
    if (auto saved = ledger_->LoadSpend())
      for (auto& [k, v] : *saved) spend_[k] = Spend{v, v};
}

double LocalCounters::Refill(Bucket& b, double limit, int64_t now) {
  if (now > b.at_ms) b.level = std::min(limit, b.level + static_cast<double>(now - b.at_ms) * limit / 60000.0);
  b.at_ms = std::max(b.at_ms, now);
  return b.level;
}

LocalCounters::Bucket& LocalCounters::BucketFor(std::string_view key, double limit, int64_t now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) it = buckets_.emplace(std::string(key), Bucket{limit, now}).first;
  return it->second;
}

boost::asio::awaitable<Decision> LocalCounters::Admit(Checks checks) {
  co_return AdmitNow(checks);
}

Decision LocalCounters::AdmitNow(Checks checks) {
  Decision d;
  d.levels.resize(checks.size());
  // Each check's counter is found once and charged through the reference (unordered_map nodes
  // never move), instead of hashing its key a second time after every check passed.
  union Found {
    Bucket* bucket;
    int64_t* in_flight;
    Spend* spend;
  };
  std::array<Found, 16> found_inline;
  std::vector<Found> found_more;
  Found* found = found_inline.data();
  if (checks.size() > found_inline.size()) {
    found_more.resize(checks.size());
    found = found_more.data();
  }
  std::lock_guard lock(mu_);
  const int64_t now = now_ms_();
  for (size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    bool ok = true;
    switch (c.kind) {
      case CounterKind::kRequests:
      case CounterKind::kTokens: {
        found[i].bucket = &BucketFor(c.key, c.limit, now);
        double level = Refill(*found[i].bucket, c.limit, now);
        d.levels[i] = level;
        ok = level >= c.amount;
        break;
      }
      case CounterKind::kParallel: {
        found[i].in_flight = &Slot(in_flight_, c.key);
        double used = static_cast<double>(*found[i].in_flight);
        d.levels[i] = c.limit - used;
        ok = used + 1 <= c.limit;
        break;
      }
      case CounterKind::kSpend: {
        found[i].spend = &Slot(spend_, c.key);
        double spent = found[i].spend->held;
        d.levels[i] = c.limit - spent;
        ok = spent < c.limit && (c.amount <= 0 || spent + c.amount <= c.limit);
        break;
      }
    }
    if (!ok && d.refused < 0) d.refused = static_cast<int>(i);
  }
  if (d.refused >= 0) {
    d.outcome = Decision::Outcome::kRefused;
    return d;
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    switch (c.kind) {
      case CounterKind::kRequests:
      case CounterKind::kTokens: found[i].bucket->level -= c.amount; break;
      case CounterKind::kParallel: ++*found[i].in_flight; break;
      case CounterKind::kSpend: found[i].spend->held += c.amount; break;
    }
    d.levels[i] -= c.amount;
  }
  d.outcome = Decision::Outcome::kAdmitted;
  return d;
}

void LocalCounters::Settle(std::vector<Settlement> settlements, std::shared_ptr<const void>) {
  std::vector<std::tuple<std::string, double, double>> alerts;
  {
    std::lock_guard lock(mu_);
    const int64_t now = now_ms_();
    for (const auto& s : settlements) {
      switch (s.kind) {
        case CounterKind::kRequests:
        case CounterKind::kTokens: {
          Bucket& b = BucketFor(s.key, s.limit, now);
          Refill(b, s.limit, now);
          b.level = std::min(s.limit, b.level - s.delta);
          break;
        }
        case CounterKind::kParallel:
          if (auto it = in_flight_.find(s.key); it != in_flight_.end() && it->second > 0) --it->second;
          break;
        case CounterKind::kSpend: {
          Spend& spend = Slot(spend_, s.key);
          spend.held += s.delta;
          double& done = spend.committed;
          done += s.actual;
          if (ledger_) {
            auto u = unsaved_spend_.find(s.key);
            if (u == unsaved_spend_.end()) u = unsaved_spend_.emplace(std::string(s.key), 0.0).first;
            u->second += s.actual;
          }
          if (s.soft_limit >= 0 && done - s.actual < s.soft_limit && done >= s.soft_limit)
            alerts.emplace_back(std::string(s.scope), done, s.soft_limit);
          break;
        }
      }
    }
  }
  if (alert_)
    for (auto& [scope, spent, soft] : alerts) alert_(scope, spent, soft);
}

double LocalCounters::Read(CounterKind kind, const std::string& key, double limit) {
  std::lock_guard lock(mu_);
  switch (kind) {
    case CounterKind::kSpend: {
      auto it = spend_.find(key);
      return it == spend_.end() ? 0 : it->second.committed;
    }
    case CounterKind::kParallel: {
      auto it = in_flight_.find(key);
      return it == in_flight_.end() ? 0 : static_cast<double>(it->second);
    }
    default: {
      auto it = buckets_.find(key);
      if (it == buckets_.end()) return limit;
      return Refill(it->second, limit, now_ms_());
    }
  }
}

void LocalCounters::Flush() {
  std::map<std::string, double, std::less<>> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(unsaved_spend_);
  }
  if (taken.empty() || !ledger_) return;
  std::map<std::string, double> batch(taken.begin(), taken.end());
  if (!ledger_->AddSpend(batch)) {
    std::lock_guard lock(mu_);  // keep it for the next flush
    for (auto& [k, v] : batch) unsaved_spend_[k] += v;
  }
}

}  // namespace ap::limits
