// cmd/dashboard.h — mounts the dashboard on a gateway about to be served: the embedded UI at
// /ui (ui module) and the scheduler's live replica and fleet state it shows (scheduler module).
// Telemetry's own APIs are mounted by ServeGateway with the rest of telemetry.
#pragma once

#include <memory>

#include "cmd/serve_gateway.h"
#include "scheduler/scheduler.h"

namespace ap::cmd {

// Replica and fleet state are operator data: the limits module's admin key may read them (known
// once ServeGateway started limits: ServeOptions::on_limits), and so may local-mode loopback
// clients; every other key gets 403.
void MountDashboard(ServeOptions* options,
                    std::shared_ptr<const scheduler::SchedulerFactory> schedulers);

}  // namespace ap::cmd
