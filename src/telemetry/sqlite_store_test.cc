// telemetry/sqlite_store_test.cc — the SQLite store against the conformance suite, plus what is
// specific to SQLite: WAL mode, migrations recorded in user_version, refusing a newer schema.
#include "telemetry/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>

#include <gtest/gtest.h>

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

std::string TempDb(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ap_sqlite_" + std::to_string(::getpid()) + name);
  std::filesystem::remove_all(dir);
  return (dir / "t.db").string();
}

std::string Pragma(const std::string& path, const std::string& pragma) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, ("PRAGMA " + pragma).c_str(), -1, &st, nullptr);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
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
  sqlite3_exec(db, "DROP INDEX events_ts; PRAGMA user_version=1;", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteStore::Open({path});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(Pragma(path, "user_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
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
