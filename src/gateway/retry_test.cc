#include "gateway/retry.h"

#include <gtest/gtest.h>

namespace ap::gateway {
namespace {
using std::chrono::milliseconds;

TEST(Retry, WhatIsRetryable) {
  config::RetryPolicy p;
  EXPECT_TRUE(IsRetryable(AttemptOutcome::kConnectError, p));
  EXPECT_TRUE(IsRetryable(AttemptOutcome::kTimeout, p));
  EXPECT_TRUE(IsRetryable(AttemptOutcome::kRateLimited, p));
  EXPECT_TRUE(IsRetryable(AttemptOutcome::kServerError, p));
  EXPECT_FALSE(IsRetryable(AttemptOutcome::kSuccess, p));
  p.on_429 = false;
  p.on_5xx = false;
  EXPECT_FALSE(IsRetryable(AttemptOutcome::kRateLimited, p));
  EXPECT_FALSE(IsRetryable(AttemptOutcome::kServerError, p));
  EXPECT_EQ(OutcomeForStatus(429), AttemptOutcome::kRateLimited);
  EXPECT_EQ(OutcomeForStatus(503), AttemptOutcome::kServerError);
  EXPECT_EQ(OutcomeForStatus(400), AttemptOutcome::kSuccess);
}

TEST(Retry, ExponentialWithFullJitterCappedAtMax) {
  config::RetryPolicy p;
  p.base_backoff = milliseconds(100);
  p.max_backoff = milliseconds(1000);
  // unit → 1 gives the ceiling: 100, 200, 400, 800, then capped at 1000.
  EXPECT_EQ(BackoffDelay(p, 2, 0.999999, {})->count(), 99);
  EXPECT_EQ(BackoffDelay(p, 3, 0.999999, {})->count(), 199);
  EXPECT_EQ(BackoffDelay(p, 5, 0.999999, {})->count(), 799);
  EXPECT_EQ(BackoffDelay(p, 9, 0.999999, {})->count(), 999);
  EXPECT_EQ(BackoffDelay(p, 40, 0.5, {})->count(), 500);
  EXPECT_EQ(BackoffDelay(p, 2, 0.0, {})->count(), 0);
}

TEST(Retry, RetryAfterIsAFloorAndTooLongMeansFallBack) {
  config::RetryPolicy p;
  p.base_backoff = milliseconds(10);
  p.max_backoff = milliseconds(2000);
  EXPECT_EQ(BackoffDelay(p, 2, 0.5, milliseconds(1000))->count(), 1000);
  EXPECT_FALSE(BackoffDelay(p, 2, 0.5, milliseconds(5000)));
}

TEST(Retry, ParsesRetryAfter) {
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(ParseRetryAfter("2", now)->count(), 2000);
  EXPECT_EQ(ParseRetryAfter(" 0 ", now)->count(), 0);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now)->count(), 5000);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)->count(), 0);
  EXPECT_FALSE(ParseRetryAfter("soon", now));
  EXPECT_FALSE(ParseRetryAfter("-1", now));
}

}  // namespace
}  // namespace ap::gateway
