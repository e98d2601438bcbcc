// telemetry/sqlite_store.cc — opening, migrating and writing the SQLite store (reads are in
// sqlite_queries.cc).
//
// Write() is one BEGIN IMMEDIATE … COMMIT per batch with cached prepared statements. Items that
// are not `fresh` merge field by field into a stored row (Langfuse upsert semantics): traces in
// SQL, observations by a read, a merge and a REPLACE once an INSERT found the id taken; the
// daily rollup receives the difference between a generation's old and new contribution, so it
// stays exact under updates. Any failure rolls the whole batch back and forgets the interned ids
// handed out inside it. A gateway request whose trace id the gateway minted is written as one
// `requests` row (internal/request_rows.h) and moved into traces and observations only if a
// later write names its trace.
#include "telemetry/sqlite_store.h"

#include <array>
#include <filesystem>
#include <map>
#include <tuple>
#include <unordered_map>

#include "telemetry/internal/minute_rollup.h"
#include "telemetry/internal/request_rows.h"
#include "telemetry/internal/sqlite_db.h"
#include "telemetry/internal/sqlite_rows.h"

namespace ap::telemetry {
namespace {

using internal::Conn;
using internal::IdValue;
using internal::Stmt;
using internal::Value;

template <typename T>
void MergeField(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

void MergeObservation(Observation& o, const Observation& n) {
  o.type = n.type;
  if (n.start_us) o.start_us = n.start_us;
  if (n.end_us) o.end_us = n.end_us;
  if (n.completion_start_us) o.completion_start_us = n.completion_start_us;
  MergeField(o.parent_id, n.parent_id);
  MergeField(o.name, n.name);
  MergeField(o.model, n.model);
  MergeField(o.status_message, n.status_message);
  MergeField(o.version, n.version);
  MergeField(o.environment, n.environment);
  MergeField(o.level, n.level);
  MergeField(o.model_parameters, n.model_parameters);
  MergeField(o.input, n.input);
  MergeField(o.output, n.output);
  MergeField(o.metadata, n.metadata);
  MergeField(o.input_tokens, n.input_tokens);
  MergeField(o.output_tokens, n.output_tokens);
  MergeField(o.total_tokens, n.total_tokens);
  MergeField(o.cached_tokens, n.cached_tokens);
  MergeField(o.usage_details, n.usage_details);
  MergeField(o.cost_details, n.cost_details);
  MergeField(o.input_cost, n.input_cost);
  MergeField(o.output_cost, n.output_cost);
  MergeField(o.total_cost, n.total_cost);
  MergeField(o.user_id, n.user_id);
  MergeField(o.team, n.team);
  MergeField(o.key, n.key);
  MergeField(o.backend, n.backend);
  MergeField(o.status_code, n.status_code);
}

// Rollup key: day, project, model, user, team, key (0: none).
using RollupKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
struct RollupDelta {
  int64_t n = 0, in = 0, out = 0, cached = 0;
  double cost = 0;
};

// A trace the batch has seen: its row and its user (generations inherit it).
struct CachedTrace {
  int64_t project = 0, pk = 0;
  std::optional<std::string> user_id;
};

}  // namespace

// Traces written or read in the current batch, in a direct-mapped table indexed by a hash of
// the id: a trace's observations usually follow it closely (the gateway writes them as a pair),
// so they find its row without a query. A slot belongs to one batch (`batch` = the batch's
// number) and is overwritten freely; a miss costs one indexed SELECT. The table is reused from
// batch to batch, so the hot path allocates nothing (a per-batch hash map cost more in malloc
// than it saved).
struct SqliteStore::TraceSlots {
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

namespace {

#define AP_OBSERVATION_COLUMNS                                                                 \
  "id,project,trace,parent,type,name,start,dur,ttft,model,level,status_message,version,env,"   \
  "model_params,input,output,metadata,in_tok,out_tok,total_tok,cached_tok,usage_details,"      \
  "cost_details,in_cost,out_cost,cost,user,team,key,backend,status"
#define AP_TRACE_COLUMNS "id,project,ts,name,user,session,release,version,env,tags,input,output,metadata,public"

// "INSERT OR FAIL INTO <table_columns> VALUES(?,…),(?,…)…": `rows` rows of `columns` parameters.
// OR FAIL: a failing row fails the batch, which is rolled back whole anyway, so SQLite need not
// keep a statement journal to undo the statement's earlier rows (that cost more than a row).
std::string InsertSql(const char* table_columns, size_t columns, size_t rows) {
  std::string sql = std::string("INSERT OR FAIL INTO ") + table_columns + " VALUES";
  for (size_t r = 0; r < rows; ++r) {
    sql += r ? ",(" : "(";
    for (size_t c = 0; c < columns; ++c) sql += c ? ",?" : "?";
    sql += ")";
  }
  return sql;
}

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

constexpr char kNewTraces[] = "traces(pk," AP_TRACE_COLUMNS ")";
constexpr char kNewObservations[] = "observations(" AP_OBSERVATION_COLUMNS ")";
constexpr char kNewRequests[] = "requests(" AP_REQUEST_COLUMNS ")";

class BatchWriter {
 public:
  BatchWriter(Conn& c, const Store::Pricer& pricer, SqliteStore::TraceSlots& traces)
      : c_(c), pricer_(pricer), traces_(traces) {
    ++traces_.batch;
  }

