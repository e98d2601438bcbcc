// telemetry/internal/request_rows.h — the SQLite store's compact form of a gateway request: one
// `requests` row for a trace whose id the gateway minted and its one generation (schema
// migration 6 in sqlite_rows.cc).
//
// Why: a gateway request used to cost the writer a trace row with four index entries and a
// generation row with one, in two statements; that SQLite work was the whole of telemetry's cost
// to the gateway. A request row is one row with three index entries, the fields the trace and the
// generation share stored once. Only a pair that the row can restore exactly is stored so
// (IsRequestPair); anything else takes the general path. Readers see request rows through the
// views `trace_rows` and `observation_rows`; a later write that touches such a trace (an
// observation or a trace upsert with its id) first moves the row into traces and observations
// (kExpandRequest*), so every merge rule of the general path still holds. Used by the writer
// (sqlite_store.cc, batch_writer_requests.cc) only.
#pragma once

#include "telemetry/model.h"

namespace ap::telemetry::internal {

// The columns a request row is inserted with, in the order the writer binds them.
#define AP_REQUEST_COLUMNS                                                                          \
  "pk,id,span,project,ts,name,user,session,env,model,backend,team,key,status,dur,ttft,in_tok,"       \
  "out_tok,total_tok,cached_tok,in_cost,out_cost,cost,level,status_message,parent,tags,usage_details," \
  "metadata,input,output"
inline constexpr size_t kRequestColumnCount = 31;

// Whether `trace` and `generation` (consecutive items of one producer's group) are a gateway
// request a request row holds exactly: a fresh (minted) trace with hex id, and a fresh, write-once
// generation (it has an HTTP status) in it that repeats the trace's project, time, name, user and
// environment, with no event ids and none of the fields a request row does not keep.
bool IsRequestPair(const Item& trace, const Item& generation);

// Moving request row ?1 into traces and observations: the trace (its new pk is the last insert
// rowid), then the generation under trace ?2, then the row is deleted.
inline constexpr const char* kExpandRequestTrace =
    "INSERT INTO traces(id,project,ts,name,user,session,env,tags) "
    "SELECT id,project,ts,name,user,session,env,tags FROM requests WHERE pk=?1";
inline constexpr const char* kExpandRequestGeneration =
    "INSERT INTO observations(id,project,trace,parent,type,name,start,dur,ttft,model,level,status_message,env,"
    "input,output,metadata,in_tok,out_tok,total_tok,cached_tok,usage_details,in_cost,out_cost,cost,user,team,"
    "key,backend,status) "
    "SELECT span,project,?2,parent,1,name,ts,dur,ttft,model,level,status_message,env,input,output,metadata,"
    "in_tok,out_tok,total_tok,cached_tok,usage_details,in_cost,out_cost,cost,user,team,key,backend,status "
    "FROM requests WHERE pk=?1";
inline constexpr const char* kExpandRequestDelete = "DELETE FROM requests WHERE pk=?1";

}  // namespace ap::telemetry::internal
