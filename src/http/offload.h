// http/offload.h — runs blocking work (a database, a blocking client) on a thread pool from a
// request coroutine, and resumes the coroutine on its own event loop with the result. Event
// loops never block.
//
// GCC 12: `fn` is taken by lvalue reference so callers pass a named local, never a temporary,
// into the co_await'ed call.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ap::http {

template <typename T>
boost::asio::awaitable<T> Offload(boost::asio::thread_pool& pool, std::function<T()>& fn) {
  namespace net = boost::asio;
  auto token = net::use_awaitable;
  co_return co_await net::async_initiate<decltype(token), void(T)>(
      [&pool, &fn](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        net::post(pool, [h, fn = std::move(fn)]() mutable {
          auto result = std::make_shared<T>(fn());
          auto ex = net::get_associated_executor(*h);
          net::post(ex, [h, result]() mutable { std::move (*h)(std::move(*result)); });
        });
      },
      token);
}

}  // namespace ap::http