  bool Apply(const Item& item) {
    if (!item.event_id.empty()) {
      auto s = c_.PrepareStatic("INSERT OR IGNORE INTO events(id, ts) VALUES(?, ?)");
      s.Bind(1, IdValue(item.event_id));
      s.Bind(2, now_);
      if (s.Step() != SQLITE_DONE) return false;
      if (sqlite3_changes(c_.db()) == 0) return true;  // already applied
    }
    if (auto* t = std::get_if<Trace>(&item.body)) return WriteTrace(*t, item.fresh);
    if (auto* o = std::get_if<Observation>(&item.body)) return WriteObservation(*o, item.fresh);
    return WriteScore(std::get<Score>(item.body));
  }

  // A gateway request as one row (internal/request_rows.h; the caller checked IsRequestPair):
  // priced and counted in the rollups like a generation, queued for a multi-row INSERT under a pk
  // the writer assigns. Never enters the trace slots: a later item that names the trace finds
  // it through ExpandRequest.
  bool ApplyRequest(const Trace& t, const Observation& g) {
    const int64_t project = c_.Intern(t.project);
    if (!next_request_pk_) {
      auto s = c_.PrepareStatic("SELECT max(pk) FROM requests");
      if (s.Step() != SQLITE_ROW) return false;
      next_request_pk_ = s.IsNull(0) ? internal::kRequestPkBase : s.Int(0) + 1;
    }
    // Text is borrowed from `g` (the item outlives the pending row); the copy only adds cost.
    std::optional<Observation> priced;
    if (!g.total_cost && pricer_) pricer_(priced.emplace(g));
    const Observation& o = priced ? *priced : g;
    const int64_t dims[4] = {DimId(o.model), DimId(o.user_id), DimId(o.team), DimId(o.key)};
    AddRollup(project, o, +1, dims);
    auto dim = [](int64_t id) { return id ? Value(id) : Value(); };
    return new_requests_.Add(
        c_, {next_request_pk_++, IdValue(t.id), IdValue(o.id), project, o.start_us, Dim(o.name), dim(dims[1]),
             Dim(t.session_id), Dim(o.environment), dim(dims[0]), Dim(o.backend), dim(dims[2]), dim(dims[3]),
             Value(int64_t{*o.status_code}), o.end_us ? Value(o.end_us - o.start_us) : Value(),
             o.completion_start_us ? Value(o.completion_start_us - o.start_us) : Value(), Num(o.input_tokens),
             Num(o.output_tokens), Num(o.total_tokens), Num(o.cached_tokens), Num(o.input_cost),
             Num(o.output_cost), Num(o.total_cost), o.level ? Value(int64_t{static_cast<int>(*o.level)}) : Value(),
             Text(g.status_message), o.parent_id ? IdValue(*o.parent_id) : Value(),
             t.tags ? Value(internal::TagsToJson(*t.tags)) : Value(), Text(g.usage_details), Text(g.metadata),
             Text(g.input), Text(g.output)});
  }

  // A compact gateway request (gateway_request.h) as one request row, bound from its fields: the
  // same row ApplyRequest writes for the items it stands for. Text is borrowed from the record,
  // which outlives the pending row.
  bool ApplyGatewayRequest(const GatewayRequest& q) {
    using F = GatewayRequest;
    const int64_t project = c_.Intern(q.Get(F::kProject));
    if (!next_request_pk_) {
      auto s = c_.PrepareStatic("SELECT max(pk) FROM requests");
      if (s.Step() != SQLITE_ROW) return false;
      next_request_pk_ = s.IsNull(0) ? internal::kRequestPkBase : s.Int(0) + 1;
    }
    bool has_cost = q.has_cost;
    double in_cost = q.input_cost, out_cost = q.output_cost, cost = q.total_cost;
    if (!has_cost && pricer_) {  // as WriteObservationRow prices an unpriced generation
      Observation g;
      g.type = ObservationType::kGeneration;
      g.start_us = q.start_us;
      g.model = q.Opt(F::kModel);
      if (q.has_usage) {
        g.input_tokens = q.input_tokens;
        g.output_tokens = q.output_tokens;
        if (q.cached_tokens) g.cached_tokens = q.cached_tokens;
      }
      pricer_(g);
      if (g.total_cost) {
        has_cost = true;
        in_cost = g.input_cost.value_or(0);
        out_cost = g.output_cost.value_or(0);
        cost = *g.total_cost;
      }
    }
    auto dim = [&](F::Field f) { return q.Has(f) ? c_.Intern(q.Get(f)) : int64_t{0}; };
    const int64_t model = dim(F::kModel), user = dim(F::kUser), team = dim(F::kTeam), key = dim(F::kKey);
    const int64_t in = q.has_usage ? q.input_tokens : 0, out = q.has_usage ? q.output_tokens : 0;
    {
      RollupDelta& d = RollupFor(RollupKey{DayOf(q.start_us), project, model, user, team, key});
      d.n += 1;
      d.in += in;
      d.out += out;
      d.cached += q.has_usage ? q.cached_tokens : 0;
      d.cost += has_cost ? cost : 0;
    }
    minute_.AddGeneration(project, model, q.start_us, q.end_us, q.completion_start_us, q.error || q.status >= 400,
                          in, out, has_cost ? cost : 0, +1);
    RequestRow row{&q, next_request_pk_++, project, dim(F::kName), user, dim(F::kSession), dim(F::kEnvironment),
                   model, dim(F::kBackend), team, key, in_cost, out_cost, cost, has_cost, {}, {}, {}};
    if (!q.Has(F::kTags) && AsBlob(IdValue(q.Get(F::kTraceId)), &row.trace) &&
        AsBlob(IdValue(q.Get(F::kSpanId)), &row.span) &&
        (!q.Has(F::kParentId) || AsBlob(IdValue(q.Get(F::kParentId)), &row.parent))) {
      request_rows_.push_back(row);
      return request_rows_.size() < kRowsPerRequestInsert || FlushRequestRows();
    }
    // Text ids or tags: the general row of Values.
    auto id = [](int64_t v) { return v ? Value(v) : Value(); };
    auto text = [&](F::Field f) { return q.Has(f) ? Value(q.Get(f)) : Value(); };
    auto usage = [&](int64_t v) { return q.has_usage ? Value(v) : Value(); };
    auto money = [&](double v) { return has_cost ? Value(v) : Value(); };
    Value tags;
    if (q.Has(F::kTags)) tags = internal::TagsToJson(q.Tags());
    return new_requests_.Add(
        c_, {row.pk, IdValue(q.Get(F::kTraceId)), IdValue(q.Get(F::kSpanId)), project, q.start_us, id(row.name),
             id(user), id(row.session), id(row.env), id(model), id(row.backend), id(team), id(key),
             Value(int64_t{q.status}), Value(q.end_us - q.start_us),
             q.completion_start_us ? Value(q.completion_start_us - q.start_us) : Value(), usage(q.input_tokens),
             usage(q.output_tokens), usage(q.total_tokens),
             q.has_usage && q.cached_tokens ? Value(q.cached_tokens) : Value(), money(in_cost), money(out_cost),
             money(cost), q.error ? Value(int64_t{static_cast<int>(Level::kError)}) : Value(),
             text(F::kStatusMessage), q.Has(F::kParentId) ? IdValue(q.Get(F::kParentId)) : Value(), std::move(tags),
             text(F::kUsageDetails), Value(), Value(), Value()});
  }

