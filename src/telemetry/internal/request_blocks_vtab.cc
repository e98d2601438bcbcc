// telemetry/internal/request_blocks_vtab.cc — `block_requests`, an eponymous read-only virtual
// table that shows the rows of every request block (request_blocks.h) with the columns of the
// `requests` table, so the views `trace_rows` and `observation_rows` read blocks as they read
// request rows and every query of the read path keeps working unchanged.
//
// Plans (xBestIndex), cheapest first: `pk = ?` (one block, by its pk), `id = ?` (the blocks the
// narrow id index names for the id's first 8 bytes), `session = ?` (the blocks the session index
// names), else a scan of the blocks, narrowed by `project = ?` and a time range on their
// `(project, ts_max)` or `(ts_max)` index. A scan asked for `ORDER BY ts DESC[, pk DESC]` (every
// newest-first page) delivers that order itself: blocks are read newest ts_max first and their
// rows merged through a heap, a row leaving it only once no unread block can hold a later one,
// so a page of 50 decodes the few newest blocks, not the table. Constraints are never omitted:
// SQLite checks every row again, so a plan may return more rows than match, never fewer.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/internal/request_blocks.h"

namespace ap::telemetry::internal {
namespace {

enum Column {
  kPk,
  kId,
  kSpan,
  kProject,
  kTs,
  kName,
  kUser,
  kSession,
  kEnv,
  kModel,
  kBackend,
  kTeam,
  kKey,
  kStatus,
  kDur,
  kTtft,
  kInTok,
  kOutTok,
  kTotalTok,
  kCachedTok,
  kInCost,
  kOutCost,
  kCost,
  kLevel,
  kStatusMessage,
  kParent,
  kTags,
  kUsageDetails,
  kMetadata,
  kInput,
  kOutput
};

// The same columns and affinities as the `requests` table (migration 6), so the views' halves
// agree and SQLite flattens them.
constexpr const char* kSchema =
    "CREATE TABLE x(pk INTEGER, id, span, project INT, ts INT, name INT, user INT, session INT, "
    "env INT, "
    "model INT, backend INT, team INT, key INT, status INT, dur INT, ttft INT, in_tok INT, out_tok "
    "INT, "
    "total_tok INT, cached_tok INT, in_cost REAL, out_cost REAL, cost REAL, level INT, "
    "status_message TEXT, "
    "parent, tags TEXT, usage_details TEXT, metadata TEXT, input TEXT, output TEXT)";

enum Plan { kByPk = 1, kById = 2, kBySession = 3, kScan = 4 };
enum PlanBits { kProjectArg = 8, kFromArg = 16, kToArg = 32, kDescending = 64 };

struct Row {
  BlockRow b;
  int64_t pk = 0, project = 0;
  std::string status_message, usage_details;
};

// Max-heap order: newest first, then highest pk.
bool Before(const Row& a, const Row& b) {
  return a.b.ts < b.b.ts || (a.b.ts == b.b.ts && a.pk < b.pk);
}

struct VTab {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  sqlite3* db = nullptr;
  sqlite3_stmt* blocks = nullptr;  // the scan's blocks: pk, project, ts_max, data
  bool descending = false;
  bool have_block = false;  // `blocks` stands on a block not yet read
  std::vector<Row> rows;    // buffered rows (heap when descending)
  size_t next = 0;          // next buffered row (not descending)
  Row cur;
  bool eof = true;

  ~Cursor() { sqlite3_finalize(blocks); }

