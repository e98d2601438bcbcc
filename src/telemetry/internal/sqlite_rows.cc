// telemetry/internal/sqlite_rows.cc — schema and row mapping for the SQLite store.
//
// Size matters here (the target is under 300 bytes on disk per gateway generation, trace
// included): integer dimension ids, blob ids, relative times, NULL for anything absent.
#include "telemetry/internal/sqlite_rows.h"

#include <boost/json.hpp>

namespace ap::telemetry::internal {

const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: the initial schema.
      R"sql(
CREATE TABLE strings(id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE traces(
  pk INTEGER PRIMARY KEY, id NOT NULL, project INT NOT NULL, ts INT NOT NULL,
  name INT, user INT, session INT, release INT, version INT, env INT,
  tags TEXT, input TEXT, output TEXT, metadata TEXT, public INT);
CREATE UNIQUE INDEX traces_id ON traces(project, id);
CREATE INDEX traces_ts ON traces(project, ts);
CREATE INDEX traces_session ON traces(session) WHERE session IS NOT NULL;
CREATE TABLE observations(
  pk INTEGER PRIMARY KEY, id NOT NULL, project INT NOT NULL, trace INT NOT NULL, parent,
  type INT NOT NULL, name INT, start INT NOT NULL, dur INT, ttft INT, model INT, level INT,
  status_message TEXT, version INT, env INT, model_params TEXT, input TEXT, output TEXT,
  metadata TEXT, in_tok INT, out_tok INT, total_tok INT, cached_tok INT, usage_details TEXT,
  cost_details TEXT, in_cost REAL, out_cost REAL, cost REAL, user INT, team INT, key INT,
  backend INT, status INT);
CREATE UNIQUE INDEX observations_id ON observations(project, id);
CREATE INDEX observations_trace ON observations(trace);
CREATE TABLE scores(
  pk INTEGER PRIMARY KEY, id NOT NULL, project INT NOT NULL, trace_id NOT NULL, observation_id,
  session_id TEXT, name INT, value REAL, string_value TEXT, data_type TEXT, comment TEXT,
  source TEXT, ts INT NOT NULL);
CREATE UNIQUE INDEX scores_id ON scores(project, id);
CREATE INDEX scores_trace ON scores(project, trace_id);
CREATE TABLE events(id TEXT PRIMARY KEY, ts INT NOT NULL) WITHOUT ROWID;
CREATE TABLE usage_daily(
  day INT NOT NULL, project INT NOT NULL, model INT NOT NULL, user INT NOT NULL, team INT NOT NULL,
  key INT NOT NULL, n INT NOT NULL, in_tok INT NOT NULL, out_tok INT NOT NULL, cached INT NOT NULL,
  cost REAL NOT NULL, PRIMARY KEY(day, project, model, user, team, key)) WITHOUT ROWID;
)sql",
      // 2: retention deletes events by age.
      "CREATE INDEX events_ts ON events(ts);",
      // 3: gateway generations (the rows with an HTTP status) are written once and never
      // updated, so their random span ids stay out of the unique id index: one random B-tree
      // insert less per request, and about 25 bytes less on disk.
      "DROP INDEX observations_id;"
      "CREATE UNIQUE INDEX observations_id ON observations(project, id) WHERE status IS NULL;",
      // 4: per-minute rollups for the dashboard's time series (internal/minute_rollup.h),
      // filled from the generations already stored (ap_latency_bucket is registered by Open); and traces by time alone, for the admin's
      // view across projects (newest first without sorting the range: ~17 bytes per trace,
      // appended in time order).
      R"sql(
CREATE INDEX traces_time ON traces(ts);
CREATE TABLE usage_minute(
  minute INT NOT NULL, project INT NOT NULL, model INT NOT NULL, n INT NOT NULL, errors INT NOT NULL,
  in_tok INT NOT NULL, out_tok INT NOT NULL, cost REAL NOT NULL,
  PRIMARY KEY(minute, project, model)) WITHOUT ROWID;
CREATE TABLE latency_minute(
  minute INT NOT NULL, project INT NOT NULL, model INT NOT NULL, kind INT NOT NULL, bucket INT NOT NULL,
  n INT NOT NULL, PRIMARY KEY(minute, project, model, kind, bucket)) WITHOUT ROWID;
INSERT INTO usage_minute
  SELECT start/60000000, project, coalesce(model,0), count(*), total(level=3 OR coalesce(status,0)>=400),
         total(in_tok), total(out_tok), total(cost)
  FROM observations WHERE type=1 GROUP BY 1,2,3;
INSERT INTO latency_minute
  SELECT start/60000000, project, coalesce(model,0), 0, ap_latency_bucket(dur), count(*)
  FROM observations WHERE type=1 AND dur>0 GROUP BY 1,2,3,5;
INSERT INTO latency_minute
  SELECT start/60000000, project, coalesce(model,0), 1, ap_latency_bucket(ttft), count(*)
  FROM observations WHERE type=1 AND ttft>=0 GROUP BY 1,2,3,5;
)sql",
      // 5: GET /api/public/scores lists a project's scores newest first.
      "CREATE INDEX IF NOT EXISTS scores_ts ON scores(project, ts);",
  };
  return kMigrations;
}

