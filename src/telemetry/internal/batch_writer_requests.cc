// telemetry/internal/batch_writer_requests.cc — the batch writer's gateway-request path (see
// batch_writer.h): a gateway request whose trace id the gateway minted becomes one `requests`
// row (request_rows.h), from its items (ApplyRequest) or from the compact record the sink
// queued (ApplyGatewayRequest), and joins a 16-row INSERT. Compact records are bound straight
// from their fields (BindRequestRow), without building Values. ExpandRequest moves such a row
// into traces and observations once a later item names its trace.
#include "telemetry/internal/batch_writer.h"
#include "telemetry/internal/sqlite_rows.h"

namespace ap::telemetry::internal {
namespace {

constexpr size_t kRowsPerRequestInsert = 16;

bool AsBlob(const Value& v, Blob* out) {
  const auto* b = std::get_if<Blob>(&v);
  if (b) *out = *b;
  return b != nullptr;
}

// Binds `r` as row `row` (0-based) of a request INSERT; NULLs are left unbound.
void BindRequestRow(sqlite3_stmt* s, int row, const BatchWriter::RequestRow& r) {
  using F = GatewayRequest;
  const GatewayRequest& q = *r.q;
  const int b = row * static_cast<int>(kRequestColumnCount);
  auto i64 = [&](int col, int64_t v) { sqlite3_bind_int64(s, b + col, v); };
  auto dim = [&](int col, int64_t v) {
    if (v) sqlite3_bind_int64(s, b + col, v);
  };
  auto real = [&](int col, double v) { sqlite3_bind_double(s, b + col, v); };
  auto blob = [&](int col, const Blob& v) { sqlite3_bind_blob(s, b + col, v.bytes, v.size, SQLITE_STATIC); };
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

}  // namespace

bool BatchWriter::ApplyRequest(const Trace& t, const Observation& g) {
  const int64_t project = c_.Intern(t.project);
  if (!next_request_pk_) {
    auto s = c_.PrepareStatic("SELECT max(pk) FROM requests");
    if (s.Step() != SQLITE_ROW) return false;
    next_request_pk_ = s.IsNull(0) ? kRequestPkBase : s.Int(0) + 1;
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
           t.tags ? Value(TagsToJson(*t.tags)) : Value(), Text(g.usage_details), Text(g.metadata),
           Text(g.input), Text(g.output)});
}

bool BatchWriter::ApplyGatewayRequest(const GatewayRequest& q) {
  using F = GatewayRequest;
  const int64_t project = c_.Intern(q.Get(F::kProject));
  if (!next_request_pk_) {
    auto s = c_.PrepareStatic("SELECT max(pk) FROM requests");
    if (s.Step() != SQLITE_ROW) return false;
    next_request_pk_ = s.IsNull(0) ? kRequestPkBase : s.Int(0) + 1;
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
  if (q.Has(F::kTags)) tags = TagsToJson(q.Tags());
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

bool BatchWriter::FlushRequestRows() {
  static const std::string many = InsertSql(kNewRequests, kRequestColumnCount, kRowsPerRequestInsert);
  static const std::string one = InsertSql(kNewRequests, kRequestColumnCount, 1);
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

// Moves the request row of trace `id`, if there is one, into traces and observations (see
// request_rows.h). Only 32-hex ids can name one. Pending rows must be flushed.
bool BatchWriter::ExpandRequest(int64_t project, const std::string& id) {
  const Value key = IdValue(id);
  if (const auto* b = std::get_if<Blob>(&key); !b || b->size != 16) return true;
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
    auto s = c_.PrepareStatic(kExpandRequestTrace);
    s.Bind(1, pk);
    if (s.Step() != SQLITE_DONE) return false;
  }
  const int64_t trace_pk = sqlite3_last_insert_rowid(c_.db());
  for (const char* sql : {kExpandRequestGeneration, kExpandRequestDelete}) {
    auto s = c_.PrepareStatic(sql);
    s.Bind(1, pk);
    if (sql == kExpandRequestGeneration) s.Bind(2, trace_pk);
    if (s.Step() != SQLITE_DONE) return false;
  }
  return true;
}

}  // namespace ap::telemetry::internal