  // Appends block `pk`'s live rows to `rows`; `want` (optional) keeps only those it accepts.
  template <typename Pred>
  void Read(int64_t pk, int64_t project, const void* data, int size, Pred want) {
    BlockReader reader(std::string_view(static_cast<const char*>(data), static_cast<size_t>(size)));
    Row r;
    r.project = project;
    while (reader.Next(&r.b)) {
      if (r.b.Has(BlockRow::kDeleted) || !want(r.b, reader.index())) continue;
      r.pk = BlockRowPk(pk, reader.index());
      r.status_message.assign(r.b.status_message);
      r.usage_details.assign(r.b.usage_details);
      rows.push_back(r);
      if (descending) std::push_heap(rows.begin(), rows.end(), Before);
    }
  }
  void ReadCurrentBlock() {
    Read(sqlite3_column_int64(blocks, 0), sqlite3_column_int64(blocks, 1),
         sqlite3_column_blob(blocks, 3), sqlite3_column_bytes(blocks, 3),
         [](const BlockRow&, int) { return true; });
    have_block = sqlite3_step(blocks) == SQLITE_ROW;
  }
  // Runs `sql` (blocks: pk, project, ts_max?, data at column 3 — or as given) binding `arg`, and
  // reads each block it returns through `want`.
  template <typename Pred>
  int ReadAll(const char* sql, sqlite3_value* arg, Pred want) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_value(s, 1, arg);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
      Read(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_blob(s, 2),
           sqlite3_column_bytes(s, 2), want);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // Moves to the next row: from the buffer, or for a scan from the merge of its blocks.
  int Advance() {
    if (descending) {
      // A row may leave the heap once no unread block can hold a later one (blocks come newest
      // ts_max first; a tie reads the block too, its rows may have higher pks).
      while (have_block && (rows.empty() || sqlite3_column_int64(blocks, 2) >= rows.front().b.ts))
        ReadCurrentBlock();
      if (rows.empty()) {
        eof = true;
        return SQLITE_OK;
      }
      std::pop_heap(rows.begin(), rows.end(), Before);
      cur = std::move(rows.back());
      rows.pop_back();
      eof = false;
      return SQLITE_OK;
    }
    while (next == rows.size() && have_block) {
      rows.clear();
      next = 0;
      ReadCurrentBlock();
    }
    if (next == rows.size()) {
      eof = true;
      return SQLITE_OK;
    }
    cur = std::move(rows[next++]);
    eof = false;
    return SQLITE_OK;
  }
};

int Connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  int rc = sqlite3_declare_vtab(db, kSchema);
  if (rc != SQLITE_OK) return rc;
  auto* t = new VTab;
  t->db = db;
  *out = &t->base;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* v) {
  delete reinterpret_cast<VTab*>(v);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int pk = -1, id = -1, session = -1, project = -1, from = -1, to = -1;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable) continue;
    const bool eq = c.op == SQLITE_INDEX_CONSTRAINT_EQ;
    if (eq && c.iColumn == kPk) pk = i;
    if (eq && c.iColumn == kId) id = i;
    if (eq && c.iColumn == kSession) session = i;
    if (eq && c.iColumn == kProject) project = i;
    if (c.iColumn == kTs &&
        (c.op == SQLITE_INDEX_CONSTRAINT_GE || c.op == SQLITE_INDEX_CONSTRAINT_GT))
      from = i;
    if (c.iColumn == kTs &&
        (c.op == SQLITE_INDEX_CONSTRAINT_LE || c.op == SQLITE_INDEX_CONSTRAINT_LT))
      to = i;
  }
  // Newest first: ORDER BY ts DESC, optionally then pk DESC.
  bool descending =
      info->nOrderBy >= 1 && info->nOrderBy <= 2 && info->aOrderBy[0].iColumn == kTs &&
      info->aOrderBy[0].desc &&
      (info->nOrderBy == 1 || (info->aOrderBy[1].iColumn == kPk && info->aOrderBy[1].desc));
  if (descending) info->orderByConsumed = 1;
  int plan;
  if (pk >= 0 || id >= 0 || session >= 0) {
    const int which = pk >= 0 ? pk : id >= 0 ? id : session;
    plan = pk >= 0 ? kByPk : id >= 0 ? kById : kBySession;
    info->aConstraintUsage[which].argvIndex = 1;
    info->estimatedCost = plan == kByPk ? 2 : plan == kById ? 10 : 200;
    info->estimatedRows = plan == kBySession ? 50 : 1;
  } else {
    plan = kScan;
    double cost = 1e7;
    int arg = 0;
    if (project >= 0) {
      plan |= kProjectArg;
      info->aConstraintUsage[project].argvIndex = ++arg;
      cost /= 4;
    }
    if (from >= 0) {
      plan |= kFromArg;
      info->aConstraintUsage[from].argvIndex = ++arg;
      cost /= 8;
    }
    if (to >= 0) {
      plan |= kToArg;
      info->aConstraintUsage[to].argvIndex = ++arg;
      cost /= 2;
    }
    info->estimatedCost = cost;
    info->estimatedRows = static_cast<sqlite3_int64>(cost);
  }
  if (descending) plan |= kDescending;
  info->idxNum = plan;
  return SQLITE_OK;
}

