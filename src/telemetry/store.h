// telemetry/store.h — the interface every telemetry store implements (SQLite now, PostgreSQL
// next), and the queries it answers. store_conformance.h holds the test suite every store passes.
//
// Contract: Write() applies a batch atomically (one transaction): when it returns success every
// item is durable, and when it fails none is. Items merge into existing rows (set fields win),
// items with an already-committed event id are skipped (a re-sent event carries the object it
// named the first time: the SQLite store keeps a create's id in the row it created, so an id
// reused for another object is not recognised there). Observations with a status_code (gateway
// generations) are write-once: a store need not find them by id for merging. Reads may run concurrently with Write()
// from other threads. A store never runs on an event-loop thread: the writer thread and the
// query pool call it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/system/result.hpp>

#include "telemetry/gateway_request.h"
#include "telemetry/model.h"

namespace ap::telemetry {

template <typename T>
using Result = boost::system::result<T, std::string>;

// In every query an empty project means every project: the admin's view across tenants.
struct TraceQuery {
  std::string project;
  int64_t from_us = 0;  // inclusive; 0: unbounded
  int64_t to_us = 0;    // exclusive; 0: unbounded
  std::optional<std::string> user_id, session_id, name, model, tag, environment;
  // "error": traces holding an ERROR-level observation; "ok": the others.
  std::optional<std::string> status;
  int limit = 50;
  std::string cursor;   // from the previous page's next_cursor; empty: first page
  int64_t offset = 0;   // page-based paging (Langfuse API); used when cursor is empty
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty: last page
  int64_t total = -1;       // filled when the query asked for it
};

// A trace row as lists show it, with totals over its observations.
struct TraceSummary {
  Trace trace;
  int64_t observation_count = 0;
  double total_cost = 0;
  int64_t input_tokens = 0, output_tokens = 0;
  int64_t latency_us = 0;  // first observation start → last observation end
  bool has_error = false;
};

struct ObservationQuery {
  std::string project;
  std::optional<std::string> trace_id, name, user_id, type, parent_id, model;
  int64_t from_us = 0, to_us = 0;
  int limit = 50;
  int64_t offset = 0;
};

// Scores with filters (Langfuse's GET /api/public/scores): newest first, page paging. `value`
// with `op` (one of < > <= >= = !=) compares numeric values.
struct ScoreQuery {
  std::string project;
  std::vector<std::string> ids;  // any of these; empty: no filter
  std::optional<std::string> trace_id, observation_id, session_id, user_id, name, source, data_type;
  int64_t from_us = 0, to_us = 0;  // score timestamp, [from, to)
  std::optional<std::string> op;
  std::optional<double> value;
  int limit = 50;
  int64_t offset = 0;
};

struct SessionSummary {
  std::string id;
  std::string project;
  int64_t first_us = 0, last_us = 0;
  int64_t trace_count = 0;
  std::optional<std::string> user_id;
  double total_cost = 0;
  int64_t input_tokens = 0, output_tokens = 0;
};

struct SessionQuery {
  std::string project;
  int64_t from_us = 0, to_us = 0;
  int limit = 50;
  int64_t offset = 0;
};

// Usage and cost of generations, grouped by any of: model, user, team, key, day.
struct UsageQuery {
  std::string project;  // empty: every project
  int64_t from_us = 0, to_us = 0;  // day granularity: whole UTC days overlapping the range
  std::vector<std::string> group_by;  // subset of {"model","user","team","key","day"}
  std::optional<std::string> model, user_id, team, key;
};

struct UsageRow {
  std::vector<std::string> group;  // values in group_by order ("" for none)
  int64_t generations = 0;
  int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0;
  double cost = 0;
};

// Generations per time bucket for the dashboard: rate, errors, tokens, cost and latency/TTFT
// quantiles, read from the per-minute rollup (minute granularity).
struct TimeSeriesQuery {
  std::string project;             // empty: every project
  int64_t from_us = 0, to_us = 0;  // [from, to), both required
  int64_t step_us = 60'000'000;    // bucket width, a whole number of minutes
  std::optional<std::string> model;
};

struct TimeBucket {
  int64_t start_us = 0;
  int64_t requests = 0, errors = 0;
  int64_t input_tokens = 0, output_tokens = 0;
  double cost = 0;
  // Seconds; -1 when the bucket measured none.
  double latency_p50 = -1, latency_p90 = -1, latency_p99 = -1;
  double ttft_p50 = -1, ttft_p90 = -1, ttft_p99 = -1;
};

struct StoreStats {
  int64_t traces = 0, observations = 0, scores = 0;
  int64_t bytes = 0;  // on disk, database + WAL
  int schema_version = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Fills the cost fields of a generation that carries usage and a model but no cost, after it
  // was merged with what the store held (updates often bring usage without the model). Called on
  // the writing thread; set before the first Write().
  using Pricer = std::function<void(Observation&)>;
  void set_pricer(Pricer pricer) { pricer_ = std::move(pricer); }

  // Commits the items of every group, in order, in one transaction (all or nothing). The writer
  // hands over the groups its producers enqueued as they are: gathering them into one array
  // would copy every item.
  using ItemGroups = std::span<const std::span<const Item>>;
  virtual Result<void> WriteGroups(ItemGroups groups) = 0;
  // The same with the compact gateway requests the writer queued (gateway_request.h), committed
  // in the same transaction, before the groups. This default writes each request as the items it
  // stands for; a store may write the records directly (the SQLite store does).
  virtual Result<void> WriteBatch(ItemGroups groups, std::span<const GatewayRequest> requests);
  Result<void> Write(std::span<const Item> items) {
    const std::span<const Item> one[] = {items};
    return WriteGroups(one);
  }

  virtual Result<std::optional<Trace>> GetTrace(const std::string& project, const std::string& id) = 0;
  virtual Result<Page<TraceSummary>> ListTraces(const TraceQuery& query) = 0;
  virtual Result<Page<Observation>> ListObservations(const ObservationQuery& query) = 0;
  virtual Result<std::vector<Score>> ListScores(const std::string& project, const std::string& trace_id) = 0;
  // Page::total is always filled.
  virtual Result<Page<Score>> QueryScores(const ScoreQuery& query) = 0;
  virtual Result<Page<SessionSummary>> ListSessions(const SessionQuery& query) = 0;
  virtual Result<std::optional<SessionSummary>> GetSession(const std::string& project, const std::string& id) = 0;
  virtual Result<std::vector<UsageRow>> AggregateUsage(const UsageQuery& query) = 0;
  // Every bucket of the range, empty ones included, oldest first.
  virtual Result<std::vector<TimeBucket>> TimeSeries(const TimeSeriesQuery& query) = 0;

  // Deletes traces (with their observations and scores) and event ids older than `cutoff_us`.
  // Returns the number of traces deleted.
  virtual Result<int64_t> DeleteOlderThan(int64_t cutoff_us) = 0;
  virtual Result<StoreStats> Stats() = 0;

 protected:
  Pricer pricer_;
};

}  // namespace ap::telemetry
