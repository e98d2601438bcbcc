// telemetry/sqlite_test_support.h — helpers the SQLite store's tests share: a fresh database
// path per test and reading one value with plain SQL (what a test checks about the schema
// itself, below the store's API).
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ap::telemetry::testing {

// A database path in a fresh temporary folder named after the process and `name`.
inline std::string TempDb(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("ap_sqlite_" + std::to_string(::getpid()) + name);
  std::filesystem::remove_all(dir);
  return (dir / "t.db").string();
}

// The first column of the first row of `sql`, as text ("" for none or NULL).
inline std::string Scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace ap::telemetry::testing
