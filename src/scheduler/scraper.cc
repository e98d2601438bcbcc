// scheduler/scraper.cc — the /metrics polling loop.
#include "scheduler/scraper.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.h"
#include "base/thread.h"
#include "scheduler/scheduler.h"

namespace ap::scheduler {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

constexpr uint64_t kMaxMetricsBytes = 8ull << 20;

net::awaitable<void> ScrapeOne(std::shared_ptr<Pool> pool, ReplicaState* replica) {
  auto timeout = pool->config().stale_after;
  http::Exchange ex(replica->endpoint, http::ExchangeTimeouts{timeout, timeout, timeout});
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/metrics", 11};
  std::string host = replica->endpoint.host + ":" + std::to_string(replica->endpoint.port);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "agentplane-scheduler/0.1");
  req.set(bhttp::field::accept, "text/plain");
  auto e = co_await ex.Start(req);
  std::string body;
  if (e == http::ExchangeError::kNone) e = co_await ex.ReadAll(body, kMaxMetricsBytes);
  if (e == http::ExchangeError::kNone && ex.status() == 200) {
    replica->Publish(ParseVllmMetrics(body), Clock::now());
  } else {
    int before = replica->scrape_failures.load(std::memory_order_relaxed);
    replica->PublishFailure();
    if (before == 1)
      log::Warn("scheduler", "replica stopped answering scrapes; taken out",
                {{"model", pool->model()}, {"replica", replica->name},
                 {"detail", e == http::ExchangeError::kNone ? "status " + std::to_string(ex.status())
                                                            : std::string(ex.error_detail())}});
  }
  pool->AfterScrape(*replica);
  replica->scrape_busy.store(false, std::memory_order_release);
}

net::awaitable<void> PollPool(std::weak_ptr<Pool> weak) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  while (true) {
    std::chrono::milliseconds interval;
    {
      auto pool = weak.lock();
      if (!pool) co_return;
      interval = pool->config().scrape_interval;
      for (auto& r : pool->replicas()) {
        if (r->scrape_busy.exchange(true, std::memory_order_acq_rel)) continue;
        net::co_spawn(ex, ScrapeOne(pool, r.get()), net::detached);
      }
    }
    timer.expires_after(interval);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

}  // namespace

Scraper::Scraper()
    : work_(ioc_.get_executor()), thread_([this] {
        base::NameThisThread("ap-sched-scrape");
        ioc_.run();
      }) {}

Scraper::~Scraper() {
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

void Scraper::Add(std::weak_ptr<Pool> pool) {
  net::co_spawn(ioc_, PollPool(std::move(pool)), net::detached);
}

}  // namespace ap::scheduler