  // A compact request's row as the writer binds it: interned ids, the price, binary ids, and the
  // record (alive until the batch commits) for the rest. Trivially copyable: queueing one costs a
  // copy of ~150 bytes instead of building 31 Values.
  struct RequestRow {
    const GatewayRequest* q;
    int64_t pk, project, name, user, session, env, model, backend, team, key;
    double in_cost, out_cost, cost;
    bool has_cost;
    internal::Blob trace, span, parent;  // parent.size == 0: none
  };
  static constexpr size_t kRowsPerRequestInsert = 16;

  static bool AsBlob(const Value& v, internal::Blob* out) {
    const auto* b = std::get_if<internal::Blob>(&v);
    if (b) *out = *b;
    return b != nullptr;
  }

  // Binds `r` as row `row` (0-based) of a request INSERT; NULLs are left unbound.
  static void BindRequestRow(sqlite3_stmt* s, int row, const RequestRow& r) {
    using F = GatewayRequest;
    const GatewayRequest& q = *r.q;
    const int b = row * static_cast<int>(internal::kRequestColumnCount);
    auto i64 = [&](int col, int64_t v) { sqlite3_bind_int64(s, b + col, v); };
    auto dim = [&](int col, int64_t v) {
      if (v) sqlite3_bind_int64(s, b + col, v);
    };
    auto real = [&](int col, double v) { sqlite3_bind_double(s, b + col, v); };
    auto blob = [&](int col, const internal::Blob& v) { sqlite3_bind_blob(s, b + col, v.bytes, v.size, SQLITE_STATIC); };
    auto text = [&](int col, F::Field f) {
      if (q.Has(f)) sqlite3_bind_text(s, b + col, q.text + q.offset[f], q.size[f], SQLITE_STATIC);
    };
    // pk,id,span,project,ts,name,user,session,env,model,backend,team,key,status,dur,ttft,in_tok,out_tok,
    // total_tok,cached_tok,in_cost,out_cost,cost,level,status_message,parent,tags,usage_details,metadata,
    // input,output (AP_REQUEST_COLUMNS)
    i64(1, r.pk);
    blob(2, r.trace);
    blob(3, r.span);
    i64(4, r.project);
    i64(5, q.start_us);
    dim(6, r.name);
    dim(7, r.user);
    dim(8, r.session);
    dim(9, r.env);
    dim(10, r.model);
    dim(11, r.backend);
    dim(12, r.team);
    dim(13, r.key);
    i64(14, q.status);
    i64(15, q.end_us - q.start_us);
    if (q.completion_start_us) i64(16, q.completion_start_us - q.start_us);
    if (q.has_usage) {
      i64(17, q.input_tokens);
      i64(18, q.output_tokens);
      i64(19, q.total_tokens);
      if (q.cached_tokens) i64(20, q.cached_tokens);
    }
    if (r.has_cost) {
      real(21, r.in_cost);
      real(22, r.out_cost);
      real(23, r.cost);
    }
    if (q.error) i64(24, static_cast<int>(Level::kError));
    text(25, F::kStatusMessage);
    if (r.parent.size) blob(26, r.parent);
    text(28, F::kUsageDetails);
  }

  bool FlushRequestRows() {
    static const std::string many = InsertSql(kNewRequests, internal::kRequestColumnCount, kRowsPerRequestInsert);
    static const std::string one = InsertSql(kNewRequests, internal::kRequestColumnCount, 1);
    size_t i = 0;
    for (; request_rows_.size() - i >= kRowsPerRequestInsert; i += kRowsPerRequestInsert) {
      auto s = c_.PrepareStatic(many.c_str());
      for (size_t r = 0; r < kRowsPerRequestInsert; ++r) BindRequestRow(s.raw(), static_cast<int>(r), request_rows_[i + r]);
      if (s.Step() != SQLITE_DONE) return false;
    }
    for (; i < request_rows_.size(); ++i) {
      auto s = c_.PrepareStatic(one.c_str());
      BindRequestRow(s.raw(), 0, request_rows_[i]);
      if (s.Step() != SQLITE_DONE) return false;
    }
    request_rows_.clear();
    return true;
  }

