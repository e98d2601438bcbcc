#include "base/thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <thread>

namespace ap::base {
namespace {

TEST(NameThisThread, NamesTheCallingThreadCutTo15Bytes) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("ap-a-rather-long-thread-name");
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  });
  t.join();
  EXPECT_EQ(seen, "ap-a-rather-lon");
}

TEST(ThreadPriority, AThreadSetsItsOwnPolicyAndReadsItBack) {
  ThreadPriority batch = ThreadPriority::kNormal, idle = ThreadPriority::kNormal;
  int id = 0;
  std::thread t([&] {
    id = ThisThreadId();
    ASSERT_TRUE(SetThreadPriority(0, ThreadPriority::kBatch));  // always allowed: same nice
    batch = ThreadPriorityOf(0);
    ASSERT_TRUE(SetThreadPriority(0, ThreadPriority::kIdle));   // always allowed: lower
    idle = ThreadPriorityOf(id);
  });
  t.join();
  EXPECT_GT(id, 0);
  EXPECT_EQ(batch, ThreadPriority::kBatch);
  EXPECT_EQ(idle, ThreadPriority::kIdle);
}

TEST(ThreadPriority, AnotherThreadIsSetByItsIdAndLeavingIdleFollowsTheProbe) {
  std::atomic<int> id{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    SetThreadPriority(0, ThreadPriority::kIdle);
    id = ThisThreadId();
    while (!done) std::this_thread::yield();
  });
  while (id == 0) std::this_thread::yield();
  EXPECT_EQ(ThreadPriorityOf(id), ThreadPriority::kIdle);
  // Whatever this machine permits, the probe predicts it.
  EXPECT_EQ(SetThreadPriority(id, ThreadPriority::kNormal), CanLeaveIdlePriority());
  if (CanLeaveIdlePriority()) {
    EXPECT_EQ(ThreadPriorityOf(id), ThreadPriority::kNormal);
  }
  done = true;
  t.join();
}

TEST(ThreadCpus, AThreadNarrowedToOneCpuRunsThereAndWidensBack) {
  const CpuSet all = ThreadCpus();
  if (all.none()) GTEST_SKIP() << "more possible CPUs than a CpuSet holds";
  int only = -1;
  for (int cpu = kMaxCpus - 1; cpu >= 0 && only < 0; --cpu)
    if (all.test(cpu)) only = cpu;  // the highest allowed: not the first by accident
  CpuSet narrowed, widened;
  int ran_on = -2;
  std::thread t([&] {
    CpuSet one;
    one.set(only);
    ASSERT_TRUE(SetThreadCpus(0, one));
    narrowed = ThreadCpus();
    ran_on = CurrentCpu();  // the kernel moved it before SetThreadCpus returned
    ASSERT_TRUE(SetThreadCpus(0, all));
    widened = ThreadCpus();
  });
  t.join();
  EXPECT_EQ(narrowed.count(), 1u);
  EXPECT_TRUE(narrowed.test(only));
  EXPECT_EQ(ran_on, only);
  EXPECT_EQ(widened, all);
}

TEST(ThreadCpus, AnotherThreadIsSetByItsIdAndAnEmptySetIsRefused) {
  std::atomic<int> id{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    id = ThisThreadId();
    while (!done) std::this_thread::yield();
  });
  while (id == 0) std::this_thread::yield();
  const CpuSet all = ThreadCpus(id);
  if (all.none()) {
    done = true;
    t.join();
    GTEST_SKIP() << "more possible CPUs than a CpuSet holds";
  }
  EXPECT_EQ(ThreadCpus(ProcessId()), all);  // the main thread's mask: the process's CPUs
  EXPECT_FALSE(SetThreadCpus(id, CpuSet{}));
  EXPECT_EQ(ThreadCpus(id), all);  // unchanged
  CpuSet first;
  for (int cpu = 0; cpu < kMaxCpus && first.none(); ++cpu)
    if (all.test(cpu)) first.set(cpu);
  EXPECT_TRUE(SetThreadCpus(id, first));
  EXPECT_EQ(ThreadCpus(id), first);
  done = true;
  t.join();
}

}  // namespace
}  // namespace ap::base
