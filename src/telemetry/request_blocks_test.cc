// telemetry/request_blocks_test.cc — the SQLite store's request blocks
// (internal/request_blocks.h): the encoding's round trip and bounds, and the store's behaviour
// where blocks differ from rows — cutting (project, day, span, size), time-ordered reads merged
// across overlapping blocks, lookups by an id that does and does not say its time, a request
// moved out of its block by a later write, retention and the migration from schema 7. The
// conformance suite (compact form) covers every query on top.
#include "telemetry/internal/request_blocks.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "base/random.h"
#include "telemetry/internal/sqlite_rows.h"
#include "telemetry/sink.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/sqlite_test_support.h"

namespace ap::telemetry {
namespace {

using internal::BlockReader;
using internal::BlockRow;

constexpr int64_t kT0 = 1'714'564'800'000'000;  // 2024-05-01T12:00:00Z
constexpr int64_t kDay = 86'400'000'000;

using testing::Scalar;
using testing::TempDb;

BlockRow Row(int i) {
  BlockRow r;
  r.trace_size = 16;
  for (int b = 0; b < 16; ++b) r.trace[b] = static_cast<unsigned char>(i * 7 + b);
  r.span_size = 8;
  for (int b = 0; b < 8; ++b) r.span[b] = static_cast<unsigned char>(i + b);
  r.ts = kT0 + i * 1000;
  r.name = 1;
  r.user = i % 3;
  r.session = i % 4 ? 100 + i : 0;
  r.status = 200;
  r.dur = 5000 + i;
  return r;
}

bool Same(const BlockRow& a, const BlockRow& b) {
  return a.flags == b.flags && a.TraceId() == b.TraceId() &&
         std::string_view(reinterpret_cast<const char*>(a.span), a.span_size) ==
             std::string_view(reinterpret_cast<const char*>(b.span), b.span_size) &&
         std::string_view(reinterpret_cast<const char*>(a.parent), a.parent_size) ==
             std::string_view(reinterpret_cast<const char*>(b.parent), b.parent_size) &&
         a.ts == b.ts && a.name == b.name && a.user == b.user && a.session == b.session &&
         a.env == b.env && a.model == b.model && a.backend == b.backend && a.team == b.team &&
         a.key == b.key && a.status == b.status && a.dur == b.dur && a.ttft == b.ttft &&
         a.in_tok == b.in_tok && a.out_tok == b.out_tok && a.total_tok == b.total_tok &&
         a.cached_tok == b.cached_tok && a.in_cost == b.in_cost && a.out_cost == b.out_cost &&
         a.cost == b.cost && a.status_message == b.status_message &&
         a.usage_details == b.usage_details;
}

TEST(RequestBlocks, IdsWithABinaryFormDecodeToBlobsAndOthersStayText) {
  using internal::Blob;
  using internal::IdBlob;
  Blob b;
  ASSERT_TRUE(IdBlob("0af7651916cd43dd8448eb211c80319c", &b));
  EXPECT_EQ(b.size, 16);
  EXPECT_EQ(b.bytes[0], 0x0a);
  EXPECT_EQ(b.bytes[15], 0x9c);
  ASSERT_TRUE(IdBlob("b7ad6b7169203331", &b));
  EXPECT_EQ(b.size, 8);
  ASSERT_TRUE(IdBlob("123e4567-e89b-12d3-a456-426614174000", &b));
  EXPECT_EQ(b.size, 17);  // 16 bytes and the UUID marker
  for (const char* text : {"0AF7651916CD43DD8448EB211C80319C", "0af7651916cd43dd8448eb211c80319g", "b7ad6b716920333",
                           "123e4567-e89b-12d3-a456-42661417400z", "123e4567xe89b-12d3-a456-426614174000",
                           "123e4567-e89b-12d3-a456-4266141740000", "trace-1", ""}) {
    b.size = 9;
    EXPECT_FALSE(IdBlob(text, &b)) << text;
    EXPECT_EQ(b.size, 0) << text;
    EXPECT_TRUE(std::holds_alternative<std::string>(internal::IdValue(text))) << text;
  }
}

TEST(RequestBlocks, EncodingRoundTripsEveryFieldAndItsBounds) {
  std::vector<BlockRow> rows;
  for (int i = 0; i < internal::kMaxBlockRows; ++i) rows.push_back(Row(i));
  // Every optional field, extremes, a negative duration and offsets, empty and long text.
  BlockRow& full = rows[1];
  full.flags = BlockRow::kTtft | BlockRow::kUsage | BlockRow::kCached | BlockRow::kCost |
               BlockRow::kError | BlockRow::kStatusMessage | BlockRow::kUsageDetails;
  full.parent_size = 8;
  for (int b = 0; b < 8; ++b) full.parent[b] = static_cast<unsigned char>(0xf0 + b);
  full.ttft = -5;
  full.in_tok = std::numeric_limits<int64_t>::max();
  full.out_tok = std::numeric_limits<int64_t>::min();
  full.total_tok = 0;
  full.cached_tok = 3;
  full.in_cost = 1e-9;
  full.out_cost = -0.0;
  full.cost = 123456.789;
  full.key = std::numeric_limits<int64_t>::max();
  std::string message(300, 'x');
  full.status_message = message;
  full.usage_details = "";
  rows[2].ts = std::numeric_limits<int64_t>::min() / 4;  // the base is the smallest time
  rows[3].dur = -7;
  rows[4].span_size = 17;  // a UUID-form span id
  for (int b = 0; b < 17; ++b) rows[4].span[b] = static_cast<unsigned char>(b);

  std::string buffer = "left over from an earlier block";
  const std::string bytes(internal::EncodeBlock(rows.data(), rows.size(), &buffer));
  // A second encoding into the same (now larger) buffer gives the same bytes.
  EXPECT_EQ(internal::EncodeBlock(rows.data(), rows.size(), &buffer), bytes);
  BlockReader reader(bytes);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader.count(), internal::kMaxBlockRows);
  BlockRow got;
  size_t flags_at = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_TRUE(reader.Next(&got, &flags_at)) << i;
    EXPECT_TRUE(Same(got, rows[i])) << i;
    EXPECT_EQ(reader.index(), static_cast<int>(i));
    EXPECT_EQ(static_cast<uint8_t>(bytes[flags_at]), rows[i].flags) << i;
  }
  EXPECT_FALSE(reader.Next(&got));

