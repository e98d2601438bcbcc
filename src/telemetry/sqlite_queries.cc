// telemetry/sqlite_queries.cc — the SQLite store's read path: trace lists with filters and
// cursor or page paging, one trace's observations, sessions, scores, usage aggregates, stats.
//
// Every query runs on a pooled read-only connection (WAL readers never block the writer and are
// never blocked by it). Filters on dimension strings are resolved to dictionary ids first: an
// unknown value matches nothing without touching the big tables. Aggregates read usage_daily,
// never the raw observations. Traces and observations are read through the views `trace_rows` and
// `observation_rows` (internal/sqlite_rows.h), which include the gateway's compact request rows;
// SQLite pushes each filter into both halves, so every half keeps its indexes.
#include <filesystem>

#include "telemetry/internal/minute_rollup.h"
#include "telemetry/internal/sqlite_db.h"
#include "telemetry/internal/sqlite_rows.h"
#include "telemetry/sqlite_store.h"

namespace ap::telemetry {
namespace {

using internal::Conn;
using internal::IdValue;
using internal::Stmt;
using internal::Value;

struct Where {
  std::string sql;
  std::vector<Value> args;
  bool impossible = false;  // a filter named a value the store has never seen
  void Add(const std::string& clause, std::vector<Value> values = {}) {
    sql += sql.empty() ? " WHERE " : " AND ";
    sql += clause;
    for (auto& v : values) args.push_back(std::move(v));
  }
  void AddDim(Conn& c, const std::string& column, const std::optional<std::string>& value) {
    if (!value) return;
    int64_t id = c.Lookup(*value);
    if (!id) impossible = true;
    Add(column + "=?", {id});
  }
  // The tenant filter: an empty project means every project (the admin's view).
  void AddProject(Conn& c, const std::string& column, const std::string& project) {
    if (!project.empty()) AddDim(c, column, project);
  }
};

// Cursor: "<ts>.<pk>" of the last row of the previous page.
bool ParseCursor(const std::string& cursor, int64_t* ts, int64_t* pk) {
  auto dot = cursor.find('.');
  if (dot == std::string::npos) return false;
  char* end = nullptr;
  *ts = std::strtoll(cursor.c_str(), &end, 10);
  if (end != cursor.c_str() + dot) return false;
  *pk = std::strtoll(cursor.c_str() + dot + 1, &end, 10);
  return *end == '\0';
}

Where TraceWhere(Conn& c, const TraceQuery& q) {
  Where w;
  w.AddProject(c, "t.project", q.project);
  if (q.from_us) w.Add("t.ts>=?", {q.from_us});
  if (q.to_us) w.Add("t.ts<?", {q.to_us});
  w.AddDim(c, "t.user", q.user_id);
  w.AddDim(c, "t.session", q.session_id);
  w.AddDim(c, "t.name", q.name);
  w.AddDim(c, "t.env", q.environment);
  // A request row carries its generation's model and error; a trace's observations are looked
  // up by trace.
  if (q.model) {
    int64_t id = c.Lookup(*q.model);
    if (!id) w.impossible = true;
    w.Add("(t.model=? OR EXISTS(SELECT 1 FROM observations o WHERE o.trace=t.pk AND o.model=?))", {id, id});
  }
  if (q.tag) w.Add("EXISTS(SELECT 1 FROM json_each(t.tags) WHERE value=?)", {*q.tag});
  if (q.status) {
    std::string e =
        "(t.error OR EXISTS(SELECT 1 FROM observations o WHERE o.trace=t.pk AND (o.level=3 OR o.status>=400)))";
    w.Add(*q.status == "error" ? e : "NOT " + e);
  }
  return w;
}

}  // namespace

#define AP_READER(conn_var)                      \
  auto conn_var##_taken = TakeReader();          \
  if (!conn_var##_taken) return {boost::system::in_place_error, conn_var##_taken.error()}; \
  std::unique_ptr<Conn> conn_var##_owner = std::move(*conn_var##_taken); \
  struct conn_var##_Return {                     \
    SqliteStore* s; std::unique_ptr<Conn>* c;    \
    ~conn_var##_Return() { s->ReturnReader(std::move(*c)); } \
  } conn_var##_ret{this, &conn_var##_owner};     \
  Conn& conn_var = *conn_var##_owner

Result<std::optional<Trace>> SqliteStore::GetTrace(const std::string& project, const std::string& id) {
  AP_READER(c);
  Where w;
  w.AddProject(c, "t.project", project);
  w.Add("t.id=?", {IdValue(id)});
  if (w.impossible) return std::optional<Trace>();
  auto s = c.Prepare(std::string("SELECT ") + internal::kTraceColumns + " FROM trace_rows t" + w.sql + " LIMIT 1");
  s.BindAll(w.args);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<Trace>();
  if (rc != SQLITE_ROW) return {boost::system::in_place_error, c.LastError()};
  return std::optional<Trace>(internal::ReadTrace(s, c, nullptr));
}

Result<Page<TraceSummary>> SqliteStore::ListTraces(const TraceQuery& q) {
  AP_READER(c);
  Page<TraceSummary> page;
  Where w = TraceWhere(c, q);
  if (w.impossible) {
    page.total = 0;
    return page;
  }
  if (q.cursor.empty()) {
    auto s = c.Prepare("SELECT count(*) FROM trace_rows t" + w.sql);
    s.BindAll(w.args);
    if (s.Step() != SQLITE_ROW) return c.LastError();
    page.total = s.Int(0);
    // Nothing on this page: a filter that matches nothing costs one scan, not two.
    if (q.offset >= page.total) return page;
  }
  int64_t cts, cpk;
  if (!q.cursor.empty()) {
    if (!ParseCursor(q.cursor, &cts, &cpk)) return std::string("malformed cursor");
    w.Add("(t.ts<? OR (t.ts=? AND t.pk<?))", {cts, cts, cpk});
  }
  int limit = std::clamp(q.limit, 1, 1000);
  std::string sql = std::string("SELECT ") + internal::kTraceColumns + " FROM trace_rows t" + w.sql +
                    " ORDER BY t.ts DESC, t.pk DESC LIMIT ? OFFSET ?";
  auto s = c.Prepare(sql);
  if (!s.ok()) return c.LastError();
  s.BindAll(w.args);
  s.Bind(static_cast<int>(w.args.size()) + 1, int64_t{limit + 1});
  s.Bind(static_cast<int>(w.args.size()) + 2, q.cursor.empty() ? q.offset : int64_t{0});
  std::vector<int64_t> pks;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    int64_t pk;
    TraceSummary ts;
    ts.trace = internal::ReadTrace(s, c, &pk);
    if (static_cast<int>(page.items.size()) == limit) {
      const auto& last = page.items.back().trace;
      page.next_cursor = std::to_string(last.timestamp_us) + "." + std::to_string(pks.back());
      break;
    }
    pks.push_back(pk);
    page.items.push_back(std::move(ts));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return c.LastError();
  for (size_t i = 0; i < pks.size(); ++i) {
    auto a = c.Prepare(
        "SELECT count(*), total(cost), total(in_tok), total(out_tok), min(start), max(start+coalesce(dur,0)),"
        " max(level=3 OR coalesce(status,0)>=400) FROM observation_rows WHERE trace=?");
    a.Bind(1, pks[i]);
    if (a.Step() != SQLITE_ROW) return c.LastError();
    auto& ts = page.items[i];
    ts.observation_count = a.Int(0);
    ts.total_cost = a.Real(1);
    ts.input_tokens = static_cast<int64_t>(a.Real(2));
    ts.output_tokens = static_cast<int64_t>(a.Real(3));
    if (ts.observation_count) ts.latency_us = a.Int(5) - a.Int(4);
    ts.has_error = a.Int(6) != 0;
  }
  return page;
}

Result<Page<Observation>> SqliteStore::ListObservations(const ObservationQuery& q) {
  AP_READER(c);
  Page<Observation> page;
  Where w;
  w.AddProject(c, "o.project", q.project);
  if (q.trace_id) {
    // Through the trace's (project, id) index, then its observations: never a scan.
    w.AddProject(c, "o.trace_project", q.project);
    w.Add("o.trace_id=?", {IdValue(*q.trace_id)});
  }
  w.AddDim(c, "o.name", q.name);
  w.AddDim(c, "o.user", q.user_id);
  w.AddDim(c, "o.model", q.model);
  if (q.type) {
    auto t = ParseType(*q.type);
    if (!t) w.impossible = true;
    w.Add("o.type=?", {int64_t{static_cast<int>(t.value_or(ObservationType::kSpan))}});
  }
  if (q.parent_id) w.Add("o.parent=?", {IdValue(*q.parent_id)});
  if (q.from_us) w.Add("o.start>=?", {q.from_us});
  if (q.to_us) w.Add("o.start<?", {q.to_us});
  if (w.impossible) {
    page.total = 0;
    return page;
  }
  std::string from = " FROM observation_rows o" + w.sql;
  {
    auto s = c.Prepare("SELECT count(*)" + from);
    s.BindAll(w.args);
    if (s.Step() != SQLITE_ROW) return c.LastError();
    page.total = s.Int(0);
    if (q.offset >= page.total) return page;  // nothing on this page: skip the second scan
  }
  // One trace's observations read as a timeline; lists across traces newest first.
  std::string order = q.trace_id ? " ORDER BY o.start ASC, o.pk ASC" : " ORDER BY o.start DESC, o.pk DESC";
  auto s = c.Prepare(std::string("SELECT ") + internal::kObservationColumns + ",o.trace_id" + from + order + " LIMIT ? OFFSET ?");
  if (!s.ok()) return c.LastError();
  s.BindAll(w.args);
  s.Bind(static_cast<int>(w.args.size()) + 1, int64_t{std::clamp(q.limit, 1, 10000)});
  s.Bind(static_cast<int>(w.args.size()) + 2, q.offset);
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) page.items.push_back(internal::ReadObservation(s, c, nullptr));
  if (rc != SQLITE_DONE) return c.LastError();
  return page;
}

