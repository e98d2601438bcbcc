// telemetry/sqlite_store_test.cc — the SQLite store against the conformance suite, plus what is
// specific to SQLite: WAL mode, migrations recorded in user_version, refusing a newer schema.
#include "telemetry/sqlite_store.h"
#include "telemetry/sqlite_test_support.h"

#include <sqlite3.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "telemetry/internal/sqlite_rows.h"
#include "telemetry/store_conformance.h"

namespace ap::telemetry {
namespace {

std::unique_ptr<Store> OpenSqlite(const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/telemetry.db";
  auto s = SqliteStore::Open(o);
  EXPECT_TRUE(s) << (s ? "" : s.error());
  if (!s) return nullptr;
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"sqlite", OpenSqlite}),
                         [](const auto& info) { return info.param.name; });

using testing::Scalar;
using testing::TempDb;

std::string Pragma(const std::string& path, const std::string& pragma) { return Scalar(path, "PRAGMA " + pragma); }

// Runs `sql` on the database at `path` outside the store (to make it look as an older binary
// left it).
void MustExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// The views a migration created (its text from "CREATE VIEW trace_rows" on).
std::string ViewsOf(size_t migration) {
  const std::string m = internal::Migrations()[migration - 1];
  return m.substr(m.find("CREATE VIEW trace_rows"));
}

// Undo migrations 9 (event ids in rows) and 8 (request blocks), as part of turning a store back
// into what an older binary left (before 8: both, 9 first). Outside the store the views cannot
// be read (they name the store's virtual table), and SQLite reads them on ALTER TABLE: they are
// dropped first and the older ones put back.
std::string Before9() {
  return "DROP VIEW trace_rows; DROP VIEW observation_rows; ALTER TABLE traces DROP COLUMN event; "
         "ALTER TABLE observations DROP COLUMN event; ALTER TABLE observations DROP COLUMN events; " +
         ViewsOf(8);
}
std::string Before8() {
  return "DROP VIEW trace_rows; DROP VIEW observation_rows; DROP TABLE request_blocks; "
         "DROP TABLE request_block_ids; DROP TABLE request_block_sessions; " +
         ViewsOf(6);
}

TEST(SqliteStore, UsesWalAndRecordsTheSchemaVersion) {
  std::string path = TempDb("wal");
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s) << s.error();
  }
  EXPECT_EQ(Pragma(path, "journal_mode"), "wal");
  EXPECT_EQ(Pragma(path, "user_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
  // Opening again applies nothing and keeps working.
  auto again = SqliteStore::Open({path});
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ((*again)->Stats()->schema_version, SqliteStore::LatestSchemaVersion());
}

TEST(SqliteStore, MigratesAnOlderSchema) {
  std::string path = TempDb("migrate");
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
  }
  // Pretend the database predates migration 2.
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db,
                         (Before9() + Before8() +
                          "DROP INDEX events_ts; DROP TABLE usage_minute; DROP TABLE latency_minute; DROP INDEX traces_time; "
                          "DROP VIEW trace_rows; DROP VIEW observation_rows; DROP TABLE requests; PRAGMA user_version=1;")
                             .c_str(),
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(Pragma(path, "user_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
}

TEST(SqliteStore, MinuteRollupMigrationFillsFromStoredGenerations) {
  std::string path = TempDb("minute");
  constexpr int64_t kT0 = 1'714'564'800'000'000;  // a whole minute
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
    std::vector<Item> items;
    for (int i = 0; i < 10; ++i) {
      Observation g;
      g.id = "g" + std::to_string(i);
      g.trace_id = "t" + std::to_string(i);
      g.project = "p";
      g.type = ObservationType::kGeneration;
      g.start_us = kT0 + i;
      g.end_us = g.start_us + 200'000;  // 200 ms
      g.completion_start_us = g.start_us + 20'000;
      g.model = "m";
      g.input_tokens = 3;
      g.status_code = i == 0 ? 502 : 200;
      items.push_back(Item{"", true, g});
    }
    ASSERT_TRUE((*s)->Write(items));
  }
  // The database as a binary before migration 4 left it.
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db,
                         (Before9() + Before8() +
                          "DROP TABLE usage_minute; DROP TABLE latency_minute; DROP INDEX traces_time; DROP VIEW trace_rows; "
                          "DROP VIEW observation_rows; DROP TABLE requests; PRAGMA user_version=3;")
                             .c_str(),
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  TimeSeriesQuery q;
  q.from_us = kT0;
  q.to_us = kT0 + 60'000'000;
  auto r = (*s)->TimeSeries(q);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].requests, 10);
  EXPECT_EQ((*r)[0].errors, 1);
  EXPECT_EQ((*r)[0].input_tokens, 30);
  EXPECT_NEAR((*r)[0].latency_p50, 0.2, 0.2 * 0.15);
  EXPECT_NEAR((*r)[0].ttft_p50, 0.02, 0.02 * 0.15);
}

