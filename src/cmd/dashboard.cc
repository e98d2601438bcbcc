// cmd/dashboard.cc — see dashboard.h.
#include "cmd/dashboard.h"

#include "scheduler/state_api.h"
#include "ui/handler.h"

namespace ap::cmd {

void MountDashboard(ServeOptions* options, std::shared_ptr<const scheduler::SchedulerFactory> schedulers,
                    std::function<bool(std::string_view token)> is_admin) {
  scheduler::StateApiOptions so;
  so.loopback_without_key = options->gateway.loopback_without_key;
  so.is_admin = std::move(is_admin);
  auto state = std::make_shared<scheduler::StateApi>(std::move(schedulers), std::move(so));
  for (const auto& prefix : scheduler::StateApi::Prefixes()) options->gateway.mounts.push_back({prefix, state});
  options->gateway.mounts.push_back({ui::UiHandler::kPrefix, std::make_shared<ui::UiHandler>()});
}

}  // namespace ap::cmd
