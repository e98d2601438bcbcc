// scheduler/scraper.h — polls every pool replica's /metrics on its own thread and event loop,
// publishing each sample into the replica's atomics (ReplicaState::Publish).
//
// Off the request path by construction: one thread, its own io_context and connection pool
// (http::ConnectionPool is per thread). At most one scrape per replica is in flight; a scrape
// that fails or exceeds `stale_after` counts as a failure. Pools are held weakly: a pool dropped
// by a config reload stops being scraped at its next tick. Never blocks a gateway worker.
#pragma once

#include <memory>
#include <thread>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace ap::scheduler {

class Pool;

class Scraper {
 public:
  Scraper();
  ~Scraper();  // stops the loop and joins the thread
  void Add(std::weak_ptr<Pool> pool);
  boost::asio::any_io_executor executor() { return ioc_.get_executor(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace ap::scheduler
