// telemetry/writer.cc — see writer.h. The only thread that calls Store::Write.
#include "telemetry/writer.h"

#include <time.h>

#include <algorithm>

#include "base/log.h"
#include "base/thread.h"

namespace ap::telemetry {
namespace {
// A background writer's priority outside its idle writes: batch (a fair share, like normal, but
// its wake-ups, the linger timer's above all, never preempt a gateway thread).
constexpr base::ThreadPriority kAwake = base::ThreadPriority::kBatch;
}  // namespace

Writer::Writer(std::shared_ptr<Store> store, WriterOptions options)
    : store_(std::move(store)),
      options_(options),
      boost_depth_(static_cast<int64_t>(std::clamp<size_t>(
          options.boost_depth ? options.boost_depth : options.queue_capacity / 8, 1,
          std::max<size_t>(1, options.queue_capacity)))),
      thread_([this] { Run(); }) {}

Writer::~Writer() { Stop(); }

void Writer::BoostLocked() {
  if (!resting_) return;
  resting_ = false;
  boost_epoch_.fetch_add(1, std::memory_order_acq_rel);
  if (base::SetThreadPriority(thread_id_.load(std::memory_order_relaxed), kAwake)) {
    boosts_.fetch_add(1, std::memory_order_relaxed);
  } else if (!boost_refused_) {
    boost_refused_ = true;  // the probe said it is allowed; say so once if the kernel disagrees
    log::Error("telemetry", "the kernel refused to return the telemetry writer from idle priority", {});
  }
}

bool Writer::WaitedOnLocked() const {
  return stopping_ || pending_callbacks_ > 0 || flush_waiters_ > 0 ||
         depth_.load(std::memory_order_relaxed) >= boost_depth_;
}

bool Writer::EnterBackground() {
  uint64_t epoch = 0;
  {
    std::lock_guard lock(mu_);
    if (!background_ || WaitedOnLocked()) return false;
    resting_ = true;
    epoch = boost_epoch_.load(std::memory_order_acquire);
  }
  // No lock is held from here until LeaveBackground: at idle priority the thread may wait long
  // for a CPU, and nobody may wait on it meanwhile.
  base::SetThreadPriority(0, base::ThreadPriority::kIdle);
  if (boost_epoch_.load(std::memory_order_acquire) != epoch) {  // boosted before the switch landed
    base::SetThreadPriority(0, kAwake);
    return false;
  }
  return true;
}

void Writer::LeaveBackground() {
  base::SetThreadPriority(0, kAwake);  // before taking any lock
  std::lock_guard lock(mu_);
  resting_ = false;
}

bool Writer::TryEnqueue(std::vector<Item>&& items, Done done) {
  return Enqueue(static_cast<int64_t>(items.size()), [&] {
    pending_callbacks_ += static_cast<bool>(done);
    queue_.push_back(Entry{std::move(items), std::move(done)});
    ++enqueued_seq_;
  });
}

bool Writer::TryEnqueue(const GatewayRequest& request) {
  return TryEnqueueRequest([&](GatewayRequest& q) noexcept { q = request; });
}

void Writer::KeepOffCpus(CpuSource cpus) {
  std::lock_guard lock(keep_off_mu_);
  keep_off_ = std::move(cpus);
}

void Writer::Place() {
  // The process's CPUs as they are now (the main thread's mask, which a cgroup cpuset or taskset
  // changes along with every thread's), and this thread's as the kernel holds it.
  const base::CpuSet allowed = base::ThreadCpus(base::ProcessId());
  if (allowed.none()) return;  // unreadable (more CPUs than a CpuSet holds): leave it to the kernel
  base::CpuSet want = allowed;
  {
    std::lock_guard lock(keep_off_mu_);
    if (keep_off_) {
      const base::CpuSet rest = allowed & ~keep_off_();
      if (rest.any()) want = rest;
    }
  }
  if (want == base::ThreadCpus()) return;
  if (!base::SetThreadCpus(0, want) && !placement_refused_) {
    placement_refused_ = true;
    log::Warn("telemetry", "the kernel refused to move the telemetry writer off the event loops' CPUs", {});
  }
}

void Writer::Flush() {
  std::unique_lock lock(mu_);
  BoostLocked();  // someone waits
  ++flush_waiters_;
  const uint64_t target = enqueued_seq_, requests = enqueued_requests_;
  flushed_.wait(lock, [&] { return finished_seq_ >= target && finished_requests_ >= requests; });
  --flush_waiters_;
}

void Writer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    BoostLocked();  // drain at full speed
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::Run() {
  base::NameThisThread("ap-tel-writer");
  // Decided before taking any lock: the probe runs a thread at idle priority.
  const bool background = options_.background && base::CanLeaveIdlePriority();
  if (options_.background) base::SetThreadPriority(0, kAwake);
  {
    std::lock_guard lock(mu_);
    thread_id_.store(base::ThisThreadId(), std::memory_order_release);
    background_ = background;
  }
  auto next_retention = std::chrono::steady_clock::now();
  std::vector<Entry> batch;
  std::vector<std::span<const Item>> groups;
  std::vector<GatewayRequest> requests;  // swapped with requests_: both keep their capacity
  for (;;) {
    batch.clear();
    groups.clear();
    requests.clear();
    {
      std::unique_lock lock(mu_);
      auto queued = [&] { return !queue_.empty() || !requests_.empty(); };
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || queued(); });
      // Linger briefly so a trickle of one-record entries becomes one transaction instead of
      // hundreds: a commit costs about as much as a few hundred row inserts.
      if (!stopping_ && queued() && options_.linger.count() > 0)
        wake_.wait_for(lock, options_.linger, [&] {
          return stopping_ || depth_.load(std::memory_order_relaxed) >= static_cast<int64_t>(options_.max_batch);
        });
      // Compact requests are taken whole (the queue's capacity bounds them), then item entries
      // up to max_batch items in all.
      requests.swap(requests_);
      size_t taken = requests.size() * 2;
      while (!queue_.empty() && ((batch.empty() && requests.empty()) ||
                                 taken + queue_.front().items.size() <= options_.max_batch)) {
        taken += queue_.front().items.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (batch.empty() && requests.empty() && stopping_) break;
    }
    if (!batch.empty() || !requests.empty()) {
      int64_t n = static_cast<int64_t>(requests.size()) * 2;
      for (const auto& e : batch) {
        groups.emplace_back(e.items);
        n += static_cast<int64_t>(e.items.size());
      }
      if (options_.background) Place();  // before the clock: write_cpu_ns counts the store only
      timespec cpu0{}, cpu1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
      const bool idle = EnterBackground();
      auto result = store_->WriteBatch(groups, requests);
      if (idle) LeaveBackground();
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
      cpu_ns_.fetch_add((cpu1.tv_sec - cpu0.tv_sec) * 1'000'000'000 + (cpu1.tv_nsec - cpu0.tv_nsec),
                        std::memory_order_relaxed);
      if (result) {
        written_.fetch_add(n, std::memory_order_relaxed);
        batches_.fetch_add(1, std::memory_order_relaxed);
      } else {
        failed_.fetch_add(n, std::memory_order_relaxed);
        log::Error("telemetry", "batch write failed", {{"items", n}, {"error", result.error()}});
      }
      for (auto& e : batch)
        if (e.done) e.done(static_cast<bool>(result));
      depth_.fetch_sub(n, std::memory_order_relaxed);
      {
        std::lock_guard lock(mu_);
        finished_seq_ += batch.size();
        finished_requests_ += requests.size();
        for (const auto& e : batch) pending_callbacks_ -= static_cast<bool>(e.done);
      }
      flushed_.notify_all();
    }
    if (options_.retention.count() > 0 && std::chrono::steady_clock::now() >= next_retention) {
      next_retention = std::chrono::steady_clock::now() + options_.retention_interval;
      int64_t cutoff = NowMicros() - options_.retention.count() * 1'000'000;
      auto deleted = store_->DeleteOlderThan(cutoff);
      if (!deleted) log::Error("telemetry", "retention failed", {{"error", deleted.error()}});
      else if (*deleted > 0) log::Info("telemetry", "retention", {{"traces_deleted", *deleted}});
    }
  }
}

}  // namespace ap::telemetry
