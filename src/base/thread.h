// base/thread.h — naming threads (for top -H, ps -L, perf and gdb), setting their CPU
// scheduling class and the CPUs they may run on.
#pragma once

#include <bitset>
#include <cstdint>
#include <string_view>

namespace ap::base {

// Names the calling thread as `top -H`, `ps -L` and perf show it (first 15 bytes).
void NameThisThread(std::string_view name);

// The kernel's id of the calling thread (what /proc/self/task/<id> and sched_setscheduler take).
int ThisThreadId();
// The process's id, which is also its main thread's id.
int ProcessId();

// How the kernel schedules a thread (Linux policies, nice unchanged):
//   kNormal — SCHED_OTHER: the default; a waking thread may preempt the one running.
//   kBatch  — SCHED_BATCH: a fair share of CPU, but its wake-ups never preempt a running thread.
//   kIdle   — SCHED_IDLE: runs only on CPU time no other thread wants; a waking normal thread
//             preempts it at once.
enum class ThreadPriority { kNormal, kBatch, kIdle };

// Sets thread `thread_id` (0: the calling thread) of this process to `priority`. False when the
// kernel refused: leaving kIdle needs CAP_SYS_NICE or an RLIMIT_NICE of at least 20, which
// containers often lack.
bool SetThreadPriority(int thread_id, ThreadPriority priority);
// kNormal also for a policy this enum does not name (a real-time one).
ThreadPriority ThreadPriorityOf(int thread_id);

// A set of CPUs by their Linux number (below kMaxCpus, glibc's CPU_SETSIZE: on a machine with
// more possible CPUs, ThreadCpus reads nothing and SetThreadCpus fails).
inline constexpr int kMaxCpus = 1024;
using CpuSet = std::bitset<kMaxCpus>;

// The CPUs thread `thread_id` (0: the calling thread) may run on: its affinity mask, as taskset,
// a cgroup cpuset or an earlier SetThreadCpus left it. Empty when it cannot be read.
CpuSet ThreadCpus(int thread_id = 0);
// Restricts thread `thread_id` (0: the calling thread) to `cpus`; the kernel moves it at once if
// it runs elsewhere. False (nothing changes) when `cpus` is empty or the kernel refused.
bool SetThreadCpus(int thread_id, const CpuSet& cpus);
// The CPU the calling thread runs on right now (sched_getcpu: a vDSO call on x86-64 and arm64,
// a system call elsewhere); -1 if unknown.
int CurrentCpu();

// A number no earlier call in this process returned (from 1): tells an object from one later
// built at its address, for per-thread memos keyed by object.
uint64_t NextSerial();

// Whether a thread of this process that went to kIdle may be returned to kNormal. Probed once on a
// short-lived thread (so no real thread is left stuck idle), then remembered.
bool CanLeaveIdlePriority();

}  // namespace ap::base
