// limits/redis_counters_test.cc — replicas sharing counters through slices: a global limit
// holds, what a leaving replica holds goes back, a dead replica's slots and budget shares are
// reaped, and most admissions never reach Redis.
#include <gtest/gtest.h>

#include <thread>

#include "limits/counters.h"
#include "limits/internal/redis.h"
#include "limits/testing/admit_on_loop.h"
#include "limits/testing/redis_server.h"

namespace ap::limits {
namespace {

using testing::AdmitOn;

std::unique_ptr<Counters> Replica(const testing::RedisServer& redis) {
  auto c = OpenRedisCounters({redis.url(), std::chrono::milliseconds(500), std::chrono::milliseconds(5), true},
                             std::make_shared<LocalCounters>(nullptr, nullptr), nullptr);
  EXPECT_TRUE(c) << c.error();
  return std::move(*c);
}

int64_t Calls(internal::RedisSync& sync, const char* command) {
  auto r = sync.Command({"INFO", "commandstats"});
  if (!r) return -1;
  std::string needle = std::string("cmdstat_") + command + ":calls=";
  auto at = r->str.find(needle);
  return at == std::string::npos ? 0 : std::strtoll(r->str.c_str() + at + needle.size(), nullptr, 10);
}

TEST(RedisReplicas, AGlobalLimitHoldsAndMostAdmissionsStayLocal) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  internal::RedisSync sync(*internal::ParseRedisUrl(redis.url()), std::chrono::milliseconds(500));
  auto a = Replica(redis), b = Replica(redis), c = Replica(redis);
  Counters* replicas[] = {a.get(), b.get(), c.get()};
  Check rpm{CounterKind::kRequests, "ap:team:shared:r", 25600, 1, 0};  // slices of 100
  const int64_t before = Calls(sync, "evalsha");
  const auto started = std::chrono::steady_clock::now();
  int admitted = 0, refused = 0;
  for (int i = 0; refused < 30; ++i) {
    auto d = AdmitOn(*replicas[i % 3], {rpm});
    if (d.outcome == Decision::Outcome::kAdmitted) ++admitted;
    else refused++;
    ASSERT_NE(d.outcome, Decision::Outcome::kUnavailable);
    ASSERT_FALSE(d.degraded);
  }
  // Never more than the bucket plus what refilled meanwhile (427/s), and short of it by at most
  // the slices the replicas hold unused.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(admitted, 25600 + 427 * seconds + 1);
  EXPECT_GE(admitted, 25600 - 3 * 200);
  const int64_t calls = Calls(sync, "evalsha") - before;
  EXPECT_LT(calls, admitted / 20) << calls << " script calls for " << admitted << " admissions";
}

TEST(RedisReplicas, ALeavingReplicaGivesBackItsSlotsAndBudget) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  auto a = Replica(redis);
  Check par{CounterKind::kParallel, "ap:team:p3:p", 3, 1, 0};
  Check spend{CounterKind::kSpend, "ap:team:p3:s@0", 1.0, 0.4, 3600};
  ASSERT_EQ(AdmitOn(*a, {par, spend}).outcome, Decision::Outcome::kAdmitted);
  ASSERT_EQ(AdmitOn(*a, {par, spend}).outcome, Decision::Outcome::kAdmitted);
  auto b = Replica(redis);
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kRefused);  // $0.80 reserved by a
  a.reset();  // shut down (its requests drained): what it held goes back
  std::this_thread::sleep_for(std::chrono::milliseconds(15));  // b's refusal is remembered 10 ms
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kAdmitted);
}

TEST(RedisReplicas, ADeadReplicasSlotsAndBudgetSharesAreReaped) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  internal::RedisSync sync(*internal::ParseRedisUrl(redis.url()), std::chrono::milliseconds(500));
  // What a replica that died holding 2 slots and $0.90 of a budget leaves behind: its beat ran
  // out (score in the past).
  ASSERT_TRUE(sync.Command({"HSET", "ap:team:dead", "p", "2", "p#gone", "2", "s@0", "0.9", "s@0#gone", "0.9"}));
  ASSERT_TRUE(sync.Command({"SADD", "ap:held:gone", "ap:team:dead:p", "ap:team:dead:s@0"}));
  ASSERT_TRUE(sync.Command({"ZADD", "ap:replicas", "1", "gone"}));
  auto b = Replica(redis);  // its first beat reaps
  Check par{CounterKind::kParallel, "ap:team:dead:p", 2, 1, 0};
  Check spend{CounterKind::kSpend, "ap:team:dead:s@0", 1.0, 0.5, 3600};
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kAdmitted);
  EXPECT_EQ(AdmitOn(*b, {par, spend}).outcome, Decision::Outcome::kRefused);
  auto gone = sync.Command({"ZSCORE", "ap:replicas", "gone"});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->type, internal::RedisReply::Type::kNil);
}

TEST(RedisReplicas, SpendIsSettledInBatchesAndReadBack) {
  testing::RedisServer redis;
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  auto a = Replica(redis), b = Replica(redis);
  Check spend{CounterKind::kSpend, "ap:team:pay:s@0", 100.0, 0.01, 3600};
  for (int i = 0; i < 200; ++i) {
    Counters& r = i % 2 ? *a : *b;
    ASSERT_EQ(AdmitOn(r, {spend}).outcome, Decision::Outcome::kAdmitted);
    r.Settle({{CounterKind::kSpend, spend.key, 100.0, 0.004 - 0.01, -1, "team 'pay'", 0.004, 3600}}, nullptr);
  }
  a->Flush();
  b->Flush();
  EXPECT_NEAR(a->Read(CounterKind::kSpend, std::string(spend.key), 100.0), 0.8, 1e-9);
}

}  // namespace
}  // namespace ap::limits
