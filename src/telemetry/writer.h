// telemetry/writer.h — the single writer thread between the request path and the store.
//
// Producers (gateway workers, ingestion handlers) call TryEnqueue(), which takes a short mutex,
// appends to a bounded queue and returns at once: it never waits for disk, and when the queue is
// full it drops the items and counts them (agentplane_telemetry_dropped_items_total). The writer
// thread takes everything queued (up to max_batch items) and commits it with one Store::WriteGroups,
// then runs each entry's `done` callback with the outcome — ingestion acknowledges only what was
// committed. It also runs retention once an hour when configured. Stop() drains and joins.
//
// Background priority: on a busy machine the writer's commits (about a millisecond every linger
// period) used to preempt a gateway thread on its core, and the load balancer then left a core
// idle while the gateway caught up (on the 2-core bench machine: 1.8 µs of idle CPU per request).
// So by default the writer runs its store writes at idle priority (base::ThreadPriority::kIdle):
// they use only CPU time the request path leaves. Only the store write: the thread holds none of
// the queue's locks then (at idle priority it may wait long for a CPU, and a producer must never
// wait behind it), and it returns to batch priority (a fair share whose wake-ups never preempt)
// before it takes one again. A write runs at batch priority from the start, or is returned to it
// by a producer (sched_setscheduler on the writer's thread id), while work must not wait: a
// backlog of boost_depth items, an entry whose `done` callback someone waits for (ingestion
// replies), a Flush or Stop. Where the kernel would not let it leave idle priority (no
// CAP_SYS_NICE or RLIMIT_NICE), every write runs at batch priority.
//
// Placement: a background writer also stays off the CPUs the gateway's event loops run on
// (KeepOffCpus, fed by http::Server::LoopCpus), as long as others are allowed. Idle priority
// decides who runs on a CPU, not which CPU a waking thread is sent to: a writer busy on the event
// loop's core made the kernel send the loop's wake-ups to another core (the load generator's and
// upstream's, on the bench machine), where it then waited behind them. Redis's bio_cpulist and
// nginx's worker_cpu_affinity keep background and serving threads apart the same way, by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/thread.h"
#include "telemetry/gateway_request.h"
#include "telemetry/store.h"

namespace ap::telemetry {

struct WriterOptions {
  size_t queue_capacity = 65536;  // items
  size_t max_batch = 65536;       // items per transaction
  std::chrono::milliseconds linger{20};  // wait this long for a batch to fill (0: never)
  std::chrono::seconds retention{0};  // 0: keep everything
  std::chrono::seconds retention_interval{3600};
  bool background = true;  // store writes at idle priority (above); false: normal priority throughout
  size_t boost_depth = 0;  // queued items that keep or return a write to batch priority; 0: capacity / 8 (≤ capacity)
};

class Writer {
 public:
  // Called on the writer thread once the entry's items are committed (true) or failed (false).
  using Done = std::function<void(bool committed)>;

  Writer(std::shared_ptr<Store> store, WriterOptions options);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Never blocks on I/O. False (and `done` is not called) when the queue has no room; `items`
  // is moved from only when it was accepted, so a caller may retry with it.
  bool TryEnqueue(std::vector<Item>&& items, Done done = nullptr);
  // A gateway request in its compact form (gateway_request.h): copied into a reused vector, so
  // queueing it allocates nothing. It counts as two items (its trace and generation) against the
  // capacity and in every counter. Committed before the item groups of the same batch. False
  // when the queue has no room.
  bool TryEnqueue(const GatewayRequest& request);
  // The same, written in place: `fill(GatewayRequest&)` runs under the queue's lock on a record
  // in the queue itself (not run when the queue has no room). It must not throw: the record is
  // counted before it is filled.
  template <typename Fill>
  bool TryEnqueueRequest(Fill&& fill) {
    static_assert(std::is_nothrow_invocable_v<Fill&, GatewayRequest&>, "fill must be noexcept");
    return Enqueue(2, [&] {  // a trace and a generation
      fill(requests_.emplace_back());
      ++enqueued_requests_;
    });
  }
  // The CPUs a background writer keeps off while the process may use others: `cpus()` is asked
  // before each store write (on the writer thread, under a lock of its own that no producer
  // takes) and the writer's affinity set to the process's CPUs less those. Null (the default) or
  // all of them busy: anywhere. Replacing or clearing it waits for a call in progress, so once
  // KeepOffCpus(nullptr) returns the old source is never called again (KeptOffCpus below).
  using CpuSource = std::function<base::CpuSet()>;
  void KeepOffCpus(CpuSource cpus);
  // Blocks until everything enqueued before the call is committed or failed (tests, shutdown).
  void Flush();
  // Commits what is queued and stops the thread; later TryEnqueue calls fail.
  void Stop();

