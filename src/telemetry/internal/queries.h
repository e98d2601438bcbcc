// telemetry/internal/queries.h — the read endpoints as plain functions from (store, project,
// path, query parameters) to a status and JSON body. Run on the query pool, never on an event
// loop; the HTTP plumbing is in api.cc.
#pragma once

#include <map>
#include <string>

#include "telemetry/store.h"

namespace ap::telemetry::internal {

struct Reply {
  int status = 200;
  std::string body;
};

using Params = std::map<std::string, std::string>;

// `rest` is the path after "/api/public/" (e.g. "traces/abc").
Reply LangfuseGet(Store& store, const std::string& project, const std::string& rest, const Params& params);
// `rest` is the path after "/api/telemetry/".
Reply TelemetryGet(Store& store, const std::string& project, const std::string& rest, const Params& params);

Reply JsonError(int status, const std::string& message);

}  // namespace ap::telemetry::internal
