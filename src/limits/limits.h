// limits/limits.h — the limits module assembled from config: the admin store (SQLite in the data
// directory, or Redis), the polled directory of keys, the counters (local, or Redis with the
// fail-open/closed policy), the Limiter the gateway admits through and the admin API to mount.
//
// Built once at start-up by cmd (serve_gateway.cc); Start() fails when the store cannot be
// opened (a gateway that cannot read its keys must not start). Stop() flushes pending spend.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "gateway/gateway.h"
#include "limits/admin_api.h"
#include "limits/limiter.h"

namespace ap::limits {

struct ServiceOptions {
  std::string data_dir;      // keys.db in local mode
  bool local_mode = false;   // loopback clients need no key and act as the admin
  std::function<std::optional<double>(const std::string&, int64_t, int64_t)> price;
  std::chrono::milliseconds poll_interval{200};
};

class Service {
 public:
  static Result<std::unique_ptr<Service>> Start(const config::LimitsConfig& config, ServiceOptions options);
  ~Service();

  std::shared_ptr<Limiter> limiter() const { return limiter_; }
  gateway::Mount AdminMount() const { return {"/admin/", admin_api_}; }
  void AppendPrometheus(std::string* out) const { limiter_->AppendPrometheus(out); }
  void Stop();

 private:
  Service() = default;
  void FlushLoop();

  std::shared_ptr<Directory> directory_;
  std::shared_ptr<LocalCounters> local_;
  std::shared_ptr<Counters> counters_;
  std::shared_ptr<Limiter> limiter_;
  std::shared_ptr<AdminApi> admin_api_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace ap::limits
