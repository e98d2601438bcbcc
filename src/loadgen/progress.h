// loadgen/progress.h — the one-line progress display on stderr while a run is going.
//
// Redrawn in place (carriage return) four times a second from its own thread: requests done of
// the total (count mode) or seconds elapsed of the duration, the current request rate (over the
// last second or so), in-flight requests and errors. It draws only when stderr is a terminal and
// writes nothing otherwise, so logs and pipes stay clean. It only reads Progress's atomics; it
// must never touch the event loops.
#pragma once

#include <atomic>
#include <thread>

#include "loadgen/runner.h"

namespace ap::loadgen {

class ProgressBar {
 public:
  // Starts drawing when `force` or stderr is a TTY.
  ProgressBar(const RunOptions& options, const Progress& progress, bool force = false);
  ~ProgressBar();  // stops and clears the line
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  void Loop();

  const RunOptions& options_;
  const Progress& progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ap::loadgen