  // Truncated anywhere: rows before the cut read back, then the reader stops.
  for (size_t cut = 0; cut < 400; cut += 7) {
    BlockReader r(std::string_view(bytes).substr(0, cut));
    int n = 0;
    while (r.Next(&got)) ++n;
    EXPECT_LT(n, internal::kMaxBlockRows) << cut;
  }
  // A header that claims more rows than a block may hold is refused.
  std::string scratch;
  BlockRow one = Row(0);
  std::string big(internal::EncodeBlock(&one, 1, &scratch));
  big[1] = static_cast<char>(0x81);  // count 257 as a varint needs two bytes: 0x81 0x02
  big.insert(2, 1, '\x02');
  EXPECT_FALSE(BlockReader(big).ok());
  // An empty block.
  std::string empty_scratch;
  const std::string_view empty = internal::EncodeBlock(nullptr, 0, &empty_scratch);
  BlockReader e(empty);
  EXPECT_TRUE(e.ok());
  EXPECT_FALSE(e.Next(&got));
}

gateway::CompletionRecord Record(int i, int64_t start_us, const std::string& project = "p") {
  gateway::CompletionRecord r;
  r.path = "/v1/chat/completions";
  r.model = i % 2 ? "m2" : "m1";
  r.backend = "b";
  r.user = "u" + std::to_string(i % 3);
  if (i % 5) r.session_id = "s" + std::to_string(i % 5);
  r.project = project;
  r.trace_id = TimeOrderedHexId(start_us / 1000);
  r.trace_minted = true;
  r.span_id = RandomHexId(8);
  r.status = i % 7 == 6 ? 502 : 200;
  if (r.status != 200) r.error = "upstream failed";
  r.start = std::chrono::system_clock::time_point(std::chrono::microseconds(start_us));
  r.first_byte = std::chrono::microseconds(1000 + i);
  r.duration = std::chrono::microseconds(5000 + i);
  r.usage = {10 + i, 2 + i, 12 + 2 * i, 0, true};
  return r;
}

