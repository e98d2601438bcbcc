// telemetry/internal/sqlite_db.cc — see sqlite_db.h.
#include "telemetry/internal/sqlite_db.h"

#include <array>

namespace ap::telemetry::internal {
namespace {

// Dictionary caches are bounded (high-cardinality users and sessions would otherwise grow them
// forever); a cleared cache only costs a few lookups.
constexpr size_t kMaxCached = 200'000;

// Lowercase hex digit values, -1 for anything else: uppercase stays text so it reads back
// exactly as written. A table, because every row's ids go through it.
constexpr std::array<int8_t, 256> kHexDigit = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 10);
  return t;
}();

int HexDigit(char c) { return kHexDigit[static_cast<unsigned char>(c)]; }

// A UUID blob: 16 bytes and this marker, so it never reads back as a 32-hex W3C id.
constexpr int kUuidBlobSize = 17;
constexpr unsigned char kUuidMarker = '-';

}  // namespace

void Stmt::Bind(int i, const Value& v, bool borrow) {
  const auto keep = borrow ? SQLITE_STATIC : SQLITE_TRANSIENT;
  switch (v.index()) {
    case 0: break;  // every Stmt starts with its parameters cleared to NULL (see ~Stmt)
    case 1: sqlite3_bind_int64(stmt_, i, std::get<1>(v)); break;
    case 2: sqlite3_bind_double(stmt_, i, std::get<2>(v)); break;
    case 3: {
      const auto& s = std::get<3>(v);
      sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), keep);
      break;
    }
    case 4: {
      const auto& b = std::get<4>(v);
      sqlite3_bind_blob(stmt_, i, b.bytes, b.size, keep);
      break;
    }
    default: {
      auto s = std::get<5>(v);
      sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), keep);
    }
  }
}

std::string Stmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

std::optional<std::string> Stmt::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::optional<double> Stmt::OptReal(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Real(col);
}

std::string Stmt::Id(int col) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_BLOB) return Text(col);
  auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  static constexpr char kHex[] = "0123456789abcdef";
  const bool uuid = n == kUuidBlobSize && p[16] == kUuidMarker;
  if (uuid) n = 16;
  std::string out;
  out.reserve(n * 2 + 4);
  for (int i = 0; i < n; ++i) {
    if (uuid && (i == 4 || i == 6 || i == 8 || i == 10)) out.push_back('-');
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::optional<std::string> Stmt::OptId(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Id(col);
}

// Debian's SQLite counts every allocation under a global mutex (SQLITE_DEFAULT_MEMSTATUS=1):
// 5-15 % of the writer's CPU on gateway records, ~25 % on Langfuse events. Nothing in the
// process reads sqlite3_memory_used(). The setting is process-wide and takes only before
// SQLite's first use, hence a static initializer (it runs before main in every binary that links
// the store).
const bool kMemstatusOff = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;

Conn::~Conn() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  for (auto& [sql, stmt] : static_stmts_) sqlite3_finalize(stmt);
  if (db_) sqlite3_close_v2(db_);
}

bool Conn::Open(const std::string& path, bool readonly, std::string* error) {
  int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    *error = db_ ? sqlite3_errmsg(db_) : "out of memory";
    return false;
  }
  sqlite3_busy_timeout(db_, 5000);
  return true;
}

bool Conn::Exec(std::string_view sql, std::string* error) {
  std::string s(sql);
  char* msg = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    if (error) *error = msg ? msg : "sqlite error";
    sqlite3_free(msg);
    return false;
  }
  return true;
}

sqlite3_stmt* Conn::Compile(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK)
    return nullptr;
  return stmt;
}

Stmt Conn::Prepare(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return Stmt(it->second);
  sqlite3_stmt* stmt = Compile(sql);
  if (stmt) stmts_.emplace(sql, stmt);
  return Stmt(stmt);
}

Stmt Conn::PrepareStatic(const char* sql) {
  auto it = static_stmts_.find(sql);
  if (it != static_stmts_.end()) return Stmt(it->second);
  sqlite3_stmt* stmt = Compile(sql);
  if (stmt) static_stmts_.emplace(sql, stmt);
  return Stmt(stmt);
}

