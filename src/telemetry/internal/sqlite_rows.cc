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
      // 6: one compact row per gateway request whose trace id the gateway minted (a trace with
      // one generation, fields they share stored once): one statement and four B-trees per
      // request instead of two statements and seven. Their pks start at kRequestPkBase, so they
      // never meet a trace's or an observation's. The read path reads the views, which show
      // each request as the trace and generation it stands for (see request_rows.h); a later
      // write that touches such a trace expands its row into traces and observations first.
      // Each column has the same affinity in both halves of a view (hence the CASTs): otherwise
      // SQLite will not flatten the view into the query, and a newest-first page would sort
      // every row instead of merging two index scans. Indexes: the id (gateway ids are
      // time-ordered, so it grows at its right edge), time alone and session. No (project, ts):
      // a project's newest requests come from the time index, filtered — one B-tree less per
      // request, at the price of scanning past other projects' rows for a small tenant's page.
      R"sql(
CREATE TABLE requests(
  pk INTEGER PRIMARY KEY, id NOT NULL, span NOT NULL, project INT NOT NULL, ts INT NOT NULL, name INT,
  user INT, session INT, env INT, model INT, backend INT, team INT, key INT, status INT, dur INT, ttft INT,
  in_tok INT, out_tok INT, total_tok INT, cached_tok INT, in_cost REAL, out_cost REAL, cost REAL, level INT,
  status_message TEXT, parent, tags TEXT, usage_details TEXT, metadata TEXT, input TEXT, output TEXT);
CREATE INDEX requests_id ON requests(id);
CREATE INDEX requests_time ON requests(ts);
CREATE INDEX requests_session ON requests(session) WHERE session IS NOT NULL;
CREATE VIEW trace_rows AS
  SELECT pk, id, project, ts, name, user, session, release, version, env, tags, input, output, metadata,
         public, CAST(NULL AS INT) AS model, 0 AS error FROM traces
  UNION ALL
  SELECT pk, id, project, ts, name, user, session, CAST(NULL AS INT), CAST(NULL AS INT), env, tags,
         CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS INT), model,
         coalesce(level,0)=3 OR coalesce(status,0)>=400 FROM requests;
CREATE VIEW observation_rows AS
  SELECT o.pk, o.id, o.project, o.trace, o.parent, o.type, o.name, o.start, o.dur, o.ttft, o.model, o.level,
         o.status_message, o.version, o.env, o.model_params, o.input, o.output, o.metadata, o.in_tok,
         o.out_tok, o.total_tok, o.cached_tok, o.usage_details, o.cost_details, o.in_cost, o.out_cost,
         o.cost, o.user, o.team, o.key, o.backend, o.status, t.id AS trace_id, t.project AS trace_project,
         t.session AS trace_session
  FROM observations o JOIN traces t ON t.pk=o.trace
  UNION ALL
  SELECT pk, span, project, pk, parent, CAST(1 AS INT), name, ts, dur, ttft, model, level, status_message,
         CAST(NULL AS INT), env, CAST(NULL AS TEXT), input, output, metadata, in_tok, out_tok, total_tok,
         cached_tok, usage_details, CAST(NULL AS TEXT), in_cost, out_cost, cost, user, team, key, backend,
         status, id, project, session FROM requests;
)sql",
      // 7: canonical UUIDs (the Langfuse SDKs' ids and event ids) as 17-byte blobs instead of
      // 36 characters of text: smaller random keys in the id indexes (internal/sqlite_db.h,
      // IdValue). Stored ones are converted so lookups by id keep finding them.
      R"sql(
UPDATE traces SET id=ap_id(id) WHERE typeof(id)='text' AND length(id)=36;
UPDATE observations SET id=ap_id(id) WHERE typeof(id)='text' AND length(id)=36;
UPDATE observations SET parent=ap_id(parent) WHERE typeof(parent)='text' AND length(parent)=36;
UPDATE scores SET id=ap_id(id) WHERE typeof(id)='text' AND length(id)=36;
UPDATE scores SET trace_id=ap_id(trace_id) WHERE typeof(trace_id)='text' AND length(trace_id)=36;
UPDATE scores SET observation_id=ap_id(observation_id)
  WHERE typeof(observation_id)='text' AND length(observation_id)=36;