// Writes `records` as compact requests in one batch; returns their trace ids.
std::vector<std::string> WriteCompact(SqliteStore& store,
                                      const std::vector<gateway::CompletionRecord>& records) {
  SinkOptions options;
  options.project = "p";
  GatewaySink sink(nullptr, nullptr, nullptr, options);
  std::vector<GatewayRequest> compact(records.size());
  std::vector<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_TRUE(sink.ToRequest(records[i], Cost{0.001, 0.002, 0.003, "price_table"}, &compact[i]))
        << i;
    ids.push_back(records[i].trace_id);
  }
  auto r = store.WriteBatch({}, compact);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return ids;
}

std::unique_ptr<SqliteStore> Open(const std::string& path) {
  auto s = SqliteStore::Open({path});
  EXPECT_TRUE(s) << (s ? "" : s.error());
  return s ? std::move(*s) : nullptr;
}

// Three batches whose times interleave (the blocks' time ranges overlap), one of them across a
// day boundary and with more rows than a block holds: every request reads back, newest first
// through cursor pages, by id and with its generation.
TEST(RequestBlocks, OverlappingBlocksReadBackInTimeOrderAndById) {
  std::string path = TempDb("blocks_order");
  auto store = Open(path);
  ASSERT_TRUE(store);
  std::vector<std::pair<int64_t, std::string>> want;  // (ts, id)
  const int64_t midnight = (kT0 / kDay + 1) * kDay;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<gateway::CompletionRecord> records;
    const int n = batch == 1 ? 600 : 40;
    for (int i = 0; i < n; ++i) {
      int64_t ts = batch == 1 ? midnight - 300'000 + i * 1000 : kT0 + (i * 3 + batch) * 1'000'000;
      records.push_back(Record(i, ts));
      want.emplace_back(ts, records.back().trace_id);
    }
    WriteCompact(*store, records);
  }
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM requests"), "0");
  EXPECT_EQ(Scalar(path, "SELECT sum(n) FROM request_blocks"), "680");
  EXPECT_EQ(Scalar(path, "SELECT max(n) FROM request_blocks"),
            std::to_string(internal::kMaxBlockRows));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM request_blocks WHERE ts_max - ts_min > " +
                             std::to_string(internal::kMaxBlockSpanUs)),
            "0");
  EXPECT_EQ(
      Scalar(path,
             "SELECT count(*) FROM request_blocks WHERE ts_min/86400000000 <> ts_max/86400000000"),
      "0");
  // Minted ids say their time: none needs the id index.
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM request_block_ids"), "0");

  std::sort(want.begin(), want.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::pair<int64_t, std::string>> got;
  TraceQuery q;
  q.project = "p";
  q.limit = 57;
  for (int page = 0; page < 20; ++page) {
    auto r = store->ListTraces(q);
    ASSERT_TRUE(r) << r.error();
    if (page == 0) EXPECT_EQ(r->total, 680);
    for (const auto& t : r->items) {
      got.emplace_back(t.trace.timestamp_us, t.trace.id);
      EXPECT_EQ(t.observation_count, 1);
    }
    if (r->next_cursor.empty()) break;
    q.cursor = r->next_cursor;
  }
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].first, want[i].first) << i;
  std::set<std::string> ids;
  for (const auto& g : got) ids.insert(g.second);
  EXPECT_EQ(ids.size(), want.size());

  // A time window: exactly the requests inside it.
  TraceQuery window;
  window.project = "p";
  window.from_us = kT0 + 10'000'000;
  window.to_us = kT0 + 20'000'000;
  window.limit = 1000;
  auto w = store->ListTraces(window);
  ASSERT_TRUE(w);
  const auto inside = std::count_if(want.begin(), want.end(), [&](const auto& x) {
    return x.first >= window.from_us && x.first < window.to_us;
  });
  EXPECT_EQ(w->total, inside);
  EXPECT_EQ(static_cast<int64_t>(w->items.size()), inside);

  for (size_t i = 0; i < want.size(); i += 37) {
    auto t = store->GetTrace("p", want[i].second);
    ASSERT_TRUE(t && *t) << i;
    EXPECT_EQ((*t)->timestamp_us, want[i].first);
    ObservationQuery oq;
    oq.project = "p";
    oq.trace_id = want[i].second;
    auto obs = store->ListObservations(oq);
    ASSERT_TRUE(obs);
    ASSERT_EQ(obs->items.size(), 1u);
    EXPECT_EQ(obs->items[0].trace_id, want[i].second);
    EXPECT_EQ(obs->items[0].start_us, want[i].first);
  }
  auto other = store->GetTrace("other-project", want[0].second);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
  auto stats = store->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->traces, 680);
  EXPECT_EQ(stats->observations, 680);
}

