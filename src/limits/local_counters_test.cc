// limits/local_counters_test.cc — the counter semantics of counters.h, run against LocalCounters
// and (when redis-server is installed) RedisCounters with the same cases, so the C++ and Lua
// implementations cannot drift apart.
#include <gtest/gtest.h>

#include "limits/counters.h"
#include "limits/internal/redis.h"
#include "limits/testing/admit_on_loop.h"
#include "limits/testing/redis_server.h"

namespace ap::limits {
namespace {

using testing::AdmitOn;

TEST(LocalCounters, RequestBucketAllowsTheBurstThenRefillsPerMinute) {
  int64_t now = 1'000'000;
  LocalCounters c(nullptr, nullptr, [&] { return now; });
  Check rpm{CounterKind::kRequests, "k:r", 60, 1, 0};
  for (int i = 0; i < 60; ++i) ASSERT_EQ(c.AdmitNow({rpm}).outcome, Decision::Outcome::kAdmitted) << i;
  auto refused = c.AdmitNow({rpm});
  EXPECT_EQ(refused.outcome, Decision::Outcome::kRefused);
  EXPECT_EQ(refused.refused, 0);
  now += 1000;  // one request per second refills
  EXPECT_EQ(c.AdmitNow({rpm}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(c.AdmitNow({rpm}).outcome, Decision::Outcome::kRefused);
}

TEST(LocalCounters, AdmissionIsAllOrNothing) {
  int64_t now = 0;
  LocalCounters c(nullptr, nullptr, [&] { return now; });
  Check key{CounterKind::kRequests, "key:r", 100, 1, 0};
  Check team{CounterKind::kRequests, "team:r", 1, 1, 0};
  EXPECT_EQ(c.AdmitNow({key, team}).outcome, Decision::Outcome::kAdmitted);
  auto d = c.AdmitNow({key, team});
  EXPECT_EQ(d.outcome, Decision::Outcome::kRefused);
  EXPECT_EQ(d.refused, 1);
  EXPECT_DOUBLE_EQ(c.Read(CounterKind::kRequests, "key:r", 100), 99);  // the refusal took nothing
}

TEST(LocalCounters, TokensAreReservedThenReconciled) {
  int64_t now = 0;
  LocalCounters c(nullptr, nullptr, [&] { return now; });
  Check tpm{CounterKind::kTokens, "k:t", 1000, 600, 0};
  ASSERT_EQ(c.AdmitNow({tpm}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(c.AdmitNow({tpm}).outcome, Decision::Outcome::kRefused);  // 400 left < 600
  c.Settle({{CounterKind::kTokens, "k:t", 1000, 100 - 600, -1, ""}});  // used 100 of 600
  EXPECT_DOUBLE_EQ(c.Read(CounterKind::kTokens, "k:t", 1000), 900);
  c.Settle({{CounterKind::kTokens, "k:t", 1000, 2000, -1, ""}});  // a request that overran
  EXPECT_DOUBLE_EQ(c.Read(CounterKind::kTokens, "k:t", 1000), -1100);
}

TEST(LocalCounters, ParallelLeasesAreReleased) {
  LocalCounters c(nullptr, nullptr);
  Check par{CounterKind::kParallel, "k:p", 2, 1, 0};
  EXPECT_EQ(c.AdmitNow({par}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(c.AdmitNow({par}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(c.AdmitNow({par}).outcome, Decision::Outcome::kRefused);
  c.Settle({{CounterKind::kParallel, "k:p", 2, 0, -1, ""}});
  EXPECT_EQ(c.AdmitNow({par}).outcome, Decision::Outcome::kAdmitted);
}

TEST(LocalCounters, BudgetRefusesPastTheLimitAndAlertsOnceAtTheSoftLimit) {
  std::vector<std::string> alerts;
  LocalCounters c(nullptr, [&](const std::string& scope, double, double) { alerts.push_back(scope); });
  Check spend{CounterKind::kSpend, "k:s@0", 1.0, 0.3, 3600};
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    auto d = c.AdmitNow({spend});
    if (d.outcome != Decision::Outcome::kAdmitted) break;
    ++admitted;
    c.Settle({{CounterKind::kSpend, "k:s@0", 1.0, 0.25 - 0.3, 0.5, "team 'ml'", 0.25}});  // cost 0.25
  }
  // 3 x 0.25 spent; a fourth's reservation (0.30) would not fit under 1.00: stopped within one
  // request of the limit, never past it while reservations cover the cost.
  EXPECT_EQ(admitted, 3);
  EXPECT_DOUBLE_EQ(c.Read(CounterKind::kSpend, "k:s@0", 1.0), 0.75);
  EXPECT_EQ(alerts, std::vector<std::string>{"team 'ml'"});
}

// The same cases through Redis, with slices (limits small enough that a slice is one request)
// and in the exact mode.
class RedisCounters : public ::testing::TestWithParam<double> {};
INSTANTIATE_TEST_SUITE_P(SliceFraction, RedisCounters, ::testing::Values(1.0 / 256, 0.0));

TEST_P(RedisCounters, MatchLocalSemantics) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  auto local = std::make_shared<LocalCounters>(nullptr, nullptr);
  std::vector<std::string> alerts;
  RedisCountersOptions options{redis.url(), std::chrono::milliseconds(500), std::chrono::milliseconds(5), true};
  options.slice_fraction = GetParam();
  auto opened = OpenRedisCounters(options, local, [&](const std::string& s, double, double) { alerts.push_back(s); });
  ASSERT_TRUE(opened) << opened.error();
  Counters& c = **opened;

  Check rpm{CounterKind::kRequests, "t:r", 5, 1, 0};
  for (int i = 0; i < 5; ++i) ASSERT_EQ(AdmitOn(c, {rpm}).outcome, Decision::Outcome::kAdmitted) << i;
  auto refused = AdmitOn(c, {rpm});
  EXPECT_EQ(refused.outcome, Decision::Outcome::kRefused);
  EXPECT_FALSE(refused.degraded);

  // Redis restarted (scripts gone): the next admission loads the script again.
  internal::RedisSync sync(*internal::ParseRedisUrl(redis.url()), std::chrono::milliseconds(500));
  ASSERT_TRUE(sync.Command({"SCRIPT", "FLUSH"}));
  Check key{CounterKind::kRequests, "t:key", 100, 1, 0};
  auto d = AdmitOn(c, {key, rpm});
  EXPECT_EQ(d.outcome, Decision::Outcome::kRefused);
  EXPECT_EQ(d.refused, 1);
  EXPECT_NEAR(c.Read(CounterKind::kRequests, "t:key", 100), 100, 0.1);  // nothing taken

  Check tpm{CounterKind::kTokens, "t:t", 1000, 600, 0};
  EXPECT_EQ(AdmitOn(c, {tpm}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(c, {tpm}).outcome, Decision::Outcome::kRefused);
  c.Settle({{CounterKind::kTokens, "t:t", 1000, -500, -1, ""}}, nullptr);
  c.Flush();
  EXPECT_NEAR(c.Read(CounterKind::kTokens, "t:t", 1000), 900, 1);

  Check par{CounterKind::kParallel, "t:p", 1, 1, 0};
  EXPECT_EQ(AdmitOn(c, {par}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(c, {par}).outcome, Decision::Outcome::kRefused);
  c.Settle({{CounterKind::kParallel, "t:p", 1, 0, -1, ""}}, nullptr);
  c.Flush();
  EXPECT_EQ(AdmitOn(c, {par}).outcome, Decision::Outcome::kAdmitted);

  Check spend{CounterKind::kSpend, "t:s@0", 1.0, 0.3, 3600};
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    if (AdmitOn(c, {spend}).outcome != Decision::Outcome::kAdmitted) break;
    ++admitted;
    c.Settle({{CounterKind::kSpend, "t:s@0", 1.0, 0.25 - 0.3, 0.5, "team 'ml'", 0.25}}, nullptr);
    c.Flush();
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_NEAR(c.Read(CounterKind::kSpend, "t:s@0", 1.0), 0.75, 1e-9);
  EXPECT_EQ(alerts, std::vector<std::string>{"team 'ml'"});
}

TEST(RedisCountersAuth, AuthenticateOnTheRequestPathConnection) {
  testing::RedisServer redis("s3cret-pass");
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  std::string url = "redis://default:s3cret-pass@127.0.0.1:" + std::to_string(redis.port()) + "/1";
  auto c = OpenRedisCounters({url, std::chrono::milliseconds(500), std::chrono::milliseconds(5), false},
                             std::make_shared<LocalCounters>(nullptr, nullptr), nullptr);
  ASSERT_TRUE(c) << c.error();
  Check rpm{CounterKind::kRequests, "auth:r", 1, 1, 0};
  EXPECT_EQ(AdmitOn(**c, {rpm}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(**c, {rpm}).outcome, Decision::Outcome::kRefused);  // reached Redis both times
}

TEST(RedisCountersFailure, UnreachableRedisFailsOpenToLocalLimitsOrClosed) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  auto local = std::make_shared<LocalCounters>(nullptr, nullptr);
  auto open = OpenRedisCounters({redis.url(), std::chrono::milliseconds(100), std::chrono::milliseconds(5), true}, local, nullptr);
  auto closed = OpenRedisCounters({redis.url(), std::chrono::milliseconds(100), std::chrono::milliseconds(5), false},
                                  std::make_shared<LocalCounters>(nullptr, nullptr), nullptr);
  ASSERT_TRUE(open && closed);
  redis.Stop();
  Check rpm{CounterKind::kRequests, "x:r", 1, 1, 0};
  auto a = AdmitOn(**open, {rpm});
  EXPECT_EQ(a.outcome, Decision::Outcome::kAdmitted);
  EXPECT_TRUE(a.degraded);
  EXPECT_EQ(AdmitOn(**open, {rpm}).outcome, Decision::Outcome::kRefused);  // the local limit holds
  EXPECT_EQ(Health().redis_up.load(), 0);
  auto b = AdmitOn(**closed, {rpm});
  EXPECT_EQ(b.outcome, Decision::Outcome::kUnavailable);
  EXPECT_NE(b.error.find("fail closed"), std::string::npos);
}

}  // namespace
}  // namespace ap::limits
