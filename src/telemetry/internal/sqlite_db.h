// telemetry/internal/sqlite_db.h — thin RAII over the SQLite C API for the SQLite store: one
// connection with a prepared-statement cache and an interned-string cache, and a statement
// wrapper that binds/reads by position and resets itself when it goes out of scope.
//
// A Conn is used by one thread at a time (the store hands connections out under a mutex). It
// never throws; errors come back as strings from sqlite3_errmsg.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ap::telemetry::internal {

// A value bound to a statement parameter: NULL, integer, real, text, blob or borrowed text.
// Blobs are the binary form of W3C ids (8 or 16 bytes) and of UUIDs (17: the 16 bytes, then a
// '-' marker) and live inline: binding an id never allocates. A string_view must outlive the statement's Step() (the writer binds fields of the
// items it is writing).
struct Blob {
  unsigned char bytes[17];
  uint8_t size = 0;
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes), size}; }
};
using Value = std::variant<std::monostate, int64_t, double, std::string, Blob, std::string_view>;

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* raw() const { return stmt_; }  // binding without Values (the writer's hot rows)
  // Text and blobs are copied, unless `borrow`: then `v` must outlive Step() (SQLite keeps a
  // pointer; it saves a malloc and a copy per value).
  void Bind(int i, const Value& v, bool borrow = false);
  void BindAll(std::span<const Value> values, int first = 1, bool borrow = false) {
    for (size_t i = 0; i < values.size(); ++i) Bind(first + static_cast<int>(i), values[i], borrow);
  }
  void BindAll(std::initializer_list<Value> values, int first = 1) {
    BindAll(std::span<const Value>(values.begin(), values.size()), first);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  std::optional<std::string> OptText(int col) const;
  std::optional<int64_t> OptInt(int col) const;
  std::optional<double> OptReal(int col) const;
  // An id column: blobs (compressed hex ids) come back as lowercase hex.
  std::string Id(int col) const;
  std::optional<std::string> OptId(int col) const;

 private:
  sqlite3_stmt* stmt_;
};

class Conn {
 public:
  Conn() = default;
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool Open(const std::string& path, bool readonly, std::string* error);
  sqlite3* db() const { return db_; }
  // Runs SQL without results (may hold several statements).
  bool Exec(std::string_view sql, std::string* error);
  // A cached prepared statement; !ok() on error (see LastError()).
  Stmt Prepare(const std::string& sql);
  // The same for SQL in static storage (a string literal), cached by its address: the writer's
  // per-row statements skip hashing their text on every row.
  Stmt PrepareStatic(const char* sql);
  std::string LastError() const { return sqlite3_errmsg(db_); }

  // String dictionary. Intern() inserts when missing (write connection only, inside a
  // transaction); Lookup() returns 0 when absent; Name() resolves an id (cached).
  int64_t Intern(std::string_view value);
  int64_t Lookup(std::string_view value);
  std::string Name(int64_t id);
  // Forgets interned ids (after a rollback, ids handed out inside it are void).
  void ForgetInterned() {
    ids_.clear();
    names_.clear();
    for (auto& h : hot_) h.id = 0;
  }

 private:
  // Lookups by string_view without building a std::string (C++20 heterogeneous lookup).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  sqlite3_stmt* Compile(std::string_view sql);
  // The id of a value in the caches (0: not there); Cache() records one and returns it.
  int64_t Cached(std::string_view value);
  int64_t Cache(std::string_view value, int64_t id);
  // A small direct-mapped cache in front of ids_: the writer interns the same project, path,
  // model, backend and user names on every row, and a hit here costs a hash of a short string
  // and one compare instead of probing a map of up to kMaxCached values (cache misses). Hashed
  // whole: names such as "user-123" differ in a byte or two anywhere.
  struct Hot {
    std::string value;
    int64_t id = 0;
  };
  static constexpr size_t kHotSlots = 4096;
  static size_t HotIndex(std::string_view v) { return std::hash<std::string_view>()(v) & (kHotSlots - 1); }
  void Remember(std::string_view value, int64_t id) {
    Hot& h = hot_[HotIndex(value)];
    h.value.assign(value);
    h.id = id;
  }
  std::array<Hot, kHotSlots> hot_;

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
  std::unordered_map<const char*, sqlite3_stmt*> static_stmts_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> ids_;
  std::unordered_map<int64_t, std::string> names_;
};

// Ids that are lowercase hex of length 16 or 32 are stored as blobs of half the size (W3C trace
// and span ids), canonical lowercase UUIDs ("8-4-4-4-12", what the Langfuse SDKs mint for ids and
// event ids) as 17-byte blobs; anything else stays text. Stmt::Id reads each back as written.
Value IdValue(std::string_view id);
// The same when `id` has a binary form: true and the blob in *out; false (out->size 0) for an id
// kept as text.
bool IdBlob(std::string_view id, Blob* out);
// Registers ap_id(x) on `db`: IdValue as SQL, for the migration that converts stored ids.
bool RegisterIdFunction(sqlite3* db);

}  // namespace ap::telemetry::internal
