// scheduler/scorers.cc — filters, scorers and the weighted ranking.
#include "scheduler/scorers.h"

#include <algorithm>

namespace ap::scheduler {
namespace {

template <typename Keep>
std::span<Candidate> Compact(std::span<Candidate> c, Keep keep, bool keep_all_if_empty) {
  size_t n = 0;
  for (auto& x : c)
    if (keep(x)) ++n;
  if (n == 0 && keep_all_if_empty) return c;
  size_t out = 0;
  for (size_t i = 0; i < c.size(); ++i)
    if (keep(c[i])) {
      if (out != i) c[out] = std::move(c[i]);
      ++out;
    }
  return c.subspan(0, out);
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Min-max normalised "less is better": 1 for the smallest, 0 for the largest, 1 for all if equal.
template <typename Get>
void LessIsBetter(std::span<Candidate> c, int slot, Get get) {
  double lo = 1e300, hi = -1e300;
  for (auto& x : c) {
    double v = get(x);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  for (auto& x : c) x.scores[slot] = hi > lo ? (hi - get(x)) / (hi - lo) : 1.0;
}

}  // namespace

const char* ScoreName(int score) {
  static constexpr const char* kNames[] = {"queue", "kv_cache", "prefix", "session", "lora", "in_flight"};
  return score >= 0 && score < kNumScores ? kNames[score] : "?";
}

uint64_t HashString(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, then a finaliser
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::span<Candidate> FilterHealthy(std::span<Candidate> c) {
  return Compact(c, [](const Candidate& x) { return !x.down; }, true);
}

bool Saturated(const Candidate& c, int max_waiting, double max_kv_cache) {
  if (!c.fresh) return false;  // unknown: the breaker and in-flight scorer guard it
  return c.waiting >= max_waiting || (c.kv_usage >= 0 && c.kv_usage >= max_kv_cache);
}

std::span<Candidate> FilterUnsaturated(std::span<Candidate> c, int max_waiting, double max_kv_cache) {
  return Compact(c, [&](const Candidate& x) { return !Saturated(x, max_waiting, max_kv_cache); }, false);
}

std::span<Candidate> FilterLoraAvailable(std::span<Candidate> c, std::string_view adapter) {
  if (adapter.empty()) return c;
  return Compact(c, [&](const Candidate& x) {
    if (!x.lora) return true;  // the replica does not report adapters: assume it can load it
    if (Contains(x.lora->running, adapter) || Contains(x.lora->waiting, adapter)) return true;
    return x.lora->max_lora <= 0 || static_cast<int>(x.lora->running.size()) < x.lora->max_lora;
  }, true);
}

void ScoreQueue(std::span<Candidate> c) {
  LessIsBetter(c, kQueue, [](const Candidate& x) { return x.waiting; });
}

void ScoreKvCache(std::span<Candidate> c) {
  for (auto& x : c) x.scores[kKvCache] = x.fresh && x.kv_usage >= 0 ? 1.0 - std::min(1.0, x.kv_usage) : 0.5;
}

void ScorePrefix(std::span<Candidate> c, size_t prompt_blocks) {
  for (auto& x : c)
    x.scores[kPrefix] = prompt_blocks == 0 ? 0.0 : static_cast<double>(x.prefix_blocks) / prompt_blocks;
}

void ScoreInFlight(std::span<Candidate> c) {
  LessIsBetter(c, kInFlight, [](const Candidate& x) { return static_cast<double>(x.in_flight); });
}

void ScoreSession(std::span<Candidate> c, uint64_t session_hash) {
  if (session_hash == 0) {
    for (auto& x : c) x.scores[kSession] = 0;
    return;
  }
  size_t best = 0;
  uint64_t best_weight = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    uint64_t w = session_hash ^ ((c[i].replica + 1) * 0x9E3779B97F4A7C15ull);
    w ^= w >> 31;
    w *= 0xbf58476d1ce4e5b9ull;
    w ^= w >> 29;
    if (i == 0 || w > best_weight) best = i, best_weight = w;
  }
  for (size_t i = 0; i < c.size(); ++i) c[i].scores[kSession] = i == best ? 1.0 : 0.0;
}

void ScoreLora(std::span<Candidate> c, std::string_view adapter) {
  for (auto& x : c) {
    double s = 0.5;  // unknown
    if (!adapter.empty() && x.lora) {
      if (Contains(x.lora->running, adapter)) s = 1.0;
      else if (Contains(x.lora->waiting, adapter)) s = 0.8;
      else if (x.lora->max_lora <= 0 || static_cast<int>(x.lora->running.size()) < x.lora->max_lora) s = 0.4;
      else s = 0.0;
    }
    x.scores[kLora] = s;
  }
}

size_t Rank(std::span<Candidate> c, const config::SchedulerConfig::Weights& w, double draw) {
  const double weights[kNumScores] = {w.queue, w.kv_cache, w.prefix, w.session, w.lora, w.in_flight};
  double best = -1e300;
  for (auto& x : c) {
    double t = 0;
    for (int s = 0; s < kNumScores; ++s) t += weights[s] * x.scores[s];
    x.total = t;
    best = std::max(best, t);
  }
  size_t ties = 0;
  for (auto& x : c) ties += x.total >= best - 1e-9;
  size_t k = std::min(ties - 1, static_cast<size_t>(draw * static_cast<double>(ties)));
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i].total >= best - 1e-9 && k-- == 0) return i;
  return 0;
}

}  // namespace ap::scheduler
