// limits/limits.cc — see limits.h.
#include "limits/limits.h"

#include <filesystem>

#include "base/log.h"
#include "base/thread.h"

namespace ap::limits {

Result<std::unique_ptr<Service>> Service::Start(const config::LimitsConfig& config, ServiceOptions options) {
  std::unique_ptr<Service> s(new Service());
  std::shared_ptr<AdminStore> store;
  if (!config.redis.empty()) {
    auto opened = OpenRedisAdminStore(config.redis, config.redis_timeout);
    if (!opened) return "limits: " + opened.error();
    store = std::move(*opened);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) return "limits: cannot create " + options.data_dir + ": " + ec.message();
    auto opened = OpenSqliteAdminStore((std::filesystem::path(options.data_dir) / "keys.db").string());
    if (!opened) return "limits: " + opened.error();
    store = std::move(*opened);
  }
  s->directory_ = std::make_shared<Directory>(store, options.poll_interval);
  if (auto r = s->directory_->Start(); !r) return "limits: cannot load keys: " + r.error();

  SoftBudgetAlert alert = [](const std::string& scope, double spent, double soft) {
    Health().budget_alerts++;
    log::Warn("limits", "soft budget reached", {{"scope", scope}, {"spent_usd", std::to_string(spent)},
                                                {"soft_budget_usd", std::to_string(soft)}});
  };
  if (config.redis.empty()) {
    s->local_ = std::make_shared<LocalCounters>(store, alert);
    s->counters_ = s->local_;
  } else {
    s->local_ = std::make_shared<LocalCounters>(nullptr, alert);
    RedisCountersOptions ro{config.redis, config.redis_timeout, config.settle_interval, config.fail_open};
    auto counters = OpenRedisCounters(ro, s->local_, alert);
    if (!counters) return "limits: " + counters.error();
    s->counters_ = std::move(*counters);
  }
  LimiterOptions lo;
  lo.admin_key = config.admin_key;
  lo.reserve_completion_tokens = static_cast<int64_t>(config.reserve_completion_tokens);
  lo.price = options.price;
  s->limiter_ = std::make_shared<Limiter>(s->directory_, s->counters_, s->local_, std::move(lo));
  s->admin_api_ = std::make_shared<AdminApi>(s->limiter_, options.local_mode);
  s->flusher_ = std::thread([p = s.get()] {
    base::NameThisThread("ap-lim-flush");
    p->FlushLoop();
  });
  log::Info("limits", "started", {{"store", config.redis.empty() ? "sqlite" : "redis"},
                                  {"keys", s->directory_->snapshot()->keys.size()},
                                  {"admin_api", config.admin_key.empty() && !options.local_mode ? "off" : "on"}});
  return s;
}

Service::~Service() { Stop(); }

void Service::FlushLoop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
    lock.unlock();
    local_->Flush();  // the durable spend ledger, in one transaction per second
    lock.lock();
  }
}

void Service::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (counters_) counters_->Flush();
  if (local_) local_->Flush();
  if (directory_) directory_->Stop();
}

}  // namespace ap::limits