UPDATE events SET id=ap_id(id) WHERE typeof(id)='text' AND length(id)=36;
)sql",
      // 8: gateway requests in blocks (internal/request_blocks.h): a commit's compact requests of
      // one project and minute as one row, read through the virtual table block_requests, which
      // the views union with the tables. Per request the writer adds its bytes (and an entry in
      // the narrow id index only for an id that does not say its time) instead of a 31-column
      // row and three index entries. Rows already in `requests` stay there. The block arm comes
      // first in each view: as a later arm of the merge SQLite (3.40) does not offer the virtual
      // table a two-term ORDER BY (ts DESC, pk DESC), and every newest-first page would sort
      // every block's rows instead of merging the newest blocks.
      R"sql(
CREATE TABLE request_blocks(
  pk INTEGER PRIMARY KEY, project INT NOT NULL, ts_min INT NOT NULL, ts_max INT NOT NULL, n INT NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX request_blocks_time ON request_blocks(ts_max, ts_min);
CREATE INDEX request_blocks_project ON request_blocks(project, ts_max);
CREATE TABLE request_block_ids(k INT NOT NULL, block INT NOT NULL, PRIMARY KEY(k, block)) WITHOUT ROWID;
CREATE TABLE request_block_sessions(session INT NOT NULL, block INT NOT NULL, PRIMARY KEY(session, block))
  WITHOUT ROWID;
DROP VIEW trace_rows;
DROP VIEW observation_rows;
CREATE VIEW trace_rows AS
  SELECT pk, id, project, ts, name, user, session, CAST(NULL AS INT) AS release, CAST(NULL AS INT) AS version,
         env, tags, CAST(NULL AS TEXT) AS input, CAST(NULL AS TEXT) AS output, CAST(NULL AS TEXT) AS metadata,
         CAST(NULL AS INT) AS public, model, coalesce(level,0)=3 OR coalesce(status,0)>=400 AS error
  FROM block_requests
  UNION ALL
  SELECT pk, id, project, ts, name, user, session, release, version, env, tags, input, output, metadata,
         public, CAST(NULL AS INT), 0 FROM traces
  UNION ALL
  SELECT pk, id, project, ts, name, user, session, CAST(NULL AS INT), CAST(NULL AS INT), env, tags,
         CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS INT), model,
         coalesce(level,0)=3 OR coalesce(status,0)>=400 FROM requests;
CREATE VIEW observation_rows AS
  SELECT pk, span AS id, project, pk AS trace, parent, CAST(1 AS INT) AS type, name, ts AS start, dur, ttft,
         model, level, status_message, CAST(NULL AS INT) AS version, env, CAST(NULL AS TEXT) AS model_params,
         input, output, metadata, in_tok, out_tok, total_tok, cached_tok, usage_details,
         CAST(NULL AS TEXT) AS cost_details, in_cost, out_cost, cost, user, team, key, backend, status,
         id AS trace_id, project AS trace_project, session AS trace_session
  FROM block_requests
  UNION ALL
  SELECT o.pk, o.id, o.project, o.trace, o.parent, o.type, o.name, o.start, o.dur, o.ttft, o.model, o.level,
         o.status_message, o.version, o.env, o.model_params, o.input, o.output, o.metadata, o.in_tok,
         o.out_tok, o.total_tok, o.cached_tok, o.usage_details, o.cost_details, o.in_cost, o.out_cost,
         o.cost, o.user, o.team, o.key, o.backend, o.status, t.id, t.project, t.session
  FROM observations o JOIN traces t ON t.pk=o.trace
  UNION ALL
  SELECT pk, span, project, pk, parent, CAST(1 AS INT), name, ts, dur, ttft, model, level, status_message,
         CAST(NULL AS INT), env, CAST(NULL AS TEXT), input, output, metadata, in_tok, out_tok, total_tok,
         cached_tok, usage_details, CAST(NULL AS TEXT), in_cost, out_cost, cost, user, team, key, backend,
         status, id, project, session FROM requests;
)sql",
      // 9: the id of the event that created a trace or an observation is kept in its row, and an
      // observation's row keeps its first few updates' ids, so an SDK's creates and span ends
      // cost no `events` row (two B-tree inserts at a random key and at the end of `events_ts`);
      // `events` keeps the other events' ids (batch_writer_upserts.cc). Stored rows have none:
      // their events are in `events`, where a re-send still finds them.
      "ALTER TABLE traces ADD COLUMN event; ALTER TABLE observations ADD COLUMN event;"
      "ALTER TABLE observations ADD COLUMN events;",
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