// A store written before migration 6 (gateway requests as trace + generation rows) keeps its rows
// where they are; requests written after it go to the request table; reads see both.
TEST(SqliteStore, RequestRowMigrationKeepsOlderRowsReadable) {
  std::string path = TempDb("requests");
  constexpr int64_t kT0 = 1'714'564'800'000'000;
  auto pair = [](const std::string& trace, int64_t ts) {
    Trace t;
    t.id = trace;
    t.project = "p";
    t.timestamp_us = ts;
    t.user_id = "u";
    Observation g;
    g.id = trace.substr(0, 16);
    g.trace_id = trace;
    g.project = "p";
    g.type = ObservationType::kGeneration;
    g.start_us = ts;
    g.end_us = ts + 1000;
    g.user_id = "u";
    g.model = "m";
    g.total_cost = 1;
    g.status_code = 200;
    return std::vector<Item>{Item{"", true, t}, Item{"", true, g}};
  };
  const std::string old_id = "0123456789abcdef0123456789abcdef", new_id = "1123456789abcdef0123456789abcdef";
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->Write(pair(old_id, kT0)));
  }
  // Move the request into the tables a binary before migration 6 wrote it to, then downgrade.
  MustExec(path, Before9() + Before8() +
           "INSERT INTO traces(id,project,ts,user) SELECT id,project,ts,user FROM requests;"
           "INSERT INTO observations(id,project,trace,type,start,dur,model,cost,user,status) "
           "SELECT span,project,(SELECT max(pk) FROM traces),1,ts,dur,model,cost,user,status FROM requests;"
           "DROP VIEW trace_rows; DROP VIEW observation_rows; DROP TABLE requests; PRAGMA user_version=5;");
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  ASSERT_TRUE((*s)->Write(pair(new_id, kT0 + 1)));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM traces"), "1");  // the older request stays there
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM requests"), "1");
  TraceQuery q;
  q.project = "p";
  auto page = (*s)->ListTraces(q);
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].trace.id, new_id);
  EXPECT_EQ(page->items[1].trace.id, old_id);
  for (const auto& t : page->items) EXPECT_EQ(t.observation_count, 1);
  auto stats = (*s)->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->traces, 2);
  EXPECT_EQ(stats->observations, 2);
  EXPECT_EQ(stats->schema_version, SqliteStore::LatestSchemaVersion());
}