// Newest-first pages read the newest blocks, not all of them: the virtual table takes the views'
// ORDER BY itself (the block arm comes first in each view for that; see migration 8), so no arm
// of the merge sorts.
TEST(RequestBlocks, NewestFirstPagesAreMergedNotSorted) {
  std::string path = TempDb("blocks_plan");
  { ASSERT_TRUE(Open(path)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(internal::RegisterBlockRequests(db));
  // The read path's own column lists (sqlite_queries.cc).
  const std::string traces =
      std::string("SELECT ") + internal::kTraceColumns + " FROM trace_rows t";
  const std::string observations = std::string("SELECT ") + internal::kObservationColumns +
                                   ",o.trace_id FROM observation_rows o";
  for (const std::string& sql :
       {traces + " ORDER BY t.ts DESC, t.pk DESC LIMIT 51",
        traces + " WHERE t.project=1 ORDER BY t.ts DESC, t.pk DESC LIMIT 51",
        traces + " WHERE t.project=1 AND t.ts>=1 AND t.ts<2 ORDER BY t.ts DESC, t.pk DESC LIMIT 51",
        observations + " WHERE o.project=1 ORDER BY o.start DESC, o.pk DESC LIMIT 50"}) {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW)
      plan += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "\n";
    sqlite3_finalize(st);
    // The line after the block arm's scan would say "USE TEMP B-TREE FOR ORDER BY" if it sorted
    // (observations, which have no time index, are sorted in their own arm as before).
    const size_t scan = plan.find("SCAN block_requests");
    ASSERT_NE(scan, std::string::npos) << sql << "\n" << plan;
    const size_t next = plan.find('\n', scan) + 1;
    EXPECT_EQ(plan.substr(next, plan.find('\n', next) - next).find("TEMP B-TREE"),
              std::string::npos)
        << sql << "\n"
        << plan;
  }
  sqlite3_close(db);
}

// A trace id that does not say the request's time (the caller's id in a compact record, or a
// clock step between minting and start) goes through the narrow id index and is found by it.
TEST(RequestBlocks, AnIdThatDoesNotSayItsTimeIsIndexed) {
  std::string path = TempDb("blocks_ids");
  auto store = Open(path);
  ASSERT_TRUE(store);
  auto r = Record(1, kT0);
  r.trace_id = "0123456789abcdef0123456789abcdef";
  auto late = Record(2, kT0 + 5'000);
  late.trace_id = TimeOrderedHexId(kT0 / 1000 - 60'000);  // a minute before its start
  WriteCompact(*store, {r, late});
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM request_block_ids"), "2");
  for (const auto& id : {r.trace_id, late.trace_id}) {
    auto t = store->GetTrace("p", id);
    ASSERT_TRUE(t && *t) << id;
    EXPECT_EQ((*t)->id, id);
  }
  auto missing = store->GetTrace("p", TimeOrderedHexId(kT0 / 1000));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

// A later write that names a request's trace moves the request out of its block into traces
// and observations (the block's other rows keep their pks); reads show it once, with both
// observations, and the rollup counts it once.
TEST(RequestBlocks, ALaterWriteMovesTheRequestOutOfItsBlock) {
  std::string path = TempDb("blocks_expand");
  auto store = Open(path);
  ASSERT_TRUE(store);
  std::vector<gateway::CompletionRecord> records;
  for (int i = 0; i < 5; ++i) records.push_back(Record(i, kT0 + i * 1000));
  auto ids = WriteCompact(*store, records);
  TraceQuery all;
  all.project = "p";
  auto before = store->ListTraces(all);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->items.size(), 5u);

  Observation span;
  span.id = "sdk-span-1";
  span.trace_id = ids[2];
  span.project = "p";
  span.type = ObservationType::kSpan;
  span.start_us = kT0 + 2500;
  span.end_us = kT0 + 3000;
  ASSERT_TRUE(store->Write(std::vector<Item>{Item{"", false, span}}));

  EXPECT_EQ(Scalar(path, "SELECT sum(n) FROM request_blocks"), "4");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM traces"), "1");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM observations"), "2");
  auto after = store->ListTraces(all);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->items.size(), 5u);
  EXPECT_EQ(after->total, 5);  // the count skips the moved row (rows only, no decoding)
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(after->items[i].trace.id, before->items[i].trace.id);
    EXPECT_EQ(after->items[i].observation_count, after->items[i].trace.id == ids[2] ? 2 : 1);
  }
  auto t = store->GetTrace("p", ids[2]);
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->user_id, records[2].user);
  EXPECT_EQ((*t)->session_id,
            records[2].session_id.empty() ? std::nullopt : std::optional(records[2].session_id));
  ObservationQuery oq;
  oq.project = "p";
  oq.trace_id = ids[2];
  auto obs = store->ListObservations(oq);
  ASSERT_TRUE(obs);
  ASSERT_EQ(obs->items.size(), 2u);
  const Observation& g = obs->items[0];
  EXPECT_EQ(g.type, ObservationType::kGeneration);
  EXPECT_EQ(g.id, records[2].span_id);
  EXPECT_EQ(g.status_code, 200);
  EXPECT_EQ(g.input_tokens, 12);
  EXPECT_EQ(g.total_cost, 0.003);
  EXPECT_EQ(g.end_us, kT0 + 2000 + 5002);
  // A second write to the same trace finds it in traces now.
  span.id = "sdk-span-2";
  ASSERT_TRUE(store->Write(std::vector<Item>{Item{"", false, span}}));
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM traces"), "1");
  EXPECT_EQ(Scalar(path, "SELECT sum(n) FROM request_blocks"), "4");
  UsageQuery u;
  u.project = "p";
  auto usage = store->AggregateUsage(u);
  ASSERT_TRUE(usage);
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].generations, 5);
}

