// http/placement.h — which worker a connection lives on: packed onto the fewest event loops
// that keep up, spread out only when a loop is saturated and the machine has CPU to spare.
//
// Why pack: an event loop's latency is lowest when it has a core to itself. Spreading a few
// connections over every worker (the kernel's SO_REUSEPORT hash) puts loops on cores that other
// processes need — on a small box the load generator, the upstream, the telemetry writer —
// and each loop's events then wait behind those processes' time slices. Measured on a 2-core
// VM (docs/benchmarks.md, "Sixth session"), one loop holding all connections had half the p99
// of two loops sharing them, at higher throughput. nginx packs too, as a side effect of
// EPOLLEXCLUSIVE waking its most recently idle worker first.
//
// The policy, decided from loads each worker samples a few times a second:
//   - a new connection goes to the lowest-numbered worker below `open_below` busy (else to the
//     least busy one);
//   - a worker at or above `shed_at` busy, while the machine has at least `spare_cores` idle,
//     moves connections (at their next request boundary) to the least busy worker below
//     `shed_to_below`, enough to bring its load down to about `open_below`;
//   - a higher-numbered worker whose load fits with a lower one's under `pack_below` moves its
//     connections there, so loads that shrink drain back onto fewer loops.
// "Busy" is the share of wall time the worker's thread ran on a CPU (its thread CPU clock): a
// loop starved by other processes reads low, and rightly does not spread — another thread
// would not find CPU either.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace ap::http {

struct PlacementPolicy {
  bool pack = true;  // false: connections stay where the kernel's SO_REUSEPORT hash put them
  double open_below = 0.75;
  double shed_at = 0.90;
  double shed_to_below = 0.50;
  double spare_cores = 0.25;
  double pack_below = 0.60;
  // How often each worker samples its load and plans moves (while it holds connections).
  std::chrono::milliseconds sample_interval{250};
};

// One worker's load as the others see it.
struct WorkerLoad {
  double busy = 0;      // share of the last sample interval its thread was on a CPU (0–1)
  int connections = 0;  // connections it holds
};

// Connections one worker should hand to another.
struct Move {
  int to = -1;
  int count = 0;
};

// The worker a new connection should live on.
int PlaceNewConnection(const PlacementPolicy& policy, std::span<const WorkerLoad> loads);

// What worker `self` should move away, given every worker's load and the machine's idle cores.
std::optional<Move> PlanMoves(const PlacementPolicy& policy, std::span<const WorkerLoad> loads, int self,
                              double machine_idle_cores);

// Samples the calling thread's CPU time: busy share since the previous call.
class ThreadBusySampler {
 public:
  // Share of wall time between this call and the previous one that the thread ran (0 on the
  // first call).
  double Sample();

 private:
  int64_t last_cpu_ns_ = -1;
  int64_t last_wall_ns_ = 0;
};

// Idle CPU of the whole machine, in cores, since the previous call (/proc/stat); negative when
// unknown. Inside a container this is the host's idle time, not the cgroup's quota.
class MachineIdleSampler {
 public:
  double Sample();

 private:
  uint64_t last_idle_ = 0;
  uint64_t last_total_ = 0;
  int cores_ = 0;
};

}  // namespace ap::http