// Migration 7 stores canonical UUIDs as blobs; a store that holds them as text (written before
// it) is converted, so every lookup by id, parent, score and event id still finds its rows.
TEST(SqliteStore, UuidMigrationConvertsStoredIds) {
  std::string path = TempDb("uuids");
  constexpr int64_t kT0 = 1'714'564'800'000'000;
  const std::string trace = "0b7e8d8c-3b2a-4c1d-9e8f-0123456789ab", span = "1c8f9e9d-4c3b-4d2e-8f90-123456789abc",
                    child = "2d909fae-5d4c-4e3f-9a01-23456789abcd", event = "3ea1a0bf-6e5d-4f40-8b12-3456789abcde";
  auto items = [&] {
    Trace t;
    t.id = trace;
    t.project = "p";
    t.timestamp_us = kT0;
    Observation o;
    o.id = span;
    o.trace_id = trace;
    o.project = "p";
    o.start_us = kT0;
    Observation c = o;
    c.id = child;
    c.parent_id = span;
    Score sc;
    sc.id = span;
    sc.project = "p";
    sc.trace_id = trace;
    sc.observation_id = child;
    sc.name = "q";
    sc.value = 1;
    return std::vector<Item>{Item{event, false, t}, Item{"", false, o}, Item{"", false, c}, Item{"", false, sc}};
  };
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->Write(items()));
  }
  EXPECT_EQ(Scalar(path, "SELECT typeof(id) || length(id) FROM traces"), "blob17");
  // Back to text, as a binary before migration 7 stored them.
  const std::string text = "lower(substr(hex(X),1,8)||'-'||substr(hex(X),9,4)||'-'||substr(hex(X),13,4)||'-'||"
                           "substr(hex(X),17,4)||'-'||substr(hex(X),21,12))";
  std::string sql;
  for (auto [table, column] : std::vector<std::pair<std::string, std::string>>{
           {"traces", "id"}, {"observations", "id"}, {"observations", "parent"}, {"scores", "id"},
           {"scores", "trace_id"}, {"scores", "observation_id"}, {"events", "id"}}) {
    std::string to = text;
    for (size_t at; (at = to.find('X')) != std::string::npos;) to.replace(at, 1, column);
    sql += "UPDATE " + table + " SET " + column + "=" + to + " WHERE typeof(" + column + ")='blob' AND length(" +
           column + ")=17;";
  }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, (sql + Before9() + Before8() + "PRAGMA user_version=6;").c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  EXPECT_EQ(Scalar(path, "SELECT id FROM traces"), trace);

  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(Scalar(path, "SELECT typeof(id) || length(id) FROM events"), "blob17");
  auto t = (*s)->GetTrace("p", trace);
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->id, trace);
  ObservationQuery q;
  q.project = "p";
  q.trace_id = trace;
  auto obs = (*s)->ListObservations(q);
  ASSERT_TRUE(obs);
  ASSERT_EQ(obs->items.size(), 2u);
  q.parent_id = span;
  EXPECT_EQ((*s)->ListObservations(q)->items.size(), 1u);
  ScoreQuery sq;
  sq.project = "p";
  sq.ids = {span};
  sq.observation_id = child;
  EXPECT_EQ((*s)->QueryScores(sq)->total, 1);
  ASSERT_TRUE((*s)->Write(items()));  // the same batch again: the trace's event id is known
  EXPECT_EQ((*s)->Stats()->traces, 1);
  EXPECT_EQ((*s)->Stats()->observations, 2);
  EXPECT_EQ((*s)->QueryScores(sq)->total, 1);
}

// Migration 9: an event that creates its row keeps its id there; the `events` table holds the
// others (updates, creates on an earlier day than they arrived).
TEST(SqliteStore, CreatesKeepTheirEventIdInTheirRow) {
  std::string path = TempDb("event_rows");
  const int64_t now = NowMicros();
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  Trace t;
  t.id = "0b7e8d8c-3b2a-4c1d-9e8f-0123456789ab";
  t.project = "p";
  t.timestamp_us = now;
  Observation o;
  o.id = "1c8f9e9d-4c3b-4d2e-8f90-123456789abc";
  o.trace_id = t.id;
  o.project = "p";
  o.start_us = now;
  ASSERT_TRUE((*s)->Write(std::vector<Item>{Item{"p/3ea1a0bf-6e5d-4f40-8b12-3456789abcde", false, t},
                                            Item{"p/4fb2b1c0-7f6e-4051-9c23-456789abcdef", false, o}}));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM events"), "0");
  EXPECT_EQ(Scalar(path, "SELECT event FROM traces"), "p/3ea1a0bf-6e5d-4f40-8b12-3456789abcde");
  EXPECT_EQ(Scalar(path, "SELECT event FROM observations"), "p/4fb2b1c0-7f6e-4051-9c23-456789abcdef");
  o.name = "renamed";  // an update: the row keeps the first few updates' ids too
  Trace old = t;  // a create dated before today: `events`
  old.id = "old";
  old.timestamp_us = now - 2 * 86'400'000'000;
  ASSERT_TRUE((*s)->Write(std::vector<Item>{Item{"p/u1", false, o}, Item{"p/c-old", false, old}}));
  EXPECT_EQ(Scalar(path, "SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY id)"), "p/c-old");
  EXPECT_EQ(Scalar(path, "SELECT length(events) FROM observations"), "5");  // one byte of length, "p/u1"
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM traces WHERE event IS NULL"), "1");
  // Past four, an update's id goes to `events`.
  ASSERT_TRUE((*s)->Write(std::vector<Item>{Item{"p/u2", false, o}, Item{"p/u3", false, o}, Item{"p/u4", false, o},
                                            Item{"p/u5", false, o}, Item{"p/u4", false, o}}));
  EXPECT_EQ(Scalar(path, "SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY id)"), "p/c-old,p/u5");
  EXPECT_EQ(Scalar(path, "SELECT length(events) FROM observations"), "20");
}