// Retention deletes whole blocks older than the cutoff day with their index entries; a block
// never holds two days, so nothing of the newer day goes and nothing of the older stays.
TEST(RequestBlocks, RetentionDeletesOldBlocksAndTheirIndexEntries) {
  std::string path = TempDb("blocks_retention");
  auto store = Open(path);
  ASSERT_TRUE(store);
  std::vector<gateway::CompletionRecord> records;
  const int64_t midnight = (kT0 / kDay + 1) * kDay;
  for (int i = 0; i < 20; ++i) records.push_back(Record(i, midnight - 10'000'000 + i * 1'000'000));
  records[3].trace_id = "0123456789abcdef0123456789abcdef";  // indexed by id
  records[15].trace_id = "1123456789abcdef0123456789abcdef";
  auto ids = WriteCompact(*store, records);
  ASSERT_NE(Scalar(path, "SELECT count(*) FROM request_block_sessions"), "0");
  auto deleted = store->DeleteOlderThan(midnight);
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(*deleted, 10);
  EXPECT_EQ(Scalar(path, "SELECT sum(n) FROM request_blocks"), "10");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM request_blocks WHERE ts_min < " +
                             std::to_string(midnight)),
            "0");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM request_block_ids"), "1");
  EXPECT_EQ(Scalar(path,
                   "SELECT count(*) FROM request_block_sessions s LEFT JOIN request_blocks b ON "
                   "b.pk=s.block WHERE b.pk IS NULL"),
            "0");
  for (int i = 0; i < 20; ++i) {
    auto t = store->GetTrace("p", ids[i]);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->has_value(), i >= 10) << i;
  }
}

