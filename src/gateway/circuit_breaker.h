// gateway/circuit_breaker.h — ejects a failing backend for a cool-down, then probes it.
//
// Closed: requests flow; `failure_threshold` consecutive failures open it. Open: no requests
// until `cooldown` has passed. Half-open: exactly one probe request is let through; its success
// closes the breaker, its failure opens it again. Lock-free (atomics only): shared by every worker
// thread, consulted on every request. Time is passed in so tests drive it with a fake clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "config/config.h"

namespace ap::gateway {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  explicit CircuitBreaker(config::CircuitBreakerConfig config) : config_(config) {}

  // May a request go to this backend now? In half-open state only the caller that gets true
  // carries the probe, and must report its outcome.
  bool Allow(Clock::time_point now);
  void RecordSuccess();
  void RecordFailure(Clock::time_point now);
  State state() const { return static_cast<State>(state_.load(std::memory_order_relaxed)); }

 private:
  config::CircuitBreakerConfig config_;
  std::atomic<int> state_{0};
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int64_t> opened_at_ns_{0};
};

}  // namespace ap::gateway
