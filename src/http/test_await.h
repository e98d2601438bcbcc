// http/test_await.h — for tests: runs a coroutine on a test's io_context until it completes.
#pragma once

#include <chrono>
#include <future>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace ap::http {

template <typename T>
T Await(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw) {
  auto fut = boost::asio::co_spawn(ioc, std::move(aw), boost::asio::use_future);
  ioc.restart();
  while (fut.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) ioc.run_one();
  return fut.get();
}

}  // namespace ap::http