  // The end of the batch: pending rows, then the rollup deltas.
  bool Finish() { return FlushPending() && FlushRollup(); }

  bool FlushRollup() {
    for (const auto& [k, d] : rollup_) {
      if (d.n == 0 && d.in == 0 && d.out == 0 && d.cached == 0 && d.cost == 0) continue;
      auto s = c_.PrepareStatic(
          "INSERT INTO usage_daily VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
          "n=n+excluded.n, in_tok=in_tok+excluded.in_tok, out_tok=out_tok+excluded.out_tok, "
          "cached=cached+excluded.cached, cost=cost+excluded.cost");
      auto [day, project, model, user, team, key] = k;
      s.BindAll({day, project, model, user, team, key, d.n, d.in, d.out, d.cached, d.cost});
      if (s.Step() != SQLITE_DONE) return false;
    }
    return FlushMinuteRollup();
  }

 private:
  // The per-minute rollup (the dashboard's time series), from the same deltas.
  bool FlushMinuteRollup() {
    for (const auto& [k, t] : minute_.totals()) {
      if (t.n == 0 && t.errors == 0 && t.in == 0 && t.out == 0 && t.cost == 0) continue;
      auto s = c_.Prepare(
          "INSERT INTO usage_minute VALUES(?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n=n+excluded.n, "
          "errors=errors+excluded.errors, in_tok=in_tok+excluded.in_tok, out_tok=out_tok+excluded.out_tok, "
          "cost=cost+excluded.cost");
      auto [minute, project, model] = k;
      s.BindAll({minute, project, model, t.n, t.errors, t.in, t.out, t.cost});
      if (s.Step() != SQLITE_DONE) return false;
    }
    for (const auto& [k, n] : minute_.histogram()) {
      if (n == 0) continue;
      auto s = c_.Prepare("INSERT INTO latency_minute VALUES(?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n=n+excluded.n");
      auto [minute, project, model, kind, bucket] = k;
      s.BindAll({minute, project, model, int64_t{kind}, int64_t{bucket}, n});
      if (s.Step() != SQLITE_DONE) return false;
    }
    return true;
  }

  Value Dim(const std::optional<std::string>& v) {
    if (!v) return {};
    return c_.Intern(*v);
  }
  // Borrowed: the items outlive the statements that bind them.
  Value Text(const std::optional<std::string>& v) { return v ? Value(std::string_view(*v)) : Value(); }
  template <typename T>
  Value Num(const std::optional<T>& v) { return v ? Value(*v) : Value(); }

  // Moves the request row of trace `id`, if there is one, into traces and observations (see
  // request_rows.h). Only 32-hex ids can name one. Pending rows must be flushed.
  bool ExpandRequest(int64_t project, const std::string& id) {
    const Value key = IdValue(id);
    if (const auto* b = std::get_if<internal::Blob>(&key); !b || b->size != 16) return true;
    int64_t pk = 0;
    {
      auto s = c_.PrepareStatic("SELECT pk FROM requests WHERE project=? AND id=?");
      s.Bind(1, project);
      s.Bind(2, key);
      int rc = s.Step();
      if (rc == SQLITE_DONE) return true;
      if (rc != SQLITE_ROW) return false;
      pk = s.Int(0);
    }
    {
      auto s = c_.PrepareStatic(internal::kExpandRequestTrace);
      s.Bind(1, pk);
      if (s.Step() != SQLITE_DONE) return false;
    }
    const int64_t trace_pk = sqlite3_last_insert_rowid(c_.db());
    for (const char* sql : {internal::kExpandRequestGeneration, internal::kExpandRequestDelete}) {
      auto s = c_.PrepareStatic(sql);
      s.Bind(1, pk);
      if (sql == internal::kExpandRequestGeneration) s.Bind(2, trace_pk);
      if (s.Step() != SQLITE_DONE) return false;
    }
    return true;
  }

  // pk and the trace as stored, when it exists.
  std::optional<std::pair<int64_t, Trace>> FindTrace(int64_t project, const std::string& id) {
    static const std::string kSql =
        std::string("SELECT ") + internal::kTraceColumns + " FROM traces t WHERE t.project=? AND t.id=?";
    auto s = c_.PrepareStatic(kSql.c_str());
    s.Bind(1, project);
    s.Bind(2, IdValue(id));
    if (s.Step() != SQLITE_ROW) return std::nullopt;
    int64_t pk;
    Trace t = internal::ReadTrace(s, c_, &pk);
    return std::make_pair(pk, std::move(t));
  }