int64_t Conn::Cached(std::string_view value) {
  if (const Hot& h = hot_[HotIndex(value)]; h.id && h.value == value) return h.id;
  if (auto it = ids_.find(value); it != ids_.end()) {
    Remember(value, it->second);
    return it->second;
  }
  return 0;
}

int64_t Conn::Cache(std::string_view value, int64_t id) {
  if (ids_.size() > kMaxCached) ids_.clear();
  ids_.emplace(std::string(value), id);
  Remember(value, id);
  return id;
}

int64_t Conn::Lookup(std::string_view value) {
  if (int64_t id = Cached(value)) return id;
  auto s = PrepareStatic("SELECT id FROM strings WHERE value=?");
  s.Bind(1, value);
  return s.Step() == SQLITE_ROW ? Cache(value, s.Int(0)) : 0;
}

// A value missing from the caches is usually new (a session id, say): the insert comes first and
// the stored id is read only when the value was there already, one index search instead of two.
int64_t Conn::Intern(std::string_view value) {
  if (int64_t id = Cached(value)) return id;
  {
    auto s = PrepareStatic("INSERT INTO strings(value) VALUES(?) ON CONFLICT(value) DO NOTHING");
    s.Bind(1, value);
    if (s.Step() != SQLITE_DONE) return 0;
    if (sqlite3_changes(db_) == 1) return Cache(value, sqlite3_last_insert_rowid(db_));
  }
  return Lookup(value);
}

std::string Conn::Name(int64_t id) {
  if (id == 0) return {};
  if (auto it = names_.find(id); it != names_.end()) return it->second;
  auto s = Prepare("SELECT value FROM strings WHERE id=?");
  s.Bind(1, id);
  std::string value = s.Step() == SQLITE_ROW ? s.Text(0) : std::string();
  if (names_.size() > kMaxCached) names_.clear();
  names_.emplace(id, value);
  return value;
}

bool IdBlob(std::string_view id, Blob* out) {
  Blob& b = *out;
  b.size = 0;
  if (id.size() == 36) {
    for (size_t i = 0; i < id.size();) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (id[i++] != '-') break;
        continue;
      }
      int hi = HexDigit(id[i]), lo = HexDigit(id[i + 1]);
      if (hi < 0 || lo < 0) break;
      b.bytes[b.size++] = static_cast<unsigned char>(hi << 4 | lo);
      i += 2;
    }
    if (b.size != 16) {  // stopped at a bad character
      b.size = 0;
      return false;
    }
    b.bytes[b.size++] = kUuidMarker;
    return true;
  }
  if (id.size() != 16 && id.size() != 32) return false;
  // Every pair decoded, one check at the end (a non-digit's table entry is negative).
  int bad = 0;
  for (size_t i = 0; i < id.size(); i += 2) {
    const int hi = HexDigit(id[i]), lo = HexDigit(id[i + 1]);
    bad |= hi | lo;
    b.bytes[i / 2] = static_cast<unsigned char>(hi << 4 | lo);
  }
  if (bad < 0) return false;
  b.size = static_cast<uint8_t>(id.size() / 2);
  return true;
}

Value IdValue(std::string_view id) {
  Blob b;
  if (IdBlob(id, &b)) return b;
  return std::string(id);
}

bool RegisterIdFunction(sqlite3* db) {
  auto fn = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_TEXT) {
      std::string_view text(reinterpret_cast<const char*>(sqlite3_value_text(argv[0])), sqlite3_value_bytes(argv[0]));
      Value v = IdValue(text);
      if (const Blob* b = std::get_if<Blob>(&v)) {
        sqlite3_result_blob(ctx, b->bytes, b->size, SQLITE_TRANSIENT);
        return;
      }
    }
    sqlite3_result_value(ctx, argv[0]);
  };
  return sqlite3_create_function_v2(db, "ap_id", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, fn, nullptr,
                                    nullptr, nullptr) == SQLITE_OK;
}

}  // namespace ap::telemetry::internal