int Open(sqlite3_vtab* v, sqlite3_vtab_cursor** out) {
  auto* c = new Cursor;
  c->db = reinterpret_cast<VTab*>(v)->db;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) {
  delete reinterpret_cast<Cursor*>(cur);
  return SQLITE_OK;
}

int Filter(sqlite3_vtab_cursor* base, int idx, const char*, int argc, sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(base);
  sqlite3_finalize(c->blocks);
  c->blocks = nullptr;
  c->rows.clear();
  c->next = 0;
  c->have_block = false;
  c->descending = (idx & kDescending) != 0;
  const int plan = idx & 7;
  int rc = SQLITE_OK;
  if (plan == kByPk && argc == 1) {
    const int64_t pk = sqlite3_value_int64(argv[0]);
    if (sqlite3_value_numeric_type(argv[0]) == SQLITE_INTEGER && pk >= kBlockPkBase) {
      const int64_t block = (pk - kBlockPkBase) / kMaxBlockRows;
      const int index = static_cast<int>((pk - kBlockPkBase) % kMaxBlockRows);
      sqlite3_stmt* s = nullptr;
      rc = sqlite3_prepare_v2(c->db, "SELECT project, data FROM request_blocks WHERE pk=?", -1, &s,
                              nullptr);
      if (rc != SQLITE_OK) return rc;
      sqlite3_bind_int64(s, 1, block);
      if (sqlite3_step(s) == SQLITE_ROW)
        c->Read(block, sqlite3_column_int64(s, 0), sqlite3_column_blob(s, 1),
                sqlite3_column_bytes(s, 1), [&](const BlockRow&, int i) { return i == index; });
      sqlite3_finalize(s);
    }
  } else if (plan == kById && argc == 1) {
    if (sqlite3_value_type(argv[0]) == SQLITE_BLOB && sqlite3_value_bytes(argv[0]) == 16) {
      std::string id(static_cast<const char*>(sqlite3_value_blob(argv[0])), 16);
      rc = ForEachBlockWithId(c->db, id,
                              [&](int64_t pk, int64_t project, const void* data, int size) {
                                c->Read(pk, project, data, size,
                                        [&](const BlockRow& r, int) { return r.TraceId() == id; });
                              });
      if (rc != SQLITE_OK) return rc;
    }
  } else if (plan == kBySession && argc == 1) {
    if (sqlite3_value_numeric_type(argv[0]) == SQLITE_INTEGER) {
      const int64_t session = sqlite3_value_int64(argv[0]);
      rc = c->ReadAll(
          "SELECT b.pk, b.project, b.data FROM request_block_sessions s JOIN request_blocks b ON "
          "b.pk=s.block "
          "WHERE s.session=?",
          argv[0], [&](const BlockRow& r, int) { return r.session == session; });
      if (rc != SQLITE_OK) return rc;
    }
  } else if ((plan & 7) == kScan) {
    std::string sql = "SELECT pk, project, ts_max, data FROM request_blocks WHERE 1";
    if (idx & kProjectArg) sql += " AND project=?";
    if (idx & kFromArg) sql += " AND ts_max>=?";
    if (idx & kToArg) sql += " AND ts_max<?+" + std::to_string(kMaxBlockSpanUs) + " AND ts_min<=?";
    if (c->descending) sql += " ORDER BY ts_max DESC";
    rc = sqlite3_prepare_v2(c->db, sql.c_str(), -1, &c->blocks, nullptr);
    if (rc != SQLITE_OK) return rc;
    int arg = 0, param = 0;
    if (idx & kProjectArg) sqlite3_bind_value(c->blocks, ++param, argv[arg++]);
    if (idx & kFromArg) sqlite3_bind_value(c->blocks, ++param, argv[arg++]);
    if (idx & kToArg) {
      sqlite3_bind_value(c->blocks, ++param, argv[arg]);
      sqlite3_bind_value(c->blocks, ++param, argv[arg++]);
    }
    rc = sqlite3_step(c->blocks);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    c->have_block = rc == SQLITE_ROW;
    rc = SQLITE_OK;
  }
  if (plan != kScan &&
      c->descending)  // buffered rows: sort them newest first, popped from the back
    std::make_heap(c->rows.begin(), c->rows.end(), Before);
  return rc == SQLITE_OK ? c->Advance() : rc;
}