  bool WriteTraceRow(int64_t pk, int64_t project, const Trace& t) {
    const std::array<Value, 14> v = {IdValue(t.id), project, t.timestamp_us, Dim(t.name), Dim(t.user_id),
                                     Dim(t.session_id), Dim(t.release), Dim(t.version), Dim(t.environment),
                                     t.tags ? Value(internal::TagsToJson(*t.tags)) : Value(), Text(t.input),
                                     Text(t.output), Text(t.metadata),
                                     t.is_public ? Value(int64_t{*t.is_public}) : Value()};
    auto s = pk ? c_.PrepareStatic("UPDATE traces SET id=?,project=?,ts=?,name=?,user=?,session=?,release=?,"
                             "version=?,env=?,tags=?,input=?,output=?,metadata=?,public=? WHERE pk=?")
                : c_.PrepareStatic("INSERT INTO traces(" AP_TRACE_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.BindAll(v);
    if (pk) s.Bind(15, pk);
    if (s.Step() != SQLITE_DONE) return false;
    int64_t row = pk ? pk : sqlite3_last_insert_rowid(c_.db());
    traces_.Put(t.id, {project, row, t.user_id});
    return true;
  }

  // A trace whose id was never written (the gateway minted it): no conflict check and no read. It
  // joins a multi-row INSERT under a pk the writer assigns, so its generation can point at it
  // before the row exists. Only this connection writes, inside BEGIN IMMEDIATE.
  bool QueueFreshTrace(const Trace& t, int64_t project) {
    if (!next_trace_pk_) {
      auto s = c_.PrepareStatic("SELECT coalesce(max(pk), 0) + 1 FROM traces");
      if (s.Step() != SQLITE_ROW) return false;
      next_trace_pk_ = s.Int(0);
    }
    const int64_t pk = next_trace_pk_++;
    traces_.Put(t.id, {project, pk, t.user_id});
    return new_traces_.Add(c_, {pk, IdValue(t.id), project, t.timestamp_us ? t.timestamp_us : now_, Dim(t.name),
                                Dim(t.user_id), Dim(t.session_id), Dim(t.release), Dim(t.version),
                                Dim(t.environment), t.tags ? Value(internal::TagsToJson(*t.tags)) : Value(),
                                Text(t.input), Text(t.output), Text(t.metadata),
                                t.is_public ? Value(int64_t{*t.is_public}) : Value()});
  }

  // New traces (the common case: one per gateway request) cost one insert; an existing one is
  // merged in SQL (set fields win, as MergeTrace does) without reading the row into C++.
  bool WriteTrace(const Trace& t, bool fresh) {
    int64_t project = c_.Intern(t.project);
    if (fresh) return QueueFreshTrace(t, project);
    if (!FlushPending() || !ExpandRequest(project, t.id)) return false;
    // ?1…?14 are the row; ?15 says whether the item set the timestamp (the update keeps the
    // stored one otherwise).
    const std::array<Value, 15> v = {
        IdValue(t.id), project, t.timestamp_us ? t.timestamp_us : now_, Dim(t.name), Dim(t.user_id),
        Dim(t.session_id), Dim(t.release), Dim(t.version), Dim(t.environment),
        t.tags ? Value(internal::TagsToJson(*t.tags)) : Value(), Text(t.input), Text(t.output), Text(t.metadata),
        t.is_public ? Value(int64_t{*t.is_public}) : Value(), int64_t{t.timestamp_us != 0}};
    {
      auto ins = c_.PrepareStatic(
          "INSERT INTO traces(" AP_TRACE_COLUMNS ") "
          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) ON CONFLICT(project,id) DO NOTHING");
      ins.BindAll(std::span(v).first(14));
      if (ins.Step() != SQLITE_DONE) return false;
      if (sqlite3_changes(c_.db()) == 1) {
        traces_.Put(t.id, {project, sqlite3_last_insert_rowid(c_.db()), t.user_id});
        return true;
      }
    }
    // The stored row's pk and user, before the update: a user set now for the first time is
    // inherited by the generations written before it (OTLP exports children before their root).
    int64_t pk = 0, old_user = 0;
    {
      auto sel = c_.PrepareStatic("SELECT pk, user FROM traces WHERE project=? AND id=?");
      sel.Bind(1, project);
      sel.Bind(2, IdValue(t.id));
      if (sel.Step() != SQLITE_ROW) return false;
      pk = sel.Int(0);
      old_user = sel.IsNull(1) ? 0 : sel.Int(1);
    }
    auto upd = c_.PrepareStatic(
        "UPDATE traces SET ts=CASE WHEN ?15 THEN ?3 ELSE ts END, name=coalesce(?4,name), user=coalesce(?5,user), "
        "session=coalesce(?6,session), release=coalesce(?7,release), version=coalesce(?8,version), "
        "env=coalesce(?9,env), tags=coalesce(?10,tags), input=coalesce(?11,input), output=coalesce(?12,output), "
        "metadata=coalesce(?13,metadata), public=coalesce(?14,public) WHERE project=?2 AND id=?1");
    upd.BindAll(v);
    if (upd.Step() != SQLITE_DONE) return false;
    std::optional<std::string> user;
    if (old_user) {
      user = c_.Name(old_user);
    } else if (t.user_id) {
      user = t.user_id;
      if (!InheritUser(pk, project, std::get<int64_t>(v[4]))) return false;
    }
    traces_.Put(t.id, {project, pk, std::move(user)});
    return true;
  }

  // Gives a trace's user-less generations the trace's new user, moving their rollup counts.
  bool InheritUser(int64_t trace_pk, int64_t project, int64_t user) {
    if (!FlushPending()) return false;
    {
      auto s = c_.PrepareStatic(
          "SELECT start, coalesce(model,0), coalesce(team,0), coalesce(key,0), coalesce(in_tok,0), "
          "coalesce(out_tok,0), coalesce(cached_tok,0), coalesce(cost,0) FROM observations "
          "WHERE trace=? AND type=1 AND user IS NULL");
      s.Bind(1, trace_pk);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        const int64_t day = DayOf(s.Int(0)), model = s.Int(1), team = s.Int(2), key = s.Int(3);
        for (int64_t u : {int64_t{0}, user}) {
          const int sign = u ? 1 : -1;
          auto& d = rollup_[RollupKey{day, project, model, u, team, key}];
          d.n += sign;
          d.in += sign * s.Int(4);
          d.out += sign * s.Int(5);
          d.cached += sign * s.Int(6);
          d.cost += sign * s.Real(7);
        }
      }
      if (rc != SQLITE_DONE) return false;
    }
    auto upd = c_.PrepareStatic("UPDATE observations SET user=? WHERE trace=? AND type=1 AND user IS NULL");
    upd.Bind(1, user);
    upd.Bind(2, trace_pk);
    return upd.Step() == SQLITE_DONE;
  }

