// gateway/retry.h — when to retry an upstream attempt, and how long to wait first.
//
// Retries happen only before the first byte reached the client, on connect errors, timeouts
// before the response, 429 and 5xx (each switchable per backend). The wait is exponential with
// full jitter (AWS's "Exponential Backoff and Jitter"), never below what a Retry-After header
// asks; a Retry-After longer than max_backoff means "not this backend now": no retry, fall back.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "config/config.h"

namespace ap::gateway {

enum class AttemptOutcome {
  kSuccess,          // a response the client should get (2xx, or a 4xx that is the client's fault)
  kConnectError,
  kTimeout,          // no response header within first_byte, or the total deadline
  kBroken,           // the connection died before any byte reached the client
  kRateLimited,      // 429
  kServerError,      // 5xx
};

bool IsRetryable(AttemptOutcome outcome, const config::RetryPolicy& policy);
AttemptOutcome OutcomeForStatus(int status);

// The wait before attempt number `next_attempt` (2 for the first retry). `unit` in [0,1) is the
// jitter draw. nullopt: do not retry (Retry-After beyond max_backoff).
std::optional<std::chrono::milliseconds> BackoffDelay(const config::RetryPolicy& policy,
                                                      int next_attempt, double unit,
                                                      std::optional<std::chrono::milliseconds> retry_after);

// Parses Retry-After: delta-seconds or an IMF-fixdate; `now` is used for dates.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

}  // namespace ap::gateway