// A store written before migration 9 has every event id in `events`; after the upgrade its
// re-sent events are still ignored and new creates keep their ids in their rows.
TEST(SqliteStore, EventIdMigrationKeepsStoredIdsWorking) {
  std::string path = TempDb("event_migration");
  const int64_t now = NowMicros();
  auto batch = [&](const std::string& n) {
    Trace t;
    t.id = "t" + n;
    t.project = "p";
    t.timestamp_us = now;
    Observation g;
    g.id = "g" + n;
    g.trace_id = t.id;
    g.project = "p";
    g.type = ObservationType::kGeneration;
    g.start_us = now;
    g.model = "m";
    g.input_tokens = 10;
    return std::vector<Item>{Item{"e-t" + n, false, t}, Item{"e-g" + n, false, g}};
  };
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->Write(batch("1")));
  }
  // As a binary before migration 9 would have stored it.
  MustExec(path,
           "INSERT INTO events SELECT event, ts FROM traces WHERE event IS NOT NULL "
           "UNION ALL SELECT event, start FROM observations WHERE event IS NOT NULL;" +
               Before9() + "PRAGMA user_version=8;");
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(Pragma(path, "user_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
  auto b1 = batch("1");
  std::get<Observation>(b1[1].body).input_tokens = 999;
  ASSERT_TRUE((*s)->Write(b1));  // re-sent, different content: ignored
  ASSERT_TRUE((*s)->Write(batch("2")));
  ASSERT_TRUE((*s)->Write(batch("2")));
  auto usage = (*s)->AggregateUsage({});
  ASSERT_TRUE(usage && usage->size() == 1u);
  EXPECT_EQ((*usage)[0].generations, 2);
  EXPECT_EQ((*usage)[0].input_tokens, 20);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM events"), "2");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM observations WHERE event IS NOT NULL"), "1");
}

// The writer's filter over `events` (internal/event_filter.h) is rebuilt from the table when it
// fills; ids it held before must survive that, or a re-sent event whose object retention deleted
// would be applied again.
TEST(SqliteStore, EventFilterKeepsItsIdsWhenItGrows) {
  std::string path = TempDb("event_filter");
  const int64_t now = NowMicros();
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s);
  Trace t;
  t.id = "t";
  t.project = "p";
  t.timestamp_us = now;
  const Item create{"e-create", false, t};
  ASSERT_TRUE((*s)->Write(std::vector<Item>{create}));
  Trace earlier = t;
  earlier.timestamp_us = now - 3 * 86'400'000'000;
  ASSERT_TRUE((*s)->Write(std::vector<Item>{Item{"e-move", false, earlier}}));
  // More ids than the smallest filter holds (2^20 bits at 10 bits each), each an `events` row.
  std::vector<Item> scores;
  for (int i = 0; i < 110'000; ++i) {
    Score sc;
    sc.id = "s" + std::to_string(i % 10);
    sc.project = "p";
    sc.trace_id = "t";
    sc.name = "q";
    sc.value = i;
    scores.push_back(Item{"e-score-" + std::to_string(i), false, sc});
  }
  ASSERT_TRUE((*s)->Write(scores));
  auto deleted = (*s)->DeleteOlderThan(now - 86'400'000'000);
  ASSERT_TRUE(deleted) << deleted.error();
  ASSERT_TRUE((*s)->Write(std::vector<Item>{create}));
  EXPECT_FALSE(*(*s)->GetTrace("p", "t"));
}

TEST(SqliteStore, RefusesASchemaNewerThanItself) {
  std::string path = TempDb("newer");
  {
    auto s = SqliteStore::Open({path});
    ASSERT_TRUE(s);
  }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=999;", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteStore::Open({path});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("newer"), std::string::npos);
}

}  // namespace
}  // namespace ap::telemetry
