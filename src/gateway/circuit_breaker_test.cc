#include "gateway/circuit_breaker.h"

#include <gtest/gtest.h>

namespace ap::gateway {
namespace {
using namespace std::chrono_literals;

TEST(CircuitBreaker, OpensAfterThresholdThenProbesHalfOpen) {
  CircuitBreaker b({3, std::chrono::milliseconds(1000)});
  auto t0 = CircuitBreaker::Clock::time_point{} + 100s;
  EXPECT_TRUE(b.Allow(t0));
  b.RecordFailure(t0);
  b.RecordFailure(t0);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  b.RecordFailure(t0);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.Allow(t0 + 500ms));
  // After the cool-down exactly one probe goes through.
  EXPECT_TRUE(b.Allow(t0 + 1001ms));
  EXPECT_EQ(b.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_FALSE(b.Allow(t0 + 1002ms));
  // The probe fails: open again for a new cool-down.
  b.RecordFailure(t0 + 1100ms);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.Allow(t0 + 1500ms));
  EXPECT_TRUE(b.Allow(t0 + 2200ms));
  b.RecordSuccess();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(b.Allow(t0 + 2201ms));
}

TEST(CircuitBreaker, SuccessResetsTheCount) {
  CircuitBreaker b({2, std::chrono::milliseconds(1000)});
  auto t = CircuitBreaker::Clock::now();
  b.RecordFailure(t);
  b.RecordSuccess();
  b.RecordFailure(t);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
}

TEST(CircuitBreaker, ZeroThresholdDisables) {
  CircuitBreaker b({0, std::chrono::milliseconds(1000)});
  auto t = CircuitBreaker::Clock::now();
  for (int i = 0; i < 100; ++i) b.RecordFailure(t);
  EXPECT_TRUE(b.Allow(t));
}

}  // namespace
}  // namespace ap::gateway