Result<std::vector<Score>> SqliteStore::ListScores(const std::string& project, const std::string& trace_id) {
  AP_READER(c);
  std::vector<Score> out;
  Where w;
  w.AddProject(c, "s.project", project);
  w.Add("s.trace_id=?", {IdValue(trace_id)});
  if (w.impossible) return out;
  auto s = c.Prepare(std::string("SELECT ") + internal::kScoreColumns + " FROM scores s" + w.sql +
                     " ORDER BY s.ts, s.pk");
  s.BindAll(w.args);
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(internal::ReadScore(s, c));
  if (rc != SQLITE_DONE) return c.LastError();
  return out;
}

Result<Page<Score>> SqliteStore::QueryScores(const ScoreQuery& q) {
  AP_READER(c);
  Page<Score> page;
  page.total = 0;
  Where w;
  w.AddProject(c, "s.project", q.project);
  if (!q.ids.empty()) {
    std::string in = "s.id IN (";
    std::vector<Value> ids;
    for (const auto& id : q.ids) {
      in += ids.empty() ? "?" : ",?";
      ids.push_back(IdValue(id));
    }
    w.Add(in + ")", std::move(ids));
  }
  if (q.trace_id) w.Add("s.trace_id=?", {IdValue(*q.trace_id)});
  if (q.observation_id) w.Add("s.observation_id=?", {IdValue(*q.observation_id)});
  if (q.session_id) w.Add("s.session_id=?", {*q.session_id});
  w.AddDim(c, "s.name", q.name);
  if (q.source) w.Add("s.source=?", {*q.source});
  if (q.data_type) w.Add("coalesce(s.data_type, CASE WHEN s.string_value IS NULL THEN 'NUMERIC' ELSE 'CATEGORICAL' END)=?",
                         {*q.data_type});
  if (q.from_us) w.Add("s.ts>=?", {q.from_us});
  if (q.to_us) w.Add("s.ts<?", {q.to_us});
  if (q.value && q.op) {
    static const char* kOps[] = {"<", ">", "<=", ">=", "=", "!="};
    const char* op = nullptr;
    for (const char* o : kOps)
      if (*q.op == o) op = o;
    if (!op) return "operator must be one of < > <= >= = !=";
    w.Add(std::string("s.value") + op + "?", {*q.value});
  }
  if (q.user_id) {
    int64_t user = c.Lookup(*q.user_id);
    if (!user) w.impossible = true;
    w.Add("EXISTS(SELECT 1 FROM trace_rows t WHERE t.project=s.project AND t.id=s.trace_id AND t.user=?)", {user});
  }
  if (w.impossible) return page;
  {
    auto s = c.Prepare("SELECT count(*) FROM scores s" + w.sql);
    s.BindAll(w.args);
    if (s.Step() != SQLITE_ROW) return c.LastError();
    page.total = s.Int(0);
  }
  auto s = c.Prepare(std::string("SELECT ") + internal::kScoreColumns + " FROM scores s" + w.sql +
                     " ORDER BY s.ts DESC, s.pk DESC LIMIT ? OFFSET ?");
  s.BindAll(w.args);
  s.Bind(static_cast<int>(w.args.size()) + 1, int64_t{q.limit});
  s.Bind(static_cast<int>(w.args.size()) + 2, q.offset);
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) page.items.push_back(internal::ReadScore(s, c));
  if (rc != SQLITE_DONE) return c.LastError();
  return page;
}

