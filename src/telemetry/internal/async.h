// telemetry/internal/async.h — bridges from the HTTP server's coroutines to the telemetry
// threads without blocking an event loop: Offload() runs a function on the query pool and
// resumes the coroutine on its own executor with the result; Commit() queues items on the
// writer and resumes once they are committed (or refused).
//
// GCC 12: arguments are taken by lvalue reference so callers pass named locals, never
// temporaries, into these co_await'ed calls.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/offload.h"
#include "telemetry/writer.h"

namespace ap::telemetry::internal {

namespace net = boost::asio;

// Runs blocking work on a pool, resuming on the caller's loop (shared with other modules).
using http::Offload;

enum class CommitResult { kCommitted, kQueueFull, kFailed };

inline net::awaitable<CommitResult> Commit(Writer& writer, std::vector<Item>& items) {
  auto token = net::use_awaitable;
  co_return co_await net::async_initiate<decltype(token), void(CommitResult)>(
      [&writer, &items](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto resume = [h](CommitResult r) {
          auto ex = net::get_associated_executor(*h);
          net::post(ex, [h, r]() mutable { std::move (*h)(r); });
        };
        bool queued = writer.TryEnqueue(std::move(items), [resume](bool ok) {
          resume(ok ? CommitResult::kCommitted : CommitResult::kFailed);
        });
        if (!queued) resume(CommitResult::kQueueFull);
      },
      token);
}

}  // namespace ap::telemetry::internal
