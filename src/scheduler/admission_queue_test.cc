// scheduler/admission_queue_test.cc — bound, timeout, priority order and tenant fairness of the
// gateway-side waiting queue, driven on one io_context.
#include "scheduler/admission_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace ap::scheduler {
namespace {
namespace net = boost::asio;
using std::chrono::milliseconds;

struct Harness {
  net::io_context ioc;
  AdmissionQueue queue{4};
  std::vector<std::string> order;  // who got through, in order
  std::vector<AdmissionQueue::Outcome> outcomes;

  void Spawn(std::string name, std::string tenant, int priority, milliseconds timeout = milliseconds(5000)) {
    net::co_spawn(ioc, [this, name, tenant, priority, timeout]() -> net::awaitable<void> {
      auto o = co_await queue.Wait(tenant, priority, timeout);
      outcomes.push_back(o);
      if (o == AdmissionQueue::Outcome::kWoken) order.push_back(name);
    }, net::detached);
  }
  void RunFor(milliseconds d) {
    ioc.restart();
    ioc.run_for(d);
  }
};

TEST(AdmissionQueue, BoundedWithImmediateRefusal) {
  Harness h;
  for (int i = 0; i < 5; ++i) h.Spawn("r" + std::to_string(i), "t", 0);
  h.RunFor(milliseconds(20));
  EXPECT_EQ(h.queue.size(), 4u);
  ASSERT_EQ(h.outcomes.size(), 1u);
  EXPECT_EQ(h.outcomes[0], AdmissionQueue::Outcome::kFull);
  EXPECT_EQ(h.queue.Wake(10), 4u);
  h.RunFor(milliseconds(20));
  EXPECT_EQ(h.order, (std::vector<std::string>{"r0", "r1", "r2", "r3"}));
  EXPECT_EQ(h.queue.size(), 0u);
}

TEST(AdmissionQueue, TimesOutAndLeavesTheQueue) {
  Harness h;
  h.Spawn("slow", "t", 0, milliseconds(30));
  h.RunFor(milliseconds(10));
  EXPECT_EQ(h.queue.size(), 1u);
  h.RunFor(milliseconds(100));
  ASSERT_EQ(h.outcomes.size(), 1u);
  EXPECT_EQ(h.outcomes[0], AdmissionQueue::Outcome::kTimeout);
  EXPECT_EQ(h.queue.size(), 0u);
  EXPECT_EQ(h.queue.Wake(1), 0u);
}

TEST(AdmissionQueue, HigherPriorityFirstThenTenantsTakeTurns) {
  Harness h;
  h.queue.Wake(0);
  AdmissionQueue big{100};
  std::vector<std::string> order;
  auto spawn = [&](std::string name, std::string tenant, int prio) {
    net::co_spawn(h.ioc, [&, name, tenant, prio]() -> net::awaitable<void> {
      if (co_await big.Wait(tenant, prio, milliseconds(5000)) == AdmissionQueue::Outcome::kWoken)
        order.push_back(name);
    }, net::detached);
  };
  // Tenant a floods first; b and c arrive later; one high-priority request arrives last.
  for (int i = 0; i < 4; ++i) spawn("a" + std::to_string(i), "a", 0);
  spawn("b0", "b", 0);
  spawn("b1", "b", 0);
  spawn("c0", "c", 0);
  spawn("vip", "z", 5);
  h.RunFor(milliseconds(20));
  EXPECT_EQ(big.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    big.Wake(1);
    h.RunFor(milliseconds(5));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"vip", "a0", "b0", "c0", "a1", "b1", "a2", "a3"}));
}

TEST(AdmissionQueue, WakeFromAnotherThread) {
  Harness h;
  h.Spawn("x", "t", 0);
  h.RunFor(milliseconds(10));
  std::thread waker([&] { h.queue.Wake(1); });
  waker.join();
  h.RunFor(milliseconds(20));
  EXPECT_EQ(h.order, (std::vector<std::string>{"x"}));
}

}  // namespace
}  // namespace ap::scheduler