int Next(sqlite3_vtab_cursor* base) { return reinterpret_cast<Cursor*>(base)->Advance(); }

int Eof(sqlite3_vtab_cursor* base) { return reinterpret_cast<Cursor*>(base)->eof; }

int ColumnValue(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  const Row& r = reinterpret_cast<Cursor*>(base)->cur;
  const BlockRow& b = r.b;
  auto dim = [&](int64_t v) {
    if (v) sqlite3_result_int64(ctx, v);
  };
  auto blob = [&](const unsigned char* p, int n) {
    sqlite3_result_blob(ctx, p, n, SQLITE_TRANSIENT);
  };
  switch (col) {
    case kPk:
      sqlite3_result_int64(ctx, r.pk);
      break;
    case kId:
      blob(b.trace, b.trace_size);
      break;
    case kSpan:
      blob(b.span, b.span_size);
      break;
    case kProject:
      sqlite3_result_int64(ctx, r.project);
      break;
    case kTs:
      sqlite3_result_int64(ctx, b.ts);
      break;
    case kName:
      dim(b.name);
      break;
    case kUser:
      dim(b.user);
      break;
    case kSession:
      dim(b.session);
      break;
    case kEnv:
      dim(b.env);
      break;
    case kModel:
      dim(b.model);
      break;
    case kBackend:
      dim(b.backend);
      break;
    case kTeam:
      dim(b.team);
      break;
    case kKey:
      dim(b.key);
      break;
    case kStatus:
      sqlite3_result_int64(ctx, b.status);
      break;
    case kDur:
      sqlite3_result_int64(ctx, b.dur);
      break;
    case kTtft:
      if (b.Has(BlockRow::kTtft)) sqlite3_result_int64(ctx, b.ttft);
      break;
    case kInTok:
    case kOutTok:
    case kTotalTok:
      if (b.Has(BlockRow::kUsage))
        sqlite3_result_int64(ctx, col == kInTok    ? b.in_tok
                                  : col == kOutTok ? b.out_tok
                                                   : b.total_tok);
      break;
    case kCachedTok:
      if (b.Has(BlockRow::kCached)) sqlite3_result_int64(ctx, b.cached_tok);
      break;
    case kInCost:
    case kOutCost:
    case kCost:
      if (b.Has(BlockRow::kCost))
        sqlite3_result_double(ctx, col == kInCost    ? b.in_cost
                                   : col == kOutCost ? b.out_cost
                                                     : b.cost);
      break;
    case kLevel:
      if (b.Has(BlockRow::kError)) sqlite3_result_int64(ctx, 3);
      break;
    case kStatusMessage:
      if (b.Has(BlockRow::kStatusMessage))
        sqlite3_result_text(ctx, r.status_message.data(), static_cast<int>(r.status_message.size()),
                            SQLITE_TRANSIENT);
      break;
    case kParent:
      if (b.parent_size) blob(b.parent, b.parent_size);
      break;
    case kUsageDetails:
      if (b.Has(BlockRow::kUsageDetails))
        sqlite3_result_text(ctx, r.usage_details.data(), static_cast<int>(r.usage_details.size()),
                            SQLITE_TRANSIENT);
      break;
    default:
      break;  // tags, metadata, input, output: blocks hold none
  }
  return SQLITE_OK;
}

int RowId(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  *out = reinterpret_cast<Cursor*>(base)->cur.pk;
  return SQLITE_OK;
}

sqlite3_module MakeModule() {
  sqlite3_module m{};  // eponymous and read-only: no xCreate, xDestroy or xUpdate
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = ColumnValue;
  m.xRowid = RowId;
  return m;
}

const sqlite3_module kModule = MakeModule();

}  // namespace

bool RegisterBlockRequests(sqlite3* db) {
  return sqlite3_create_module(db, "block_requests", &kModule, nullptr) == SQLITE_OK;
}

}  // namespace ap::telemetry::internal