  // The trace's pk and user, creating a placeholder trace when the observation came first.
  const CachedTrace* TraceFor(int64_t project, const std::string& id, int64_t ts) {
    if (const CachedTrace* cached = traces_.Find(project, id)) return cached;
    if (!FlushPending()) return nullptr;
    if (auto found = FindTrace(project, id))
      return traces_.Put(id, {project, found->first, std::move(found->second.user_id)});
    if (!ExpandRequest(project, id)) return nullptr;
    if (auto found = FindTrace(project, id))
      return traces_.Put(id, {project, found->first, std::move(found->second.user_id)});
    Trace t;
    t.id = id;
    t.timestamp_us = ts ? ts : now_;
    if (!WriteTraceRow(0, project, t)) return nullptr;
    return traces_.Find(project, id);
  }

  int64_t DimId(const std::optional<std::string>& v) { return v ? c_.Intern(*v) : int64_t{0}; }

  // The batch's delta for `k`; consecutive gateway requests mostly share one, so the last is
  // remembered (map nodes do not move).
  RollupDelta& RollupFor(const RollupKey& k) {
    if (!last_rollup_ || last_rollup_->first != k) last_rollup_ = &*rollup_.try_emplace(k).first;
    return last_rollup_->second;
  }

  // `dims`: the interned model, user, team and key when the caller has them already.
  void AddRollup(int64_t project, const Observation& o, int sign, const int64_t* dims = nullptr) {
    if (o.type != ObservationType::kGeneration) return;
    RollupKey k = dims ? RollupKey{DayOf(o.start_us), project, dims[0], dims[1], dims[2], dims[3]}
                       : RollupKey{DayOf(o.start_us), project, DimId(o.model), DimId(o.user_id), DimId(o.team),
                                   DimId(o.key)};
    minute_.Add(project, std::get<2>(k), o, sign);
    auto& d = rollup_[k];
    d.n += sign;
    d.in += sign * o.input_tokens.value_or(0);
    d.out += sign * o.output_tokens.value_or(0);
    d.cached += sign * o.cached_tokens.value_or(0);
    d.cost += sign * o.total_cost.value_or(0);
  }

  // The stored observation `id` (not a write-once one), its pk in *pk; nullopt when there is none.
  std::optional<Observation> FindObservation(int64_t project, const std::string& id, int64_t* pk) {
    static const std::string kSql = std::string("SELECT ") + internal::kObservationColumns +
                                    ",t.id FROM observations o JOIN traces t ON t.pk=o.trace "
                                    "WHERE o.project=? AND o.id=? AND o.status IS NULL";
    auto s = c_.PrepareStatic(kSql.c_str());
    s.Bind(1, project);
    s.Bind(2, IdValue(id));
    if (s.Step() != SQLITE_ROW) return std::nullopt;
    return internal::ReadObservation(s, c_, pk);
  }

  // An upsert (not fresh) is first tried as a new row: most are (an SDK's creates), and the
  // INSERT's own uniqueness check on (project, id) finds a stored row as cheaply as a read would.
  // Only when one is there is it read, merged and replaced. Observations carrying an HTTP status
  // stay out of the unique index (migration 3), so they are always read first.
  bool WriteObservation(const Observation& n, bool fresh) {
    int64_t project = c_.Intern(n.project);
    const CachedTrace* trace = TraceFor(project, n.trace_id, n.start_us);
    if (!trace) return false;
    const int64_t trace_pk = trace->pk;
    const std::optional<std::string>* trace_user = &trace->user_id;
    int64_t pk = 0;
    std::optional<Observation> merged;
    const bool insert_first = !fresh && !n.status_code;
    if (!fresh) {
      if (!FlushPending()) return false;
      if (!insert_first) {
        if (auto stored = FindObservation(project, n.id, &pk)) {
          merged = std::move(stored);
          AddRollup(project, *merged, -1);
          MergeObservation(*merged, n);
        }
      }
    }
    if (insert_first) {
      switch (WriteObservationRow(project, trace_pk, *trace_user, n, nullptr, 0, /*new_only=*/true)) {
        case RowWrite::kFailed: return false;
        case RowWrite::kDone: return true;
        case RowWrite::kExists: break;
      }
      auto stored = FindObservation(project, n.id, &pk);
      if (!stored) return false;
      merged = std::move(stored);
      AddRollup(project, *merged, -1);
      MergeObservation(*merged, n);
    }
    return WriteObservationRow(project, trace_pk, *trace_user, n, merged ? &*merged : nullptr, pk, false) ==
           RowWrite::kDone;
  }

  enum class RowWrite { kDone, kExists, kFailed };

