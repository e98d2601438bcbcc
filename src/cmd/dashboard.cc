// cmd/dashboard.cc — see dashboard.h.
#include "cmd/dashboard.h"

#include <atomic>

#include "scheduler/state_api.h"
#include "ui/handler.h"

namespace ap::cmd {

void MountDashboard(ServeOptions* options,
                    std::shared_ptr<const scheduler::SchedulerFactory> schedulers) {
  scheduler::StateApiOptions so;
  so.loopback_without_key = options->gateway.loopback_without_key;
  // The limiter exists only once ServeGateway started the limits module; until then no key is
  // the admin's.
  auto limiter = std::make_shared<std::atomic<std::shared_ptr<limits::Limiter>>>();
  so.is_admin = [limiter](std::string_view token) {
    auto l = limiter->load();
    if (!l) return false;
    auto id = l->Identify(token);
    return id && id->admin;
  };
  options->on_limits =
      [limiter, previous = std::move(options->on_limits)](std::shared_ptr<limits::Limiter> l) {
        limiter->store(l);
        if (previous) previous(std::move(l));
      };
  auto state = std::make_shared<scheduler::StateApi>(std::move(schedulers), std::move(so));
  for (const auto& prefix : scheduler::StateApi::Prefixes())
    options->gateway.mounts.push_back({prefix, state});
  options->gateway.mounts.push_back({ui::UiHandler::kPrefix, std::make_shared<ui::UiHandler>()});
}

}  // namespace ap::cmd
