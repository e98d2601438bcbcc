// base/thread.cc — see thread.h.
#include "base/thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <system_error>
#include <thread>

namespace ap::base {

void NameThisThread(std::string_view name) {
  std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

int ThisThreadId() { return static_cast<int>(syscall(SYS_gettid)); }

int ProcessId() { return static_cast<int>(getpid()); }

bool SetThreadPriority(int thread_id, ThreadPriority priority) {
  int policy = SCHED_OTHER;
  if (priority == ThreadPriority::kBatch) policy = SCHED_BATCH;
  if (priority == ThreadPriority::kIdle) policy = SCHED_IDLE;
  sched_param param{};
  return sched_setscheduler(thread_id, policy, &param) == 0;
}

ThreadPriority ThreadPriorityOf(int thread_id) {
  switch (sched_getscheduler(thread_id)) {
    case SCHED_BATCH: return ThreadPriority::kBatch;
    case SCHED_IDLE: return ThreadPriority::kIdle;
    default: return ThreadPriority::kNormal;
  }
}

CpuSet ThreadCpus(int thread_id) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CpuSet cpus;
  if (sched_getaffinity(thread_id, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < kMaxCpus && cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.set(cpu);
  return cpus;
}

bool SetThreadCpus(int thread_id, const CpuSet& cpus) {
  if (cpus.none()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu = 0; cpu < kMaxCpus && cpu < CPU_SETSIZE; ++cpu)
    if (cpus.test(cpu)) CPU_SET(cpu, &set);
  return sched_setaffinity(thread_id, sizeof set, &set) == 0;
}

int CurrentCpu() { return sched_getcpu(); }

uint64_t NextSerial() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

bool CanLeaveIdlePriority() {
  static const bool can = [] {
    bool ok = false;
    try {
      std::thread probe([&] {
        ok = SetThreadPriority(0, ThreadPriority::kIdle) && SetThreadPriority(0, ThreadPriority::kNormal);
      });
      probe.join();
    } catch (const std::system_error&) {  // no thread to spare: do not go idle at all
      ok = false;
    }
    return ok;
  }();
  return can;
}

}  // namespace ap::base
