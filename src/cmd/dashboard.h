// cmd/dashboard.h — mounts the dashboard on a gateway about to be served: the embedded UI at
// /ui (ui module) and the scheduler's live replica and fleet state it shows (scheduler module).
// Telemetry's own APIs are mounted by ServeGateway with the rest of telemetry.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "cmd/serve_gateway.h"
#include "scheduler/scheduler.h"

namespace ap::cmd {

// `is_admin` says whether a bearer token is the operator's key (replica and fleet state are
// operator data); unset: only local-mode loopback clients may read them.
void MountDashboard(ServeOptions* options, std::shared_ptr<const scheduler::SchedulerFactory> schedulers,
                    std::function<bool(std::string_view token)> is_admin = nullptr);

}  // namespace ap::cmd
