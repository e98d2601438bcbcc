// telemetry/internal/batch_writer.h — the SQLite store's writer for one batch (one BEGIN
// IMMEDIATE … COMMIT, driven by SqliteStore::WriteBatch in sqlite_store.cc).
//
// One class, because every write path shares the batch's state: the interned ids, the traces
// seen so far (TraceSlots), the rows queued for multi-row INSERTs and the rollup deltas. Its
// member functions are defined by what they write, one file each:
//   batch_writer.cc          — flushing the queued rows and the daily and per-minute rollups;
//   batch_writer_upserts.cc  — Langfuse items: event ids (in the row an event created, else the
//                              `events` table), traces and observations merged field by field
//                              into stored rows, scores;
//   batch_writer_requests.cc — gateway requests: compact records as request blocks
//                              (request_blocks.h), items as `requests` rows (request_rows.h),
//                              and moving either into traces and observations when an item
//                              names its trace.
// Used by the SQLite store only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "telemetry/gateway_request.h"
#include "telemetry/internal/event_filter.h"
#include "telemetry/internal/minute_rollup.h"
#include "telemetry/internal/request_blocks.h"
#include "telemetry/internal/request_rows.h"
#include "telemetry/internal/sqlite_db.h"
#include "telemetry/sqlite_store.h"

#define AP_OBSERVATION_COLUMNS                                                                 \
  "id,project,trace,parent,type,name,start,dur,ttft,model,level,status_message,version,env,"   \
  "model_params,input,output,metadata,in_tok,out_tok,total_tok,cached_tok,usage_details,"      \
  "cost_details,in_cost,out_cost,cost,user,team,key,backend,status"
#define AP_TRACE_COLUMNS "id,project,ts,name,user,session,release,version,env,tags,input,output,metadata,public"

namespace ap::telemetry {

namespace internal {

// A trace the batch has seen: its row, its user (generations inherit it) and its time (retention
// deletes a trace and its observations by it; 0: unknown).
struct CachedTrace {
  int64_t project = 0, pk = 0;
  std::optional<std::string> user_id;
  int64_t ts = 0;
};

}  // namespace internal

// Traces written or read in the current batch, in a direct-mapped table indexed by a hash of
// the id: a trace's observations usually follow it closely (the gateway writes them as a pair),
// so they find its row without a query. A slot belongs to one batch (`batch` = the batch's
// number) and is overwritten freely; a miss costs one indexed SELECT. The table is reused from
// batch to batch, so the hot path allocates nothing (a per-batch hash map cost more in malloc
// than it saved).
struct SqliteStore::TraceSlots {
  using CachedTrace = internal::CachedTrace;
  struct Slot {
    uint64_t batch = 0;
    std::string id;
    CachedTrace trace;
  };
  static constexpr size_t kSlots = 8192;
  std::vector<Slot> slots = std::vector<Slot>(kSlots);
  uint64_t batch = 0;

  Slot& SlotFor(std::string_view id) { return slots[std::hash<std::string_view>()(id) & (kSlots - 1)]; }
  const CachedTrace* Find(int64_t project, std::string_view id) {
    Slot& s = SlotFor(id);
    return s.batch == batch && s.trace.project == project && s.id == id ? &s.trace : nullptr;
  }
  const CachedTrace* Put(std::string_view id, CachedTrace trace) {
    Slot& s = SlotFor(id);
    s.batch = batch;
    s.id.assign(id);
    s.trace = std::move(trace);
    return &s.trace;
  }
};

namespace internal {

// "INSERT OR FAIL INTO <table_columns> VALUES(?,…),(?,…)…": `rows` rows of `columns` parameters.
// OR FAIL: a failing row fails the batch, which is rolled back whole anyway, so SQLite need not
// keep a statement journal to undo the statement's earlier rows (that cost more than a row).
std::string InsertSql(const char* table_columns, size_t columns, size_t rows);

// Write-once rows waiting to be inserted into `TableColumns` ("traces(pk,id,…)")
// kRowsPerInsert per statement (one VDBE program run and one set of cursor opens instead of
// sixteen), the remainder one by one. The statements' text is built once per table (the
// connection caches statements by address); the rows borrow from the items being written.
template <const char* TableColumns, size_t Columns>
class PendingRows {
 public:
  static constexpr size_t kRowsPerInsert = 16;
  using Row = std::array<Value, Columns>;