namespace {

Result<void> FillSessionTotals(Conn& c, int64_t session, SessionSummary* out) {
  Where w;
  w.Add("o.trace_session=?", {session});
  w.AddProject(c, "o.trace_project", out->project);
  auto s = c.Prepare("SELECT total(o.cost), total(o.in_tok), total(o.out_tok) FROM observation_rows o" + w.sql);
  s.BindAll(w.args);
  if (s.Step() != SQLITE_ROW) return c.LastError();
  out->total_cost = s.Real(0);
  out->input_tokens = static_cast<int64_t>(s.Real(1));
  out->output_tokens = static_cast<int64_t>(s.Real(2));
  return {};
}

constexpr const char* kSessionSelect =
    "SELECT t.session, min(t.ts), max(t.ts), count(*), max(t.user) FROM trace_rows t";

SessionSummary ReadSession(Stmt& s, Conn& c, const std::string& project) {
  SessionSummary ss;
  ss.id = c.Name(s.Int(0));
  ss.project = project;
  ss.first_us = s.Int(1);
  ss.last_us = s.Int(2);
  ss.trace_count = s.Int(3);
  if (!s.IsNull(4)) ss.user_id = c.Name(s.Int(4));
  return ss;
}

}  // namespace

Result<Page<SessionSummary>> SqliteStore::ListSessions(const SessionQuery& q) {
  AP_READER(c);
  Page<SessionSummary> page;
  Where w;
  w.AddProject(c, "t.project", q.project);
  w.Add("t.session IS NOT NULL");
  if (q.from_us) w.Add("t.ts>=?", {q.from_us});
  if (q.to_us) w.Add("t.ts<?", {q.to_us});
  if (w.impossible) {
    page.total = 0;
    return page;
  }
  {
    auto s = c.Prepare("SELECT count(DISTINCT t.session) FROM trace_rows t" + w.sql);
    s.BindAll(w.args);
    if (s.Step() != SQLITE_ROW) return c.LastError();
    page.total = s.Int(0);
  }
  auto s = c.Prepare(std::string(kSessionSelect) + w.sql +
                     " GROUP BY t.session ORDER BY max(t.ts) DESC LIMIT ? OFFSET ?");
  s.BindAll(w.args);
  s.Bind(static_cast<int>(w.args.size()) + 1, int64_t{std::clamp(q.limit, 1, 1000)});
  s.Bind(static_cast<int>(w.args.size()) + 2, q.offset);
  std::vector<int64_t> ids;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    ids.push_back(s.Int(0));
    page.items.push_back(ReadSession(s, c, q.project));
  }
  if (rc != SQLITE_DONE) return c.LastError();
  for (size_t i = 0; i < ids.size(); ++i)
    if (auto r = FillSessionTotals(c, ids[i], &page.items[i]); !r) return r.error();
  return page;
}