  // Writes observation `n` (or `merged`, its merge with the stored row `pk`) with its defaults
  // filled in, priced, and counted in the rollups. `new_only`: only if no stored row has its id
  // (kExists otherwise, nothing changed).
  RowWrite WriteObservationRow(int64_t project, int64_t trace_pk, const std::optional<std::string>& trace_user,
                               const Observation& n, Observation* merged_in, int64_t pk, bool new_only) {
    const bool fresh_insert = !merged_in && !pk && !new_only;
    // Written as it came unless it merges with a stored row or needs a default filled in: a
    // gateway generation (fresh, complete) is never copied.
    std::optional<Observation> copy;
    Observation* merged = merged_in;
    auto edit = [&]() -> Observation& {
      if (!merged) merged = &copy.emplace(n);
      return *merged;
    };
    if (!(merged ? *merged : n).start_us) {
      auto& e = edit();
      e.start_us = e.end_us ? e.end_us : now_;
    }
    if (!(merged ? *merged : n).user_id && n.type == ObservationType::kGeneration && trace_user)
      edit().user_id = trace_user;
    if (n.type == ObservationType::kGeneration && !(merged ? *merged : n).total_cost && pricer_) pricer_(edit());
    const Observation& o = merged ? *merged : n;
    const int64_t dims[4] = {DimId(o.model), DimId(o.user_id), DimId(o.team), DimId(o.key)};
    auto dim = [](int64_t id) { return id ? Value(id) : Value(); };
    const std::array<Value, 32> v = {
        IdValue(o.id), project, trace_pk,
        o.parent_id ? IdValue(*o.parent_id) : Value(), int64_t{static_cast<int>(o.type)}, Dim(o.name),
        o.start_us, o.end_us ? Value(o.end_us - o.start_us) : Value(),
        o.completion_start_us ? Value(o.completion_start_us - o.start_us) : Value(), dim(dims[0]),
        o.level ? Value(int64_t{static_cast<int>(*o.level)}) : Value(), Text(o.status_message),
        Dim(o.version), Dim(o.environment), Text(o.model_parameters), Text(o.input), Text(o.output),
        Text(o.metadata), Num(o.input_tokens), Num(o.output_tokens), Num(o.total_tokens),
        Num(o.cached_tokens), Text(o.usage_details), Text(o.cost_details), Num(o.input_cost),
        Num(o.output_cost), Num(o.total_cost), dim(dims[1]), dim(dims[2]), dim(dims[3]), Dim(o.backend),
        o.status_code ? Value(int64_t{*o.status_code}) : Value()};
    // Write-once and borrowing only from the item: joins a multi-row INSERT.
    if (fresh_insert && !merged) {
      AddRollup(project, o, +1, dims);
      return new_observations_.Add(c_, v) ? RowWrite::kDone : RowWrite::kFailed;
    }
    auto s = pk ? c_.PrepareStatic("REPLACE INTO observations(pk," AP_OBSERVATION_COLUMNS
                                   ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
        : new_only ? c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                      ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                      " ON CONFLICT DO NOTHING")
                   : c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                      ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    // The values live until Step() returns: bound in place.
    if (pk) {
      s.Bind(1, pk);
      s.BindAll(v, 2, true);
    } else {
      s.BindAll(v, 1, true);
    }
    if (s.Step() != SQLITE_DONE) return RowWrite::kFailed;
    if (new_only && sqlite3_changes(c_.db()) == 0) return RowWrite::kExists;
    AddRollup(project, o, +1, dims);
    return RowWrite::kDone;
  }

  // Inserts the queued fresh traces and generations. Runs before anything in the batch reads or
  // updates traces or observations, and at the end of the batch. The next fresh trace reads
  // max(pk) again: the caller may insert a trace without a pk next.
  bool FlushPending() {
    next_trace_pk_ = 0;
    return new_traces_.Flush(c_) && new_observations_.Flush(c_) && new_requests_.Flush(c_) && FlushRequestRows();
  }

  bool WriteScore(const Score& sc) {
    int64_t project = c_.Intern(sc.project);
    auto s = c_.PrepareStatic(
        "INSERT INTO scores(id,project,trace_id,observation_id,session_id,name,value,string_value,"
        "data_type,comment,source,ts) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(project,id) DO UPDATE SET "
        "trace_id=excluded.trace_id, observation_id=excluded.observation_id, session_id=excluded.session_id,"
        "name=excluded.name, value=excluded.value, string_value=excluded.string_value, "
        "data_type=excluded.data_type, comment=excluded.comment, source=excluded.source, ts=excluded.ts");
    s.BindAll({IdValue(sc.id), project, IdValue(sc.trace_id),
               sc.observation_id ? IdValue(*sc.observation_id) : Value(), Text(sc.session_id),
               c_.Intern(sc.name), Num(sc.value), Text(sc.string_value), Text(sc.data_type),
               Text(sc.comment), Text(sc.source), sc.timestamp_us ? sc.timestamp_us : now_});
    return s.Step() == SQLITE_DONE;
  }