  // Queues a row; inserts a full group.
  bool Add(Conn& c, const Row& row) {
    rows_.push_back(row);
    return rows_.size() < kRowsPerInsert || Flush(c);
  }
  bool empty() const { return rows_.empty(); }

  bool Flush(Conn& c) {
    static const std::string many = InsertSql(TableColumns, Columns, kRowsPerInsert);
    static const std::string one = InsertSql(TableColumns, Columns, 1);
    size_t i = 0;
    for (; rows_.size() - i >= kRowsPerInsert; i += kRowsPerInsert) {
      auto s = c.PrepareStatic(many.c_str());
      // The rows outlive the statement's Step(): their text and blobs are bound in place.
      for (size_t r = 0; r < kRowsPerInsert; ++r) s.BindAll(rows_[i + r], static_cast<int>(r * Columns + 1), true);
      if (s.Step() != SQLITE_DONE) return false;
    }
    for (; i < rows_.size(); ++i) {
      auto s = c.PrepareStatic(one.c_str());
      s.BindAll(rows_[i], 1, true);
      if (s.Step() != SQLITE_DONE) return false;
    }
    rows_.clear();
    return true;
  }

 private:
  std::vector<Row> rows_;
};

inline constexpr char kNewTraces[] = "traces(pk," AP_TRACE_COLUMNS ")";
inline constexpr char kNewObservations[] = "observations(" AP_OBSERVATION_COLUMNS ")";
inline constexpr char kNewRequests[] = "requests(" AP_REQUEST_COLUMNS ")";

struct BlockScratch;

class BatchWriter {
 public:
  BatchWriter(Conn& c, const Store::Pricer& pricer, SqliteStore::TraceSlots& traces, EventFilter& events,
              BlockScratch& scratch);

  // An item, unless its event id was applied before (batch_writer_upserts.cc).
  bool Apply(const Item& item);
  // A gateway request as one row (internal/request_rows.h; the caller checked IsRequestPair):
  // priced and counted in the rollups like a generation, queued for a multi-row INSERT under a pk
  // the writer assigns. Never enters the trace slots: a later item that names the trace finds
  // it through ExpandRequest.
  bool ApplyRequest(const Trace& t, const Observation& g);
  // A compact gateway request (gateway_request.h) as one request row, bound from its fields: the
  // same row ApplyRequest writes for the items it stands for. Text is borrowed from the record,
  // which outlives the pending row.
  bool ApplyGatewayRequest(const GatewayRequest& q);
  // The end of the batch: pending rows, then the rollup deltas.
  bool Finish() { return FlushPending() && FlushRollup(); }

  // A compact request's row as the writer binds it: interned ids, the price, binary ids, and the
  // record (alive until the batch commits) for the rest. Trivially copyable: queueing one costs a
  // copy of ~150 bytes instead of building 31 Values.
  struct RequestRow {
    const GatewayRequest* q;
    int64_t day;  // DayOf(q->start_us): blocks are cut by project and day
    int64_t pk, project, name, user, session, env, model, backend, team, key;
    double in_cost, out_cost, cost;
    bool has_cost;
    Blob trace, span, parent;  // parent.size == 0: none
  };

 private:
  // Rollup key: day, project, model, user, team, key (0: none).
  using RollupKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
  struct RollupDelta {
    int64_t n = 0, in = 0, out = 0, cached = 0;
    double cost = 0;
  };
  enum class RowWrite { kDone, kExists, kFailed };
  enum class EventSeen { kNew, kSeen, kFailed };

  // batch_writer.cc: queued rows and rollups.
  bool FlushPending();
  bool FlushRollup();
  bool FlushMinuteRollup();
  void AddRollup(int64_t project, const Observation& o, int sign, const int64_t* dims = nullptr);
  // The batch's delta for `k`; consecutive gateway requests mostly share one, so the last is
  // remembered (map nodes do not move).
  RollupDelta& RollupFor(const RollupKey& k) {
    if (!last_rollup_ || last_rollup_->first != k) last_rollup_ = &*rollup_.try_emplace(k).first;
    return last_rollup_->second;
  }

