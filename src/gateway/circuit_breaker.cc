// gateway/circuit_breaker.cc
#include "gateway/circuit_breaker.h"

namespace ap::gateway {
namespace {
int64_t Ns(CircuitBreaker::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

bool CircuitBreaker::Allow(Clock::time_point now) {
  if (config_.failure_threshold <= 0) return true;
  int s = state_.load(std::memory_order_acquire);
  if (s == static_cast<int>(State::kClosed)) return true;
  if (s == static_cast<int>(State::kHalfOpen)) return false;  // a probe is already out
  auto cooldown = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.cooldown).count();
  if (Ns(now) - opened_at_ns_.load(std::memory_order_acquire) < cooldown) return false;
  int expected = static_cast<int>(State::kOpen);
  return state_.compare_exchange_strong(expected, static_cast<int>(State::kHalfOpen));
}

void CircuitBreaker::RecordSuccess() {
  consecutive_failures_.store(0, std::memory_order_relaxed);
  if (state_.load(std::memory_order_relaxed) != static_cast<int>(State::kClosed))
    state_.store(static_cast<int>(State::kClosed), std::memory_order_release);
}

void CircuitBreaker::RecordFailure(Clock::time_point now) {
  if (config_.failure_threshold <= 0) return;
  int failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  int s = state_.load(std::memory_order_acquire);
  if (s == static_cast<int>(State::kHalfOpen) ||
      (s == static_cast<int>(State::kClosed) && failures >= config_.failure_threshold)) {
    opened_at_ns_.store(Ns(now), std::memory_order_release);
    state_.store(static_cast<int>(State::kOpen), std::memory_order_release);
  }
}

}  // namespace ap::gateway