Result<std::optional<SessionSummary>> SqliteStore::GetSession(const std::string& project, const std::string& id) {
  AP_READER(c);
  int64_t sid = c.Lookup(id);
  Where w;
  w.AddProject(c, "t.project", project);
  w.Add("t.session=?", {sid});
  if (!sid || w.impossible) return std::optional<SessionSummary>();
  auto s = c.Prepare(std::string(kSessionSelect) + w.sql + " GROUP BY t.session");
  s.BindAll(w.args);
  if (s.Step() != SQLITE_ROW) return std::optional<SessionSummary>();
  SessionSummary ss = ReadSession(s, c, project);
  if (auto r = FillSessionTotals(c, sid, &ss); !r) return {boost::system::in_place_error, r.error()};
  return std::optional<SessionSummary>(std::move(ss));
}

Result<std::vector<UsageRow>> SqliteStore::AggregateUsage(const UsageQuery& q) {
  AP_READER(c);
  std::vector<UsageRow> out;
  Where w;
  w.AddProject(c, "project", q.project);
  if (q.from_us) w.Add("day>=?", {DayOf(q.from_us)});
  if (q.to_us) w.Add("day<=?", {DayOf(q.to_us - 1)});
  w.AddDim(c, "model", q.model);
  w.AddDim(c, "user", q.user_id);
  w.AddDim(c, "team", q.team);
  w.AddDim(c, "key", q.key);
  if (w.impossible) return out;
  std::string cols;
  for (const auto& g : q.group_by) {
    if (g != "model" && g != "user" && g != "team" && g != "key" && g != "day")
      return "cannot group by '" + g + "' (model, user, team, key or day)";
    cols += (cols.empty() ? "" : ",") + g;
  }
  std::string sql = "SELECT " + (cols.empty() ? std::string("0") : cols) +
                    ", sum(n), sum(in_tok), sum(out_tok), sum(cached), sum(cost) FROM usage_daily" + w.sql +
                    (cols.empty() ? "" : " GROUP BY " + cols + " HAVING sum(n)<>0 ORDER BY sum(cost) DESC, sum(n) DESC");
  auto s = c.Prepare(sql);
  if (!s.ok()) return c.LastError();
  s.BindAll(w.args);
  int rc;
  int n = std::max<int>(1, static_cast<int>(q.group_by.size()));
  while ((rc = s.Step()) == SQLITE_ROW) {
    UsageRow row;
    for (size_t i = 0; i < q.group_by.size(); ++i)
      row.group.push_back(q.group_by[i] == "day" ? FormatDay(s.Int(static_cast<int>(i)))
                                                 : c.Name(s.Int(static_cast<int>(i))));
    row.generations = s.Int(n);
    row.input_tokens = s.Int(n + 1);
    row.output_tokens = s.Int(n + 2);
    row.cached_tokens = s.Int(n + 3);
    row.cost = s.Real(n + 4);
    if (q.group_by.empty() && row.generations == 0 && s.IsNull(n)) continue;
    out.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return c.LastError();
  return out;
}

Result<std::vector<TimeBucket>> SqliteStore::TimeSeries(const TimeSeriesQuery& q) {
  constexpr int64_t kMinute = 60'000'000;
  if (q.from_us <= 0 || q.to_us <= q.from_us) return std::string("time series need from < to");
  int64_t step = std::max<int64_t>(1, q.step_us / kMinute);  // minutes per bucket
  int64_t first = q.from_us / kMinute, last = (q.to_us - 1) / kMinute;  // minutes, inclusive
  first -= first % step;
  int64_t buckets = (last - first) / step + 1;
  if (buckets > 10'000) return std::string("too many buckets: raise step");
  std::vector<TimeBucket> out(static_cast<size_t>(buckets));
  for (int64_t i = 0; i < buckets; ++i) out[i].start_us = (first + i * step) * kMinute;
  AP_READER(c);
  Where w;
  w.AddProject(c, "project", q.project);
  w.AddDim(c, "model", q.model);
  w.Add("minute>=? AND minute<=?", {first, last});
  if (w.impossible) return out;
  {
    auto s = c.Prepare("SELECT (minute-?)/?, sum(n), sum(errors), sum(in_tok), sum(out_tok), sum(cost) FROM usage_minute" +
                       w.sql + " GROUP BY 1");
    if (!s.ok()) return c.LastError();
    s.Bind(1, first);
    s.Bind(2, step);
    s.BindAll(w.args, 3);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      int64_t i = s.Int(0);
      if (i < 0 || i >= buckets) continue;
      auto& b = out[i];
      b.requests = s.Int(1);
      b.errors = s.Int(2);
      b.input_tokens = s.Int(3);
      b.output_tokens = s.Int(4);
      b.cost = s.Real(5);
    }
    if (rc != SQLITE_DONE) return c.LastError();
  }
  auto s = c.Prepare("SELECT (minute-?)/?, kind, bucket, sum(n) FROM latency_minute" + w.sql + " GROUP BY 1, 2, 3");
  if (!s.ok()) return c.LastError();
  s.Bind(1, first);
  s.Bind(2, step);
  s.BindAll(w.args, 3);
  std::vector<std::vector<int64_t>> hist(static_cast<size_t>(buckets) * 2);
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    int64_t i = s.Int(0), kind = s.Int(1), bucket = s.Int(2);
    if (i < 0 || i >= buckets || kind < 0 || kind > 1 || bucket < 0 || bucket >= internal::kLatencyBuckets) continue;
    auto& h = hist[i * 2 + kind];
    if (h.empty()) h.assign(internal::kLatencyBuckets, 0);
    h[bucket] += s.Int(3);
  }
  if (rc != SQLITE_DONE) return c.LastError();
  for (int64_t i = 0; i < buckets; ++i) {
    auto& b = out[i];
    const auto& lat = hist[i * 2];
    const auto& ttft = hist[i * 2 + 1];
    b.latency_p50 = internal::HistogramQuantile(lat, 0.5);
    b.latency_p90 = internal::HistogramQuantile(lat, 0.9);
    b.latency_p99 = internal::HistogramQuantile(lat, 0.99);
    b.ttft_p50 = internal::HistogramQuantile(ttft, 0.5);
    b.ttft_p90 = internal::HistogramQuantile(ttft, 0.9);
    b.ttft_p99 = internal::HistogramQuantile(ttft, 0.99);
  }
  return out;
}

Result<StoreStats> SqliteStore::Stats() {
  AP_READER(c);
  StoreStats st;
  auto count = [&](const char* sql, int64_t* out) {
    auto s = c.Prepare(sql);
    if (s.Step() == SQLITE_ROW) *out = s.Int(0);
  };
  // Each request row is a trace and a generation.
  count("SELECT (SELECT count(*) FROM traces) + (SELECT count(*) FROM requests) + "
        "(SELECT coalesce(sum(n),0) FROM request_blocks)", &st.traces);
  count("SELECT (SELECT count(*) FROM observations) + (SELECT count(*) FROM requests) + "
        "(SELECT coalesce(sum(n),0) FROM request_blocks)", &st.observations);
  count("SELECT count(*) FROM scores", &st.scores);
  int64_t version = 0;
  count("PRAGMA user_version", &version);
  st.schema_version = static_cast<int>(version);
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    auto size = std::filesystem::file_size(options_.path + suffix, ec);
    if (!ec) st.bytes += static_cast<int64_t>(size);
  }
  return st;
}

}  // namespace ap::telemetry