// A store at schema 7 (gateway requests as `requests` rows) upgrades in place: its rows stay
// and read back with the blocks written after the upgrade.
TEST(RequestBlocks, MigrationFromSchema7KeepsRequestRows) {
  std::string path = TempDb("blocks_migrate");
  std::vector<gateway::CompletionRecord> old_records;
  for (int i = 0; i < 3; ++i) old_records.push_back(Record(i, kT0 + i * 1000));
  {
    auto store = Open(path);
    ASSERT_TRUE(store);
    SinkOptions options;
    options.project = "p";
    GatewaySink sink(nullptr, nullptr, nullptr, options);
    std::vector<Item> items;
    for (const auto& r : old_records)
      for (auto& item : sink.ToItems(r, Cost{0.001, 0.002, 0.003, "price_table"}))
        items.push_back(std::move(item));
    ASSERT_TRUE(store->Write(items));  // items: request rows
  }
  ASSERT_EQ(Scalar(path, "SELECT count(*) FROM requests"), "3");
  // Back to schema 7: no event columns (9), no block tables (8), migration 6's views.
  std::string m6 = internal::Migrations()[5];
  std::string views = m6.substr(m6.find("CREATE VIEW trace_rows"));
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(
      sqlite3_exec(db,
                   ("DROP VIEW trace_rows; DROP VIEW observation_rows; "  // they name the virtual table
                    "ALTER TABLE traces DROP COLUMN event; ALTER TABLE observations DROP COLUMN event; "
                    "ALTER TABLE observations DROP COLUMN events; "  // migration 9
                    "DROP TABLE request_blocks; "
                    "DROP TABLE request_block_ids; DROP TABLE request_block_sessions;" +
                    views + "PRAGMA user_version=7;")
                       .c_str(),
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = Open(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(Scalar(path, "PRAGMA user_version"),
            std::to_string(SqliteStore::LatestSchemaVersion()));
  auto new_ids = WriteCompact(*store, {Record(3, kT0 + 3000), Record(4, kT0 + 4000)});
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM requests"), "3");
  EXPECT_EQ(Scalar(path, "SELECT sum(n) FROM request_blocks"), "2");
  TraceQuery q;
  q.project = "p";
  auto page = store->ListTraces(q);
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items[0].trace.id, new_ids[1]);
  EXPECT_EQ(page->items[1].trace.id, new_ids[0]);
  EXPECT_EQ(page->items[4].trace.id, old_records[0].trace_id);
  for (const auto& t : page->items) EXPECT_EQ(t.observation_count, 1);
}

}  // namespace
}  // namespace ap::telemetry
