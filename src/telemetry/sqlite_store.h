// telemetry/sqlite_store.h — the embedded default store: one SQLite database in WAL mode.
//
// One write connection (used by the writer thread; Write() serialises on it) and a small pool of
// read connections, so queries never wait for a batch commit. Rows are compact: dimension strings
// (model, user, session, team, key, names) are interned into one dictionary table, W3C hex ids
// are stored as blobs, end and first-token times as offsets from the start, and payload columns
// are NULL when nothing was captured. A daily rollup (usage_daily) is maintained inside the same
// transaction as the generations it sums, so cost aggregates never scan the raw rows.
// Schema changes are numbered migrations applied on Open (PRAGMA user_version).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "telemetry/store.h"

namespace ap::telemetry {

namespace internal {
class Conn;
class EventFilter;
struct BlockScratch;
}

struct SqliteOptions {
  std::string path;           // the database file (created when missing)
  bool synchronous_full = false;  // NORMAL survives process crashes (kill -9); FULL also power loss
  int read_connections = 4;
  int writer_cache_mib = 256;  // page cache of the write connection
};

class SqliteStore : public Store {
 public:
  // Opens (creating and migrating) the database.
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  Result<void> WriteGroups(ItemGroups groups) override { return WriteBatch(groups, {}); }
  // Compact gateway requests become request rows without building items (internal/request_rows.h).
  Result<void> WriteBatch(ItemGroups groups, std::span<const GatewayRequest> requests) override;
  Result<std::optional<Trace>> GetTrace(const std::string& project, const std::string& id) override;
  Result<Page<TraceSummary>> ListTraces(const TraceQuery& query) override;
  Result<Page<Observation>> ListObservations(const ObservationQuery& query) override;
  Result<std::vector<Score>> ListScores(const std::string& project, const std::string& trace_id) override;
  Result<Page<Score>> QueryScores(const ScoreQuery& query) override;
  Result<Page<SessionSummary>> ListSessions(const SessionQuery& query) override;
  Result<std::optional<SessionSummary>> GetSession(const std::string& project, const std::string& id) override;
  Result<std::vector<UsageRow>> AggregateUsage(const UsageQuery& query) override;
  Result<std::vector<TimeBucket>> TimeSeries(const TimeSeriesQuery& query) override;
  Result<int64_t> DeleteOlderThan(int64_t cutoff_us) override;
  Result<StoreStats> Stats() override;

  static int LatestSchemaVersion();

  struct TraceSlots;  // the writer's recently written traces (defined in internal/batch_writer.h)

 private:
  explicit SqliteStore(SqliteOptions options);
  // A read connection for the duration of one query.
  class Reader;
  Result<std::unique_ptr<internal::Conn>> TakeReader();
  void ReturnReader(std::unique_ptr<internal::Conn> conn);
  // Retention's part for request blocks (sqlite_store.cc); the requests deleted, nullopt on error.
  static std::optional<int64_t> DeleteBlocksBefore(internal::Conn& c, int64_t cutoff);

  SqliteOptions options_;
  std::mutex write_mu_;
  std::unique_ptr<internal::Conn> writer_;
  std::unique_ptr<TraceSlots> trace_slots_;
  std::unique_ptr<internal::EventFilter> event_filter_;  // the ids in `events` (event_filter.h)
  std::unique_ptr<internal::BlockScratch> block_scratch_;  // the writer's block buffers (batch_writer.h)
  std::mutex read_mu_;
  std::vector<std::unique_ptr<internal::Conn>> readers_;
};

}  // namespace ap::telemetry
