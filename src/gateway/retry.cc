// gateway/retry.cc
#include "gateway/retry.h"

#include <ctime>
#include <string>

#include "base/strings.h"

namespace ap::gateway {

bool IsRetryable(AttemptOutcome outcome, const config::RetryPolicy& policy) {
  switch (outcome) {
    case AttemptOutcome::kSuccess: return false;
    case AttemptOutcome::kConnectError:
    case AttemptOutcome::kTimeout:
    case AttemptOutcome::kBroken: return true;
    case AttemptOutcome::kRateLimited: return policy.on_429;
    case AttemptOutcome::kServerError: return policy.on_5xx;
  }
  return false;
}

AttemptOutcome OutcomeForStatus(int status) {
  if (status == 429) return AttemptOutcome::kRateLimited;
  if (status >= 500) return AttemptOutcome::kServerError;
  return AttemptOutcome::kSuccess;
}

std::optional<std::chrono::milliseconds> BackoffDelay(const config::RetryPolicy& policy,
                                                      int next_attempt, double unit,
                                                      std::optional<std::chrono::milliseconds> retry_after) {
  if (retry_after && *retry_after > policy.max_backoff) return std::nullopt;
  int exponent = std::min(next_attempt - 2, 30);
  double ceiling = static_cast<double>(policy.base_backoff.count()) * static_cast<double>(1ll << exponent);
  ceiling = std::min(ceiling, static_cast<double>(policy.max_backoff.count()));
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(ceiling * unit));
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return delay;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (auto secs = ParseUint(value)) {
    if (*secs > 86400 * 365) return std::nullopt;
    return std::chrono::milliseconds(*secs * 1000);
  }
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (when <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
}

}  // namespace ap::gateway
