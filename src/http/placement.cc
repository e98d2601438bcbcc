// http/placement.cc — the connection placement policy and the load samples it decides from.
#include "http/placement.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ap::http {

int PlaceNewConnection(const PlacementPolicy& policy, std::span<const WorkerLoad> loads) {
  if (loads.empty()) return 0;
  for (size_t i = 0; i < loads.size(); ++i)
    if (loads[i].busy < policy.open_below) return static_cast<int>(i);
  size_t least = 0;
  for (size_t i = 1; i < loads.size(); ++i)
    if (loads[i].busy < loads[least].busy) least = i;
  return static_cast<int>(least);
}

std::optional<Move> PlanMoves(const PlacementPolicy& policy, std::span<const WorkerLoad> loads, int self,
                              double machine_idle_cores) {
  if (self < 0 || static_cast<size_t>(self) >= loads.size()) return std::nullopt;
  const WorkerLoad& me = loads[static_cast<size_t>(self)];
  if (me.connections == 0 || loads.size() < 2) return std::nullopt;
  // Saturated, and another thread would find a free CPU (unknown counts as free): shed the
  // share of connections above `open_below` to the least busy light worker.
  const bool spare = machine_idle_cores < 0 || machine_idle_cores >= policy.spare_cores;
  if (me.busy >= policy.shed_at && spare) {
    int best = -1;
    for (size_t j = 0; j < loads.size(); ++j) {
      if (static_cast<int>(j) == self || loads[j].busy >= policy.shed_to_below) continue;
      if (best < 0 || loads[j].busy < loads[static_cast<size_t>(best)].busy) best = static_cast<int>(j);
    }
    if (best >= 0) {
      double excess = me.busy > 0 ? (me.busy - policy.open_below) / me.busy : 1.0;
      int count = std::max(1, static_cast<int>(std::ceil(me.connections * excess)));
      return Move{best, std::min(count, me.connections)};
    }
    return std::nullopt;
  }
  // Light: fold into the lowest-numbered worker both loads fit on.
  for (int j = 0; j < self; ++j)
    if (loads[static_cast<size_t>(j)].busy + me.busy < policy.pack_below) return Move{j, me.connections};
  return std::nullopt;
}

namespace {
int64_t Nanos(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

double ThreadBusySampler::Sample() {
  const int64_t cpu = Nanos(CLOCK_THREAD_CPUTIME_ID);
  const int64_t wall = Nanos(CLOCK_MONOTONIC);
  double busy = 0;
  if (last_cpu_ns_ >= 0 && cpu >= 0 && wall > last_wall_ns_)
    busy = std::clamp(static_cast<double>(cpu - last_cpu_ns_) / static_cast<double>(wall - last_wall_ns_), 0.0, 1.0);
  last_cpu_ns_ = cpu;
  last_wall_ns_ = wall;
  return busy;
}

double MachineIdleSampler::Sample() {
  if (cores_ == 0) cores_ = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  FILE* f = std::fopen("/proc/stat", "re");
  if (!f) return -1;
  // "cpu  user nice system idle iowait irq softirq steal ..." (guest time is inside user).
  unsigned long long v[8] = {};
  int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                        &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (got < 5) return -1;
  uint64_t idle = v[3] + v[4], total = 0;
  for (int i = 0; i < got; ++i) total += v[i];
  double cores = -1;
  if (last_total_ != 0 && total > last_total_)
    cores = static_cast<double>(idle - last_idle_) / static_cast<double>(total - last_total_) * cores_;
  last_idle_ = idle;
  last_total_ = total;
  return cores;
}

}  // namespace ap::http
