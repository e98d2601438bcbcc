// telemetry/internal/batch_writer_requests.cc — the batch writer's gateway-request path (see
// batch_writer.h). A compact record the sink queued (ApplyGatewayRequest) with binary ids and no
// tags waits in scratch_.request_rows and is written with the batch's others as request blocks
// (request_blocks.h: encoded bytes, one id-index entry each, one session-index entry per block and
// session). A request that comes as items (ApplyRequest), or a compact one with tags or text ids,
// becomes one `requests` row (request_rows.h) in a 16-row INSERT. ExpandRequest moves a request
// out of either form into traces and observations once a later item names its trace.
#include "telemetry/internal/batch_writer.h"
#include "telemetry/internal/sqlite_rows.h"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace ap::telemetry::internal {
namespace {

// Compact requests are encoded into blocks once this many wait (and at the end of the batch, or
// before anything reads or updates traces).
constexpr size_t kPendingBlockRows = 4096;

// The block form of a compact request's row.
void ToBlockRow(const BatchWriter::RequestRow& r, BlockRow* b) {
  using F = GatewayRequest;
  const GatewayRequest& q = *r.q;
  b->flags = 0;
  auto flag = [&](bool on, BlockRow::Flag f) {
    if (on) b->flags |= f;
  };
  flag(q.completion_start_us != 0, BlockRow::kTtft);
  flag(q.has_usage, BlockRow::kUsage);
  flag(q.has_usage && q.cached_tokens != 0, BlockRow::kCached);
  flag(r.has_cost, BlockRow::kCost);
  flag(q.error, BlockRow::kError);
  flag(q.Has(F::kStatusMessage), BlockRow::kStatusMessage);
  flag(q.Has(F::kUsageDetails), BlockRow::kUsageDetails);
  b->trace_size = r.trace.size;
  std::memcpy(b->trace, r.trace.bytes, r.trace.size);
  b->span_size = r.span.size;
  std::memcpy(b->span, r.span.bytes, r.span.size);
  b->parent_size = r.parent.size;
  std::memcpy(b->parent, r.parent.bytes, r.parent.size);
  b->ts = q.start_us;
  b->name = r.name;
  b->user = r.user;
  b->session = r.session;
  b->env = r.env;
  b->model = r.model;
  b->backend = r.backend;
  b->team = r.team;
  b->key = r.key;
  b->status = q.status;
  b->dur = q.end_us - q.start_us;
  b->ttft = q.completion_start_us ? q.completion_start_us - q.start_us : 0;
  b->in_tok = q.input_tokens;
  b->out_tok = q.output_tokens;
  b->total_tok = q.total_tokens;
  b->cached_tok = q.cached_tokens;
  b->in_cost = r.in_cost;
  b->out_cost = r.out_cost;
  b->cost = r.cost;
  b->status_message = q.Get(F::kStatusMessage);
  b->usage_details = q.Get(F::kUsageDetails);
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

int64_t BatchWriter::InternField(const GatewayRequest& q, GatewayRequest::Field f) {
  const std::string_view value = q.Get(f);
  LastField& last = last_fields_[f];
  if (last.id && last.value == value) return last.id;
  const int64_t id = c_.Intern(value);
  last = {value, id};
  return id;
}

bool BatchWriter::ApplyGatewayRequest(const GatewayRequest& q) {
  using F = GatewayRequest;
  const int64_t project = InternField(q, F::kProject);
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
  auto dim = [&](F::Field f) { return q.Has(f) ? InternField(q, f) : int64_t{0}; };
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
  RequestRow row{&q, DayOf(q.start_us), next_request_pk_++, project, dim(F::kName), user, dim(F::kSession), dim(F::kEnvironment),
                 model, dim(F::kBackend), team, key, in_cost, out_cost, cost, has_cost, {}, {}, {}};
  if (!q.Has(F::kTags) && IdBlob(q.Get(F::kTraceId), &row.trace) && row.trace.size == 16 &&
      IdBlob(q.Get(F::kSpanId), &row.span) && (!q.Has(F::kParentId) || IdBlob(q.Get(F::kParentId), &row.parent))) {
    scratch_.request_rows.push_back(row);
    return scratch_.request_rows.size() < kPendingBlockRows || FlushRequestRows();
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

// Writes the waiting compact requests as request blocks: ordered by project, day and time, and
// cut where the project or the UTC day changes, the block's time span would pass
// kMaxBlockSpanUs or it holds kMaxBlockRows rows.
bool BatchWriter::FlushRequestRows() {
  if (scratch_.request_rows.empty()) return true;
  scratch_.block_order.clear();
  for (const RequestRow& r : scratch_.request_rows) scratch_.block_order.push_back(&r);
  auto key = [](const RequestRow* r) { return std::tuple(r->project, r->day, r->q->start_us); };
  if (!std::is_sorted(scratch_.block_order.begin(), scratch_.block_order.end(),
                      [&](const RequestRow* a, const RequestRow* b) { return key(a) < key(b); }))
    std::stable_sort(scratch_.block_order.begin(), scratch_.block_order.end(),
                     [&](const RequestRow* a, const RequestRow* b) { return key(a) < key(b); });
  size_t first = 0;
  for (size_t i = 1; i <= scratch_.block_order.size(); ++i) {
    if (i < scratch_.block_order.size()) {
      const RequestRow* a = scratch_.block_order[first];
      const RequestRow* b = scratch_.block_order[i];
      if (b->project == a->project && b->day == a->day &&
          b->q->start_us - a->q->start_us <= kMaxBlockSpanUs && i - first < static_cast<size_t>(kMaxBlockRows))
        continue;
    }
    if (!WriteBlock(scratch_.block_order.data() + first, i - first)) return false;
    first = i;
  }
  scratch_.request_rows.clear();
  return true;
}

// One block: its row, then its entries in the id and session indexes.
bool BatchWriter::WriteBlock(const RequestRow* const* rows, size_t n) {
  scratch_.block_rows.resize(n);
  for (size_t i = 0; i < n; ++i) ToBlockRow(*rows[i], &scratch_.block_rows[i]);
  const std::string_view bytes = EncodeBlock(scratch_.block_rows.data(), n, &scratch_.block_bytes);
  {
    auto s = c_.PrepareStatic("INSERT INTO request_blocks(project,ts_min,ts_max,n,data) VALUES(?,?,?,?,?)");
    sqlite3_bind_int64(s.raw(), 1, rows[0]->project);
    sqlite3_bind_int64(s.raw(), 2, rows[0]->q->start_us);  // rows are in time order
    sqlite3_bind_int64(s.raw(), 3, rows[n - 1]->q->start_us);
    sqlite3_bind_int64(s.raw(), 4, static_cast<int64_t>(n));
    sqlite3_bind_blob(s.raw(), 5, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
    if (s.Step() != SQLITE_DONE) return false;
  }
  const int64_t block = sqlite3_last_insert_rowid(c_.db());
  scratch_.block_pairs.clear();
  for (size_t i = 0; i < n; ++i)  // rows whose id says their time are found by time
    if (!IdSaysTime(scratch_.block_rows[i].TraceId(), scratch_.block_rows[i].ts))
      scratch_.block_pairs.emplace_back(BlockIdKey(scratch_.block_rows[i].TraceId()), block);
  if (!InsertPairs(true, scratch_.block_pairs)) return false;
  scratch_.block_pairs.clear();
  for (size_t i = 0; i < n; ++i)
    if (scratch_.block_rows[i].session) scratch_.block_pairs.emplace_back(scratch_.block_rows[i].session, block);
  return InsertPairs(false, scratch_.block_pairs);
}

// Inserts (key, block) pairs into request_block_ids (`ids`) or request_block_sessions, 32 per
// statement; duplicates are dropped first (a primary key each).
bool BatchWriter::InsertPairs(bool ids, std::vector<std::pair<int64_t, int64_t>>& pairs) {
  constexpr size_t kPerInsert = 32;
  static const std::string ids_many = InsertSql("request_block_ids(k,block)", 2, kPerInsert);
  static const std::string ids_one = InsertSql("request_block_ids(k,block)", 2, 1);
  static const std::string sessions_many = InsertSql("request_block_sessions(session,block)", 2, kPerInsert);
  static const std::string sessions_one = InsertSql("request_block_sessions(session,block)", 2, 1);
  if (!std::is_sorted(pairs.begin(), pairs.end())) std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  size_t i = 0;
  for (; pairs.size() - i >= kPerInsert; i += kPerInsert) {
    auto s = c_.PrepareStatic(ids ? ids_many.c_str() : sessions_many.c_str());
    for (size_t r = 0; r < kPerInsert; ++r) {
      sqlite3_bind_int64(s.raw(), static_cast<int>(2 * r + 1), pairs[i + r].first);
      sqlite3_bind_int64(s.raw(), static_cast<int>(2 * r + 2), pairs[i + r].second);
    }
    if (s.Step() != SQLITE_DONE) return false;
  }
  for (; i < pairs.size(); ++i) {
    auto s = c_.PrepareStatic(ids ? ids_one.c_str() : sessions_one.c_str());
    sqlite3_bind_int64(s.raw(), 1, pairs[i].first);
    sqlite3_bind_int64(s.raw(), 2, pairs[i].second);
    if (s.Step() != SQLITE_DONE) return false;
  }
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
    if (rc == SQLITE_DONE) return ExpandBlockRequest(project, std::get<Blob>(key));
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

// Moves the request of trace `id` (a 16-byte blob) out of its block, if a block holds it: the
// trace and its generation are inserted as ExpandRequest inserts a request row's, and the block's
// row is marked deleted in place (the block's other rows keep their pks).
bool BatchWriter::ExpandBlockRequest(int64_t project, const Blob& id) {
  const std::string_view want = id.view();
  int64_t block = 0;
  std::string data;
  BlockRow r;
  size_t flags_at = 0;
  bool found = false;
  const int rc = ForEachBlockWithId(c_.db(), want, [&](int64_t pk, int64_t block_project, const void* bytes, int size) {
    if (found || block_project != project) return;
    data.assign(static_cast<const char*>(bytes), static_cast<size_t>(size));
    BlockReader reader(data);
    while (reader.Next(&r, &flags_at))
      if (!r.Has(BlockRow::kDeleted) && r.TraceId() == want) {
        found = true;
        block = pk;
        return;
      }
  }, &c_);
  if (rc != SQLITE_OK) return false;
  if (!found) return true;
  auto dim = [](int64_t v) { return v ? Value(v) : Value(); };
  auto blob = [](const unsigned char* p, uint8_t n) {
    Blob b;
    std::memcpy(b.bytes, p, n);
    b.size = n;
    return b;
  };
  {
    auto t = c_.PrepareStatic("INSERT INTO traces(id,project,ts,name,user,session,env) VALUES(?,?,?,?,?,?,?)");
    t.BindAll({blob(r.trace, r.trace_size), project, r.ts, dim(r.name), dim(r.user), dim(r.session), dim(r.env)});
    if (t.Step() != SQLITE_DONE) return false;
  }
  const int64_t trace_pk = sqlite3_last_insert_rowid(c_.db());
  const bool usage = r.Has(BlockRow::kUsage), cost = r.Has(BlockRow::kCost);
  // Text is copied (bound transient): `r` points into `data`, which outlives the statement anyway.
  auto text = [](bool on, std::string_view v) { return on ? Value(std::string(v)) : Value(); };
  {
    auto o = c_.PrepareStatic(
        "INSERT INTO observations(id,project,trace,parent,type,name,start,dur,ttft,model,level,status_message,"
        "env,in_tok,out_tok,total_tok,cached_tok,usage_details,in_cost,out_cost,cost,user,team,key,backend,"
        "status) VALUES(?,?,?,?,1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    o.BindAll({blob(r.span, r.span_size), project, trace_pk,
               r.parent_size ? Value(blob(r.parent, r.parent_size)) : Value(), dim(r.name), r.ts, r.dur,
               r.Has(BlockRow::kTtft) ? Value(r.ttft) : Value(), dim(r.model),
               r.Has(BlockRow::kError) ? Value(int64_t{static_cast<int>(Level::kError)}) : Value(),
               text(r.Has(BlockRow::kStatusMessage), r.status_message), dim(r.env),
               usage ? Value(r.in_tok) : Value(), usage ? Value(r.out_tok) : Value(),
               usage ? Value(r.total_tok) : Value(), r.Has(BlockRow::kCached) ? Value(r.cached_tok) : Value(),
               text(r.Has(BlockRow::kUsageDetails), r.usage_details), cost ? Value(r.in_cost) : Value(),
               cost ? Value(r.out_cost) : Value(), cost ? Value(r.cost) : Value(), dim(r.user), dim(r.team),
               dim(r.key), dim(r.backend), r.status});
    if (o.Step() != SQLITE_DONE) return false;
  }
  data[flags_at] = static_cast<char>(r.flags | BlockRow::kDeleted);
  auto u = c_.PrepareStatic("UPDATE request_blocks SET data=?, n=n-1 WHERE pk=?");
  sqlite3_bind_blob(u.raw(), 1, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
  sqlite3_bind_int64(u.raw(), 2, block);
  return u.Step() == SQLITE_DONE;
}

}  // namespace ap::telemetry::internal
