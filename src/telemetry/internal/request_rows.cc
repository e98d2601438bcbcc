// telemetry/internal/request_rows.cc — see request_rows.h.
#include "telemetry/internal/request_rows.h"

#include "base/strings.h"

namespace ap::telemetry::internal {
namespace {

bool IsHexId(const std::string& id) { return id.size() == 32 && IsLowerHex(id); }

}  // namespace

bool IsRequestPair(const Item& trace, const Item& generation) {
  if (!trace.fresh || !generation.fresh || !trace.event_id.empty() || !generation.event_id.empty()) return false;
  const auto* t = std::get_if<Trace>(&trace.body);
  const auto* g = std::get_if<Observation>(&generation.body);
  if (!t || !g) return false;
  return g->type == ObservationType::kGeneration && g->status_code && g->trace_id == t->id && IsHexId(t->id) &&
         !g->id.empty() && g->project == t->project && t->timestamp_us != 0 && g->start_us == t->timestamp_us &&
         g->name == t->name && g->user_id == t->user_id && g->environment == t->environment && !t->release &&
         !t->version && !t->input && !t->output && !t->metadata && !t->is_public && !g->version &&
         !g->model_parameters && !g->cost_details;
}

}  // namespace ap::telemetry::internal