  // batch_writer_requests.cc: request rows and request blocks.
  bool FlushRequestRows();
  // The interned id of a compact request's text field (0: failed). Consecutive requests mostly
  // repeat each field (project, path, model, backend …), so the last value per field is compared
  // before the dictionary's hash; it views the batch's records, which outlive the batch.
  int64_t InternField(const GatewayRequest& q, GatewayRequest::Field f);
  bool WriteBlock(const RequestRow* const* rows, size_t n);
  bool InsertPairs(bool ids, std::vector<std::pair<int64_t, int64_t>>& pairs);
  bool ExpandRequest(int64_t project, const std::string& id);
  bool ExpandBlockRequest(int64_t project, const Blob& id);

  // batch_writer_upserts.cc: event ids, traces, observations, scores.
  EventSeen RecordEvent(const std::string& event);
  bool EventFitsRow(int64_t row_ts) const;
  bool KeepTraceEvents(int64_t trace_pk);
  bool KeepObservationEvent(int64_t pk);
  bool KeepEvents(const char* sql, int64_t pk);
  std::optional<std::pair<int64_t, Trace>> FindTrace(int64_t project, const std::string& id);
  bool WriteTraceRow(int64_t pk, int64_t project, const Trace& t);
  bool QueueFreshTrace(const Trace& t, int64_t project);
  bool WriteTrace(const Trace& t, bool fresh, const std::string* event);
  bool InheritUser(int64_t trace_pk, int64_t project, int64_t user);
  const CachedTrace* TraceFor(int64_t project, const std::string& id, int64_t ts);
  struct StoredObservation;
  std::optional<StoredObservation> FindObservation(int64_t project, const std::string& id, const Value& event);
  bool WriteObservation(const Observation& n, bool fresh, const std::string* event);
  RowWrite WriteObservationRow(int64_t project, int64_t trace_pk, const std::optional<std::string>& trace_user,
                               const Observation& n, Observation* merged_in, int64_t pk, bool new_only,
                               const Value& event = {}, bool same_keys = false);
  bool WriteScore(const Score& sc);

  // Values of optional fields: interned, or borrowed (the items outlive the statements that
  // bind them).
  Value Dim(const std::optional<std::string>& v) {
    if (!v) return {};
    return c_.Intern(*v);
  }
  Value Text(const std::optional<std::string>& v) { return v ? Value(std::string_view(*v)) : Value(); }
  template <typename T>
  Value Num(const std::optional<T>& v) { return v ? Value(*v) : Value(); }
  int64_t DimId(const std::optional<std::string>& v) { return v ? c_.Intern(*v) : int64_t{0}; }

  Conn& c_;
  const Store::Pricer& pricer_;
  int64_t now_ = NowMicros();
  std::map<RollupKey, RollupDelta> rollup_;
  std::pair<const RollupKey, RollupDelta>* last_rollup_ = nullptr;
  MinuteRollup minute_;
  SqliteStore::TraceSlots& traces_;
  EventFilter& events_;
  // Fresh traces and generations waiting for a multi-row INSERT (FlushPending), and the pk the
  // next fresh trace gets (0: read max(pk) first).
  PendingRows<kNewTraces, 15> new_traces_;
  PendingRows<kNewObservations, 32> new_observations_;
  PendingRows<kNewRequests, kRequestColumnCount> new_requests_;
  // Compact requests waiting to be written as request blocks (request_blocks.h), and the
  // buffers for encoding them: the store's, kept from batch to batch (BlockScratch).
  BlockScratch& scratch_;
  struct LastField {
    std::string_view value;
    int64_t id = 0;
  };
  std::array<LastField, GatewayRequest::kFieldCount> last_fields_{};
  int64_t next_trace_pk_ = 0;
  int64_t next_request_pk_ = 0;  // 0: read max(pk) first
};

// The buffers a BatchWriter encodes request blocks in. The store keeps one from batch to batch, so
// a batch of thousands of requests grows no vector (made per batch, growing them and faulting in
// their fresh pages cost the writer about a tenth of its time at 60K requests/s).
struct BlockScratch {
  std::vector<BatchWriter::RequestRow> request_rows;  // compact requests waiting for FlushRequestRows
  std::vector<const BatchWriter::RequestRow*> block_order;
  std::vector<BlockRow> block_rows;
  std::string block_bytes;
  std::vector<std::pair<int64_t, int64_t>> block_pairs;
};

}  // namespace internal
}  // namespace ap::telemetry
