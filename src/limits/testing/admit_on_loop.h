// limits/testing/admit_on_loop.h — runs Counters::Admit on an event loop of its own thread, as a
// gateway worker would (Redis connections belong to the loop), and waits for the decision.
#pragma once

#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "limits/counters.h"

namespace ap::limits::testing {

struct Loop {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~Loop() {
    io.stop();
    thread.join();
  }
};

inline Decision AdmitOn(Counters& c, std::vector<Check> checks) {
  static Loop* loop = new Loop();  // lives for the test binary: its connections outlive tests
  return boost::asio::co_spawn(loop->io, c.Admit(checks), boost::asio::use_future).get();
}

}  // namespace ap::limits::testing
