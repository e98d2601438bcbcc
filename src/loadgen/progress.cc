// loadgen/progress.cc — the stderr progress line.
#include "loadgen/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <utility>

namespace ap::loadgen {

ProgressBar::ProgressBar(const RunOptions& options, const Progress& progress, bool force)
    : options_(options), progress_(progress) {
  if (force || ::isatty(STDERR_FILENO)) thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

void ProgressBar::Loop() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::deque<std::pair<Clock::time_point, int64_t>> recent;  // (time, done) samples, ~1 s window
  const double total_s = std::chrono::duration<double>(options_.warmup + options_.duration).count();
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const auto now = Clock::now();
    const int64_t done = progress_.done.load(std::memory_order_relaxed);
    recent.emplace_back(now, done);
    while (recent.size() > 5) recent.pop_front();
    double rps = 0;
    if (recent.size() > 1) {
      const double dt = std::chrono::duration<double>(recent.back().first - recent.front().first).count();
      if (dt > 0) rps = static_cast<double>(recent.back().second - recent.front().second) / dt;
    }
    const double elapsed = std::chrono::duration<double>(now - start).count();
    double fraction;
    char head[64];
    if (options_.requests > 0) {
      fraction = static_cast<double>(done) / static_cast<double>(options_.requests);
      std::snprintf(head, sizeof head, "%lld/%lld req", static_cast<long long>(done),
                    static_cast<long long>(options_.requests));
    } else if (elapsed <= total_s) {
      fraction = total_s > 0 ? elapsed / total_s : 0;
      std::snprintf(head, sizeof head, "%.0f/%.0f s", elapsed, total_s);
    } else {
      fraction = 1;
      std::snprintf(head, sizeof head, "draining");
    }
    if (fraction > 1) fraction = 1;
    char bar[31];
    const int filled = static_cast<int>(fraction * 30);
    for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    std::fprintf(stderr, "\r\033[K[%s] %s  %.1f req/s  in flight %lld  errors %lld", bar, head, rps,
                 static_cast<long long>(progress_.in_flight.load(std::memory_order_relaxed)),
                 static_cast<long long>(progress_.errors.load(std::memory_order_relaxed)));
    std::fflush(stderr);
  }
}

}  // namespace ap::loadgen
