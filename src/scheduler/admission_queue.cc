// scheduler/admission_queue.cc — the bounded, prioritised, tenant-fair waiting queue.
#include "scheduler/admission_queue.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ap::scheduler {
namespace net = boost::asio;

net::awaitable<AdmissionQueue::Outcome> AdmissionQueue::Wait(const std::string& tenant, int priority,
                                                             std::chrono::milliseconds timeout, bool front) {
  auto ex = co_await net::this_coro::executor;
  auto w = std::make_shared<Waiter>(ex);
  w->timer.expires_after(timeout);
  {
    std::lock_guard lock(mu_);
    if (size_ >= max_ && !front) co_return Outcome::kFull;
    auto& level = levels_[priority];
    auto& line = level.lines[tenant];
    if (line.empty() && std::find(level.turn.begin(), level.turn.end(), tenant) == level.turn.end())
      front ? level.turn.push_front(tenant) : level.turn.push_back(tenant);
    front ? line.push_front(w) : line.push_back(w);
    ++size_;
  }
  co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
  std::lock_guard lock(mu_);
  if (w->woken) co_return Outcome::kWoken;
  RemoveLocked(priority, tenant, w);
  co_return Outcome::kTimeout;
}

void AdmissionQueue::RemoveLocked(int priority, const std::string& tenant, const std::shared_ptr<Waiter>& w) {
  auto lit = levels_.find(priority);
  if (lit == levels_.end()) return;
  auto& level = lit->second;
  auto tit = level.lines.find(tenant);
  if (tit == level.lines.end()) return;
  auto& line = tit->second;
  auto it = std::find(line.begin(), line.end(), w);
  if (it == line.end()) return;
  line.erase(it);
  --size_;
  if (line.empty()) {
    level.lines.erase(tit);
    level.turn.erase(std::remove(level.turn.begin(), level.turn.end(), tenant), level.turn.end());
    if (level.lines.empty()) levels_.erase(lit);
  }
}

size_t AdmissionQueue::Wake(size_t n) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    while (woken.size() < n && !levels_.empty()) {
      auto lit = levels_.begin();
      auto& level = lit->second;
      std::string tenant = std::move(level.turn.front());
      level.turn.pop_front();
      auto& line = level.lines[tenant];
      auto w = std::move(line.front());
      line.pop_front();
      --size_;
      w->woken = true;
      woken.push_back(std::move(w));
      if (line.empty()) level.lines.erase(tenant);
      else level.turn.push_back(std::move(tenant));  // next turn goes to the next tenant
      if (level.lines.empty()) levels_.erase(lit);
    }
  }
  for (auto& w : woken) {
    auto ex = w->timer.get_executor();
    net::post(ex, [w] { w->timer.cancel(); });
  }
  return woken.size();
}

size_t AdmissionQueue::size() const {
  std::lock_guard lock(mu_);
  return size_;
}

}  // namespace ap::scheduler
