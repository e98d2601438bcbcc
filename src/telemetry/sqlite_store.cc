// telemetry/sqlite_store.cc — opening and migrating the SQLite store, running a batch, retention
// and the pool of read connections (reads are in sqlite_queries.cc).
//
// WriteBatch is one BEGIN IMMEDIATE … COMMIT per batch with cached prepared statements, written
// by an internal::BatchWriter (internal/batch_writer.h): compact gateway requests first (written
// as request blocks, internal/request_blocks.h), then the items, a gateway request's trace and
// generation as one `requests` row (internal/request_rows.h) when IsRequestPair says the row
// holds them exactly. Every connection gets the block_requests virtual table the views read. Any failure rolls the whole batch back and
// forgets the interned ids handed out inside it.
#include "telemetry/sqlite_store.h"

#include <filesystem>

#include "telemetry/internal/batch_writer.h"
#include "telemetry/internal/event_filter.h"
#include "telemetry/internal/minute_rollup.h"
#include "telemetry/internal/request_blocks.h"
#include "telemetry/internal/request_rows.h"
#include "telemetry/internal/sqlite_db.h"
#include "telemetry/internal/sqlite_rows.h"

namespace ap::telemetry {

using internal::Conn;

int SqliteStore::LatestSchemaVersion() { return static_cast<int>(internal::Migrations().size()); }

SqliteStore::SqliteStore(SqliteOptions options)
    : options_(std::move(options)),
      trace_slots_(std::make_unique<TraceSlots>()),
      event_filter_(std::make_unique<internal::EventFilter>()),
      block_scratch_(std::make_unique<internal::BlockScratch>()) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  auto conn = std::make_unique<Conn>();
  std::string error;
  if (auto dir = std::filesystem::path(options.path).parent_path(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  if (!conn->Open(options.path, false, &error)) return "open " + options.path + ": " + error;
  // The writer's page cache holds the hot part of the id indexes (W3C ids are random, so inserts
  // land anywhere in them); mmap makes the remaining misses a memory copy instead of a read().
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
                        "PRAGMA mmap_size=4294967296; PRAGMA cache_size=-" +
                        std::to_string(options.writer_cache_mib * 1024) + "; PRAGMA synchronous=";
  pragmas += options.synchronous_full ? "FULL;" : "NORMAL;";
  if (!conn->Exec(pragmas, &error)) return "configure " + options.path + ": " + error;
  if (!internal::RegisterLatencyBucketFunction(conn->db()) || !internal::RegisterIdFunction(conn->db()) ||
      !internal::RegisterBlockRequests(conn->db()))
    return "configure " + options.path + ": " + conn->LastError();
  int version = 0;
  {
    auto s = conn->Prepare("PRAGMA user_version");
    if (s.Step() == SQLITE_ROW) version = static_cast<int>(s.Int(0));
  }
  const auto& migrations = internal::Migrations();
  if (version > static_cast<int>(migrations.size()))
    return options.path + ": schema version " + std::to_string(version) + " is newer than this binary's " +
           std::to_string(migrations.size());
  for (size_t i = version; i < migrations.size(); ++i) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + migrations[i] + ";PRAGMA user_version=" +
                      std::to_string(i + 1) + ";COMMIT;";
    if (!conn->Exec(sql, &error)) {
      conn->Exec("ROLLBACK", nullptr);
      return "migration " + std::to_string(i + 1) + ": " + error;
    }
  }
  if (!store->event_filter_->Load(*conn)) return "read event ids: " + conn->LastError();
  store->writer_ = std::move(conn);
  return store;
}

Result<void> SqliteStore::WriteBatch(ItemGroups groups, std::span<const GatewayRequest> requests) {
  std::lock_guard lock(write_mu_);
  Conn& c = *writer_;
  std::string error;
  if (!c.Exec("BEGIN IMMEDIATE", &error)) return "begin: " + error;
  internal::BatchWriter batch(c, pricer_, *trace_slots_, *event_filter_, *block_scratch_);
  bool ok = true;
  for (size_t i = 0; ok && i < requests.size(); ++i) ok = batch.ApplyGatewayRequest(requests[i]);
  for (auto group = groups.begin(); ok && group != groups.end(); ++group)
    for (size_t i = 0; ok && i < group->size(); ++i) {
      const Item& item = (*group)[i];
      if (i + 1 < group->size() && internal::IsRequestPair(item, (*group)[i + 1])) {
        ok = batch.ApplyRequest(std::get<Trace>(item.body), std::get<Observation>((*group)[++i].body));
      } else {
        ok = batch.Apply(item);
      }
    }
  if (ok) ok = batch.Finish();
  if (ok && c.Exec("COMMIT", &error)) return {};
  if (error.empty()) error = c.LastError();
  c.Exec("ROLLBACK", nullptr);
  c.ForgetInterned();
  return "write: " + error;
}

Result<int64_t> SqliteStore::DeleteOlderThan(int64_t cutoff_us) {
  std::lock_guard lock(write_mu_);
  Conn& c = *writer_;
  std::string error;
  // The rollup is kept per whole day, so retention works on whole days too.
  int64_t cutoff_day = DayOf(cutoff_us);
  int64_t cutoff = cutoff_day * 86'400'000'000;
  if (!c.Exec("BEGIN IMMEDIATE", &error)) return "begin: " + error;
  auto run = [&](const char* sql) {
    auto s = c.Prepare(sql);
    s.Bind(1, cutoff);
    return s.Step() == SQLITE_DONE;
  };
  int64_t deleted = 0;
  bool ok = run("DELETE FROM observations WHERE trace IN (SELECT pk FROM traces WHERE ts < ?)") &&
            run("DELETE FROM scores WHERE ts < ?");
  for (const char* table : {"traces", "requests"}) {
    if (!ok) break;
    ok = run((std::string("DELETE FROM ") + table + " WHERE ts < ?").c_str());
    deleted += sqlite3_changes(c.db());
  }
  if (ok) {
    auto r = DeleteBlocksBefore(c, cutoff);
    ok = r.has_value();
    if (ok) deleted += *r;
  }
  ok = ok && run("DELETE FROM events WHERE ts < ?");
  if (ok) {
    auto s = c.Prepare("DELETE FROM usage_daily WHERE day < ?");
    s.Bind(1, cutoff_day);
    ok = s.Step() == SQLITE_DONE;
  }
  for (const char* table : {"usage_minute", "latency_minute"}) {
    if (!ok) break;
    auto s = c.Prepare(std::string("DELETE FROM ") + table + " WHERE minute < ?");
    s.Bind(1, cutoff / 60'000'000);
    ok = s.Step() == SQLITE_DONE;
  }
  if (ok && c.Exec("COMMIT", &error)) return deleted;
  if (error.empty()) error = c.LastError();
  c.Exec("ROLLBACK", nullptr);
  return "retention: " + error;
}

// Retention for request blocks: every block whose newest request is older than `cutoff` (a day
// boundary; a block never spans two days), with its entries in the id and session indexes, read
// from the block itself. Returns the requests deleted.
std::optional<int64_t> SqliteStore::DeleteBlocksBefore(internal::Conn& c, int64_t cutoff) {
  std::vector<std::pair<int64_t, std::string>> blocks;
  int64_t deleted = 0;
  {
    auto s = c.Prepare("SELECT pk, n, data FROM request_blocks WHERE ts_max < ?");
    s.Bind(1, cutoff);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      deleted += s.Int(1);
      blocks.emplace_back(s.Int(0), std::string(static_cast<const char*>(sqlite3_column_blob(s.raw(), 2)),
                                                static_cast<size_t>(sqlite3_column_bytes(s.raw(), 2))));
    }
    if (rc != SQLITE_DONE) return std::nullopt;
  }
  for (const auto& [pk, data] : blocks) {
    internal::BlockReader reader(data);
    internal::BlockRow r;
    while (reader.Next(&r)) {
      auto s = c.Prepare("DELETE FROM request_block_ids WHERE k=? AND block=?");
      s.Bind(1, internal::BlockIdKey(r.TraceId()));
      s.Bind(2, pk);
      if (s.Step() != SQLITE_DONE) return std::nullopt;
      if (r.session) {
        auto t = c.Prepare("DELETE FROM request_block_sessions WHERE session=? AND block=?");
        t.Bind(1, r.session);
        t.Bind(2, pk);
        if (t.Step() != SQLITE_DONE) return std::nullopt;
      }
    }
    auto s = c.Prepare("DELETE FROM request_blocks WHERE pk=?");
    s.Bind(1, pk);
    if (s.Step() != SQLITE_DONE) return std::nullopt;
  }
  return deleted;
}

Result<std::unique_ptr<internal::Conn>> SqliteStore::TakeReader() {
  {
    std::lock_guard lock(read_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Conn>();
  std::string error;
  if (!c->Open(options_.path, true, &error)) return "open for reading: " + error;
  if (!internal::RegisterBlockRequests(c->db())) return "open for reading: " + c->LastError();
  c->Exec("PRAGMA mmap_size=4294967296; PRAGMA cache_size=-16384;", nullptr);
  return c;
}

void SqliteStore::ReturnReader(std::unique_ptr<internal::Conn> conn) {
  std::lock_guard lock(read_mu_);
  if (static_cast<int>(readers_.size()) < options_.read_connections) readers_.push_back(std::move(conn));
}

}  // namespace ap::telemetry