  Conn& c_;
  const Store::Pricer& pricer_;
  int64_t now_ = NowMicros();
  std::map<RollupKey, RollupDelta> rollup_;
  std::pair<const RollupKey, RollupDelta>* last_rollup_ = nullptr;
  internal::MinuteRollup minute_;
  SqliteStore::TraceSlots& traces_;
  // Fresh traces and generations waiting for a multi-row INSERT (FlushPending), and the pk the
  // next fresh trace gets (0: read max(pk) first).
  PendingRows<kNewTraces, 15> new_traces_;
  PendingRows<kNewObservations, 32> new_observations_;
  PendingRows<kNewRequests, internal::kRequestColumnCount> new_requests_;
  std::vector<RequestRow> request_rows_;  // compact requests waiting for a multi-row INSERT
  int64_t next_trace_pk_ = 0;
  int64_t next_request_pk_ = 0;  // 0: read max(pk) first
};

}  // namespace

#undef AP_OBSERVATION_COLUMNS
#undef AP_TRACE_COLUMNS

int SqliteStore::LatestSchemaVersion() { return static_cast<int>(internal::Migrations().size()); }

SqliteStore::SqliteStore(SqliteOptions options)
    : options_(std::move(options)), trace_slots_(std::make_unique<TraceSlots>()) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  auto conn = std::make_unique<Conn>();
  std::string error;
  if (auto dir = std::filesystem::path(options.path).parent_path(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  if (!conn->Open(options.path, false, &error)) return "open " + options.path + ": " + error;
  // The writer's page cache holds the hot part of the id indexes (W3C ids are random, so inserts
  // land anywhere in them); mmap makes the remaining misses a memory copy instead of a read().
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
                        "PRAGMA mmap_size=4294967296; PRAGMA cache_size=-" +
                        std::to_string(options.writer_cache_mib * 1024) + "; PRAGMA synchronous=";
  pragmas += options.synchronous_full ? "FULL;" : "NORMAL;";
  if (!conn->Exec(pragmas, &error)) return "configure " + options.path + ": " + error;
  if (!internal::RegisterLatencyBucketFunction(conn->db()) || !internal::RegisterIdFunction(conn->db()))
    return "configure " + options.path + ": " + conn->LastError();
  int version = 0;
  {
    auto s = conn->Prepare("PRAGMA user_version");
    if (s.Step() == SQLITE_ROW) version = static_cast<int>(s.Int(0));
  }
  const auto& migrations = internal::Migrations();
  if (version > static_cast<int>(migrations.size()))
    return options.path + ": schema version " + std::to_string(version) + " is newer than this binary's " +
           std::to_string(migrations.size());
  for (size_t i = version; i < migrations.size(); ++i) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + migrations[i] + ";PRAGMA user_version=" +
                      std::to_string(i + 1) + ";COMMIT;";
    if (!conn->Exec(sql, &error)) {
      conn->Exec("ROLLBACK", nullptr);
      return "migration " + std::to_string(i + 1) + ": " + error;
    }
  }
  store->writer_ = std::move(conn);
  return store;
}

Result<void> SqliteStore::WriteBatch(ItemGroups groups, std::span<const GatewayRequest> requests) {
  std::lock_guard lock(write_mu_);
  Conn& c = *writer_;
  std::string error;
  if (!c.Exec("BEGIN IMMEDIATE", &error)) return "begin: " + error;
  BatchWriter batch(c, pricer_, *trace_slots_);
  bool ok = true;
  for (size_t i = 0; ok && i < requests.size(); ++i) ok = batch.ApplyGatewayRequest(requests[i]);
  for (auto group = groups.begin(); ok && group != groups.end(); ++group)
    for (size_t i = 0; ok && i < group->size(); ++i) {
      const Item& item = (*group)[i];
      if (i + 1 < group->size() && internal::IsRequestPair(item, (*group)[i + 1])) {
        ok = batch.ApplyRequest(std::get<Trace>(item.body), std::get<Observation>((*group)[++i].body));
      } else {
        ok = batch.Apply(item);
      }
    }
  if (ok) ok = batch.Finish();
  if (ok && c.Exec("COMMIT", &error)) return {};
  if (error.empty()) error = c.LastError();
  c.Exec("ROLLBACK", nullptr);
  c.ForgetInterned();
  return "write: " + error;
}

Result<int64_t> SqliteStore::DeleteOlderThan(int64_t cutoff_us) {
  std::lock_guard lock(write_mu_);
  Conn& c = *writer_;
  std::string error;
  // The rollup is kept per whole day, so retention works on whole days too.
  int64_t cutoff_day = DayOf(cutoff_us);
  int64_t cutoff = cutoff_day * 86'400'000'000;
  if (!c.Exec("BEGIN IMMEDIATE", &error)) return "begin: " + error;
  auto run = [&](const char* sql) {
    auto s = c.Prepare(sql);
    s.Bind(1, cutoff);
    return s.Step() == SQLITE_DONE;
  };
  int64_t deleted = 0;
  bool ok = run("DELETE FROM observations WHERE trace IN (SELECT pk FROM traces WHERE ts < ?)") &&
            run("DELETE FROM scores WHERE ts < ?");
  for (const char* table : {"traces", "requests"}) {
    if (!ok) break;
    ok = run((std::string("DELETE FROM ") + table + " WHERE ts < ?").c_str());
    deleted += sqlite3_changes(c.db());
  }
  ok = ok && run("DELETE FROM events WHERE ts < ?");
  if (ok) {
    auto s = c.Prepare("DELETE FROM usage_daily WHERE day < ?");
    s.Bind(1, cutoff_day);
    ok = s.Step() == SQLITE_DONE;
  }
  for (const char* table : {"usage_minute", "latency_minute"}) {
    if (!ok) break;
    auto s = c.Prepare(std::string("DELETE FROM ") + table + " WHERE minute < ?");
    s.Bind(1, cutoff / 60'000'000);
    ok = s.Step() == SQLITE_DONE;
  }
  if (ok && c.Exec("COMMIT", &error)) return deleted;
  if (error.empty()) error = c.LastError();
  c.Exec("ROLLBACK", nullptr);
  return "retention: " + error;
}

Result<std::unique_ptr<internal::Conn>> SqliteStore::TakeReader() {
  {
    std::lock_guard lock(read_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Conn>();
  std::string error;
  if (!c->Open(options_.path, true, &error)) return "open for reading: " + error;
  c->Exec("PRAGMA mmap_size=4294967296; PRAGMA cache_size=-16384;", nullptr);
  return c;
}

void SqliteStore::ReturnReader(std::unique_ptr<internal::Conn> conn) {
  std::lock_guard lock(read_mu_);
  if (static_cast<int>(readers_.size()) < options_.read_connections) readers_.push_back(std::move(conn));
}

}  // namespace ap::telemetry
