// scheduler/admission_queue.h — where requests wait at the gateway while every replica of a pool
// is saturated, instead of piling onto replicas' own queues.
//
// Bounded (a request past the bound is refused at once, the caller answers 429). Order: higher
// priority first; within a priority, tenants take turns (round robin over tenants, FIFO within a
// tenant), so one tenant's burst cannot starve the others. A waiting request is a coroutine
// parked on a steady_timer of its own executor; Wake() (from any thread: OnFinish, the scraper)
// marks the next waiter woken and posts the timer's cancellation to that executor. Waiting never
// blocks a thread; the lock guards only the bookkeeping.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ap::scheduler {

class AdmissionQueue {
 public:
  enum class Outcome { kWoken, kTimeout, kFull };

  explicit AdmissionQueue(size_t max) : max_(max) {}

  // Parks the calling coroutine until Wake() reaches it or `timeout` passes. `front`: rejoin at
  // the head of its tenant's line (a woken request that found no room after all).
  boost::asio::awaitable<Outcome> Wait(const std::string& tenant, int priority,
                                       std::chrono::milliseconds timeout, bool front = false);
  // Wakes up to `n` waiters in priority/fairness order; returns how many.
  size_t Wake(size_t n = 1);
  size_t size() const;
  size_t max() const { return max_; }

 private:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    bool woken = false;  // under mu_
  };
  // One priority level: tenants in turn order, each with its FIFO of waiters.
  struct Level {
    std::deque<std::string> turn;
    std::map<std::string, std::deque<std::shared_ptr<Waiter>>> lines;
  };
  void RemoveLocked(int priority, const std::string& tenant, const std::shared_ptr<Waiter>& w);

  const size_t max_;
  mutable std::mutex mu_;
  std::map<int, Level, std::greater<int>> levels_;
  size_t size_ = 0;
};

}  // namespace ap::scheduler