namespace {
std::optional<std::string> OptName(Stmt& s, Conn& c, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return c.Name(s.Int(col));
}
}  // namespace

Trace ReadTrace(Stmt& s, Conn& c, int64_t* pk) {
  Trace t;
  if (pk) *pk = s.Int(0);
  t.id = s.Id(1);
  t.project = c.Name(s.Int(2));
  t.timestamp_us = s.Int(3);
  t.name = OptName(s, c, 4);
  t.user_id = OptName(s, c, 5);
  t.session_id = OptName(s, c, 6);
  t.release = OptName(s, c, 7);
  t.version = OptName(s, c, 8);
  t.environment = OptName(s, c, 9);
  if (!s.IsNull(10)) t.tags = TagsFromJson(s.Text(10));
  t.input = s.OptText(11);
  t.output = s.OptText(12);
  t.metadata = s.OptText(13);
  if (!s.IsNull(14)) t.is_public = s.Int(14) != 0;
  return t;
}

Observation ReadObservation(Stmt& s, Conn& c, int64_t* pk) {
  Observation o;
  if (pk) *pk = s.Int(0);
  o.id = s.Id(1);
  o.project = c.Name(s.Int(2));
  o.parent_id = s.OptId(4);
  o.type = static_cast<ObservationType>(s.Int(5));
  o.name = OptName(s, c, 6);
  o.start_us = s.Int(7);
  if (!s.IsNull(8)) o.end_us = o.start_us + s.Int(8);
  if (!s.IsNull(9)) o.completion_start_us = o.start_us + s.Int(9);
  o.model = OptName(s, c, 10);
  if (!s.IsNull(11)) o.level = static_cast<Level>(s.Int(11));
  o.status_message = s.OptText(12);
  o.version = OptName(s, c, 13);
  o.environment = OptName(s, c, 14);
  o.model_parameters = s.OptText(15);
  o.input = s.OptText(16);
  o.output = s.OptText(17);
  o.metadata = s.OptText(18);
  o.input_tokens = s.OptInt(19);
  o.output_tokens = s.OptInt(20);
  o.total_tokens = s.OptInt(21);
  o.cached_tokens = s.OptInt(22);
  o.usage_details = s.OptText(23);
  o.cost_details = s.OptText(24);
  o.input_cost = s.OptReal(25);
  o.output_cost = s.OptReal(26);
  o.total_cost = s.OptReal(27);
  o.user_id = OptName(s, c, 28);
  o.team = OptName(s, c, 29);
  o.key = OptName(s, c, 30);
  o.backend = OptName(s, c, 31);
  if (!s.IsNull(32)) o.status_code = static_cast<int>(s.Int(32));
  o.trace_id = s.Id(33);
  return o;
}

Score ReadScore(Stmt& s, Conn& c) {
  Score sc;
  sc.id = s.Id(0);
  sc.project = c.Name(s.Int(1));
  sc.trace_id = s.Id(2);
  sc.observation_id = s.OptId(3);
  sc.session_id = s.OptText(4);
  sc.name = s.IsNull(5) ? std::string() : c.Name(s.Int(5));
  sc.value = s.OptReal(6);
  sc.string_value = s.OptText(7);
  sc.data_type = s.OptText(8);
  sc.comment = s.OptText(9);
  sc.source = s.OptText(10);
  sc.timestamp_us = s.Int(11);
  return sc;
}

std::string TagsToJson(const std::vector<std::string>& tags) {
  boost::json::array a;
  for (const auto& t : tags) a.emplace_back(t);
  return boost::json::serialize(a);
}

std::vector<std::string> TagsFromJson(const std::string& json) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& e : v.as_array())
    if (e.is_string()) out.emplace_back(e.as_string());
  return out;
}

}  // namespace ap::telemetry::internal