  int64_t depth() const { return depth_.load(std::memory_order_relaxed); }
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  int64_t written() const { return written_.load(std::memory_order_relaxed); }
  int64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  int64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  // CPU time the writer thread spent inside Store::WriteGroups (benchmarks on a shared machine).
  int64_t write_cpu_ns() const { return cpu_ns_.load(std::memory_order_relaxed); }
  size_t capacity() const { return options_.queue_capacity; }
  // The writer thread's kernel id (0 until it started) and how often a backlog, a waiting
  // callback or a flush returned a write of it from idle priority.
  int thread_id() const { return thread_id_.load(std::memory_order_acquire); }
  int64_t boosts() const { return boosts_.load(std::memory_order_relaxed); }
  Store& store() { return *store_; }

 private:
  struct Entry {
    std::vector<Item> items;
    Done done;
  };
  void Run();
  template <typename Push>
  bool Enqueue(int64_t n, Push push);
  // Under mu_: returns a write at idle priority to batch priority.
  void BoostLocked();
  // Under mu_: whether work waits on the writer (a backlog, a callback, a flush, Stop).
  bool WaitedOnLocked() const;
  // The writer's idle-priority section around a store write: entered (true) only when nothing
  // waits on it, with no lock held; left before any lock is taken again.
  bool EnterBackground();
  void LeaveBackground();
  // Before a background write: restricts the thread to the process's CPUs less those keep_off_
  // names (the writer thread only).
  void Place();

  std::shared_ptr<Store> store_;
  WriterOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::deque<Entry> queue_;
  std::vector<GatewayRequest> requests_;  // queued compact requests (swapped out by the writer)
  bool stopping_ = false;
  uint64_t enqueued_seq_ = 0;   // entries accepted
  uint64_t finished_seq_ = 0;   // entries committed or failed
  // The same for compact requests (each lane is first in, first out; the lanes are not).
  uint64_t enqueued_requests_ = 0, finished_requests_ = 0;
  // Background priority (under mu_): whether the writer writes at idle priority at all, whether
  // it is in such a write now, whether a boost was ever refused, how many queued entries have a
  // `done` callback; boost_epoch_ counts boosts (EnterBackground's race with a producer).
  bool background_ = false;
  bool resting_ = false;
  bool boost_refused_ = false;
  std::atomic<uint64_t> boost_epoch_{0};
  int64_t pending_callbacks_ = 0;
  int flush_waiters_ = 0;
  int64_t boost_depth_ = 0;
  std::mutex keep_off_mu_;  // held while keep_off_ is called or replaced; never with mu_
  CpuSource keep_off_;
  bool placement_refused_ = false;  // the writer thread only: logged once
  std::atomic<int> thread_id_{0};
  std::atomic<int64_t> boosts_{0};
  std::atomic<int64_t> depth_{0}, dropped_{0}, written_{0}, failed_{0}, batches_{0}, cpu_ns_{0};
  std::thread thread_;
};

// Keeps a writer off the CPUs `cpus` names for as long as it lives (Writer::KeepOffCpus), then
// clears the source: declare it after whatever `cpus` reads, so it goes first on every path.
class KeptOffCpus {
 public:
  KeptOffCpus(Writer* writer, Writer::CpuSource cpus) : writer_(writer) {
    if (writer_) writer_->KeepOffCpus(std::move(cpus));
  }
  ~KeptOffCpus() {
    if (writer_) writer_->KeepOffCpus(nullptr);
  }
  KeptOffCpus(const KeptOffCpus&) = delete;
  KeptOffCpus& operator=(const KeptOffCpus&) = delete;

 private:
  Writer* writer_;
};

// Admits `n` items under the lock and queues them with push(), or counts them dropped.
template <typename Push>
inline bool Writer::Enqueue(int64_t n, Push push) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || depth_.load(std::memory_order_relaxed) + n > static_cast<int64_t>(options_.queue_capacity)) {
      dropped_.fetch_add(n, std::memory_order_relaxed);
      return false;
    }
    const bool was_empty = queue_.empty() && requests_.empty();
    const int64_t depth = depth_.fetch_add(n, std::memory_order_relaxed) + n;
    push();
    // Wake the writer only when there is news: the first entry, or a full batch while it lingers.
    wake = was_empty || depth >= static_cast<int64_t>(options_.max_batch);
    if (WaitedOnLocked()) BoostLocked();  // a backlog, or an entry whose commit someone awaits
  }
  if (wake) wake_.notify_one();
  return true;
}

}  // namespace ap::telemetry
