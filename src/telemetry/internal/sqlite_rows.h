// telemetry/internal/sqlite_rows.h — the SQLite store's schema (numbered migrations) and the
// row ↔ struct mapping shared by its write path (internal/batch_writer*.cc) and read path
// (sqlite_queries.cc). Column orders here must match the SELECT lists below.
#pragma once

#include <string>
#include <vector>

#include "telemetry/internal/sqlite_db.h"
#include "telemetry/model.h"

namespace ap::telemetry::internal {

// Migrations, applied in order; index + 1 is the schema version they produce.
const std::vector<const char*>& Migrations();

// The read path reads these views, never the tables: `trace_rows` (traces and gateway request
// rows as traces, plus `model` and `error` of a request row's generation for filters) and
// `observation_rows` (observations and request rows as generations, plus `trace_id`,
// `trace_project`, `trace_session` of their trace). Request rows' pks start here.
inline constexpr int64_t kRequestPkBase = int64_t{1} << 40;

inline constexpr const char* kTraceColumns =
    "t.pk,t.id,t.project,t.ts,t.name,t.user,t.session,t.release,t.version,t.env,t.tags,t.input,"
    "t.output,t.metadata,t.public";
inline constexpr const char* kObservationColumns =
    "o.pk,o.id,o.project,o.trace,o.parent,o.type,o.name,o.start,o.dur,o.ttft,o.model,o.level,"
    "o.status_message,o.version,o.env,o.model_params,o.input,o.output,o.metadata,o.in_tok,o.out_tok,"
    "o.total_tok,o.cached_tok,o.usage_details,o.cost_details,o.in_cost,o.out_cost,o.cost,o.user,"
    "o.team,o.key,o.backend,o.status";  // then the trace's id: ",t.id" or the view's ",o.trace_id"
inline constexpr const char* kScoreColumns =
    "s.id,s.project,s.trace_id,s.observation_id,s.session_id,s.name,s.value,s.string_value,"
    "s.data_type,s.comment,s.source,s.ts";

Trace ReadTrace(Stmt& s, Conn& c, int64_t* pk);
Observation ReadObservation(Stmt& s, Conn& c, int64_t* pk);
Score ReadScore(Stmt& s, Conn& c);

std::string TagsToJson(const std::vector<std::string>& tags);
std::vector<std::string> TagsFromJson(const std::string& json);

}  // namespace ap::telemetry::internal
