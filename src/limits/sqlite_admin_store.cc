// limits/sqlite_admin_store.cc — AdminStore on SQLite (WAL): teams, users and keys as JSON rows,
// a version counter bumped in the same transaction as each change, and the spend ledger.
#include <sqlite3.h>

#include <mutex>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "limits/admin_store.h"

namespace ap::limits {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS principals(kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
                                      PRIMARY KEY(kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys(hash TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend(scope TEXT PRIMARY KEY, usd REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES('version', 0);
)sql";

const char* KindName(PrincipalKind k) { return k == PrincipalKind::kTeam ? "team" : "user"; }

class SqliteAdminStore : public AdminStore {
 public:
  explicit SqliteAdminStore(sqlite3* db) : db_(db) {}
  ~SqliteAdminStore() override { sqlite3_close(db_); }

  Result<int64_t> Version() override {
    std::lock_guard lock(mu_);
    return VersionLocked();
  }

  Result<AdminState> Load() override {
    std::lock_guard lock(mu_);
    AdminState state;
    auto v = VersionLocked();
    if (!v) return v.error();
    state.version = *v;
    std::string error;
    Each("SELECT json FROM principals", [&](std::string_view text) {
      boost::system::error_code ec;
      auto p = ParsePrincipal(boost::json::parse(text, ec));
      if (p) state.principals.push_back(std::move(*p));
      else error = p.error();
    });
    Each("SELECT json FROM keys", [&](std::string_view text) {
      boost::system::error_code ec;
      auto k = ParseKey(boost::json::parse(text, ec));
      if (k) state.keys.push_back(std::move(*k));
      else error = k.error();
    });
    if (!error.empty()) return error;
    return state;
  }

  Result<void> PutPrincipal(const Principal& p) override {
    return Done(Change("INSERT OR REPLACE INTO principals VALUES(?1, ?2, ?3)",
                  {KindName(p.kind), p.name, boost::json::serialize(ToJson(p))}));
  }

  Result<bool> DeletePrincipal(PrincipalKind kind, const std::string& name) override {
    auto r = Change("DELETE FROM principals WHERE kind=?1 AND name=?2", {KindName(kind), name});
    if (!r) return r.error();
    return *r > 0;
  }

  Result<void> PutKey(const VirtualKey& k) override {
    return Done(Change("INSERT OR REPLACE INTO keys VALUES(?1, ?2)", {k.hash, boost::json::serialize(ToJson(k))}));
  }

  Result<void> AddSpend(const std::map<std::string, double>& deltas) override {
    std::lock_guard lock(mu_);
    if (!Exec("BEGIN IMMEDIATE")) return Error();
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO spend VALUES(?1, ?2) ON CONFLICT(scope) DO UPDATE SET usd=usd+excluded.usd",
                       -1, &s, nullptr);
    bool ok = s != nullptr;
    for (const auto& [scope, usd] : deltas) {
      if (!ok) break;
      sqlite3_bind_text(s, 1, scope.data(), static_cast<int>(scope.size()), SQLITE_TRANSIENT);
      sqlite3_bind_double(s, 2, usd);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    if (!ok) {
      auto e = Error();
      Exec("ROLLBACK");
      return e;
    }
    if (!Exec("COMMIT")) return Error();
    return {};
  }

  Result<std::map<std::string, double>> LoadSpend() override {
    std::lock_guard lock(mu_);
    std::map<std::string, double> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT scope, usd FROM spend", -1, &s, nullptr) != SQLITE_OK) return Error();
    while (sqlite3_step(s) == SQLITE_ROW)
      out[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_double(s, 1);
    sqlite3_finalize(s);
    return out;
  }

 private:
  std::string Error() const { return std::string("keys database: ") + sqlite3_errmsg(db_); }
  bool Exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  Result<int64_t> VersionLocked() {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT v FROM meta WHERE k='version'", -1, &s, nullptr) != SQLITE_OK) return Error();
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return v;
  }

  template <typename F>
  void Each(const char* sql, F&& f) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return;
    while (sqlite3_step(s) == SQLITE_ROW)
      f(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                         static_cast<size_t>(sqlite3_column_bytes(s, 0))));
    sqlite3_finalize(s);
  }

  static Result<void> Done(const Result<int>& r) {
    if (!r) return r.error();
    return {};
  }

  // One statement and the version bump, in one transaction; the rows the statement changed.
  Result<int> Change(const char* sql, const std::vector<std::string>& args) {
    std::lock_guard lock(mu_);
    if (!Exec("BEGIN IMMEDIATE")) return Error();
    sqlite3_stmt* s = nullptr;
    bool ok = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK;
    for (size_t i = 0; ok && i < args.size(); ++i)
      sqlite3_bind_text(s, static_cast<int>(i + 1), args[i].data(), static_cast<int>(args[i].size()), SQLITE_TRANSIENT);
    ok = ok && sqlite3_step(s) == SQLITE_DONE;
    sqlite3_finalize(s);
    int changes = sqlite3_changes(db_);
    ok = ok && Exec("UPDATE meta SET v=v+1 WHERE k='version'");
    if (!ok) {
      auto e = Error();
      Exec("ROLLBACK");
      return e;
    }
    if (!Exec("COMMIT")) return Error();
    return changes;
  }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<AdminStore>> OpenSqliteAdminStore(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string e = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return "cannot open " + path + ": " + e;
  }
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string e = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return "cannot initialise " + path + ": " + e;
  }
  return std::unique_ptr<AdminStore>(new SqliteAdminStore(db));
}

}  // namespace ap::limits
