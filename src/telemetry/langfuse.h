// telemetry/langfuse.h — the Langfuse public API's JSON shapes: ingestion events in, traces,
// observations, scores and sessions out (as the langfuse SDKs read them with fetchTraces …).
//
// Pure translation between JSON and the data model; no I/O, no auth (api.cc does those).
// Unknown fields are ignored, as Langfuse's server does, so newer SDKs keep working.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "telemetry/model.h"
#include "telemetry/store.h"

namespace ap::telemetry::langfuse {

// One element of an ingestion batch → an Item for `project`. nullopt with no error: an event
// that stores nothing (sdk-log). Errors are short reasons for the 207 reply.
struct Parsed {
  std::optional<Item> item;
  std::string error;  // non-empty: rejected (400)
};
Parsed ParseEvent(const boost::json::value& event, const std::string& project);

boost::json::object TraceJson(const Trace& trace);
boost::json::object TraceSummaryJson(const TraceSummary& summary, const std::vector<std::string>& observation_ids);
boost::json::object ObservationJson(const Observation& o);
boost::json::object ScoreJson(const Score& s);
boost::json::object SessionJson(const SessionSummary& s);
// {"page","limit","totalItems","totalPages"}
boost::json::object PageMeta(int64_t page, int64_t limit, int64_t total);

// Parses a JSON text field back into a value (strings that are not JSON come back as strings).
boost::json::value JsonField(const std::optional<std::string>& text);

}  // namespace ap::telemetry::langfuse
