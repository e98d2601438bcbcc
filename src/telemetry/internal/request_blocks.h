// telemetry/internal/request_blocks.h — the SQLite store's block form of gateway requests: the
// compact requests of one commit, one project and one minute-wide time window encoded into one
// `request_blocks` row (schema migration 8 in sqlite_rows.cc), read back through the eponymous
// virtual table `block_requests` (request_blocks_vtab.cc) that the views `trace_rows` and
// `observation_rows` union with traces, observations and `requests`.
//
// Why: as a `requests` row a gateway request cost the writer one 31-column row and three index
// entries (~14.5k instructions of SQLite work, more than half the writer's cost per request). In
// a block it costs its encoded bytes (~80) and one entry in a narrow id index (`request_block_ids`,
// first 8 bytes of its trace id → block) only when its id does not say its time; a minted id
// starts with the request's start in milliseconds, so it is found through the blocks' time index
// instead (ForEachBlockWithId). Sessions are indexed once per block and session
// (`request_block_sessions`), time once per block (`(ts_max, ts_min)` and `(project, ts_max)`).
//
// Encoding (row-wise, so a lookup by pk decodes one block's rows up to its own): a header of
// varints (format, row count, base time), then per row a flags byte, the three ids (length byte +
// bytes; parent length 0 = none), varints (zigzag time − base, the eight dictionary ids with 0 =
// absent, zigzag status, duration, first-token offset, tokens), raw doubles for the costs and
// length-prefixed text for the status message and usage details. A request moved out of a block
// (a later write names its trace) is marked deleted in place: the other rows keep their pks.
//
// A block holds at most kMaxBlockRows rows of one project, one UTC day (retention deletes whole
// blocks older than a day boundary) and times within kMaxBlockSpanUs of its first (a time filter
// reads blocks whose ts_max lies in [from, to + kMaxBlockSpanUs)).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ap::telemetry::internal {

inline constexpr int kMaxBlockRows = 256;
inline constexpr int64_t kMaxBlockSpanUs = 60'000'000;
// Block rows' pks: kBlockPkBase + block pk × kMaxBlockRows + index in the block; above
// request rows' (kRequestPkBase, 2^40) and traces'.
inline constexpr int64_t kBlockPkBase = int64_t{1} << 52;

inline int64_t BlockRowPk(int64_t block, int index) {
  return kBlockPkBase + block * kMaxBlockRows + index;
}

// One request as a block holds it. Ids are binary (IdValue's blobs: 16-byte trace, 8- or
// 16-byte span and parent); dictionary ids are 0 when absent.
struct BlockRow {
  enum Flag : uint8_t {
    kDeleted = 1,
    kTtft = 2,
    kUsage = 4,   // in/out/total tokens set
    kCached = 8,  // cached tokens set
    kCost = 16,   // the three costs set
    kError = 32,  // level ERROR
    kStatusMessage = 64,
    kUsageDetails = 128,
  };
  uint8_t flags = 0;
  uint8_t trace_size = 0, span_size = 0, parent_size = 0;
  unsigned char trace[17], span[17], parent[17];
  int64_t ts = 0, name = 0, user = 0, session = 0, env = 0, model = 0, backend = 0, team = 0,
          key = 0;
  int64_t status = 0, dur = 0, ttft = 0;
  int64_t in_tok = 0, out_tok = 0, total_tok = 0, cached_tok = 0;
  double in_cost = 0, out_cost = 0, cost = 0;
  std::string_view status_message, usage_details;  // into the encoded block

  bool Has(Flag f) const { return (flags & f) != 0; }
  std::string_view TraceId() const { return {reinterpret_cast<const char*>(trace), trace_size}; }
};

// Encodes `rows` (at most kMaxBlockRows, none deleted) into `buffer` and returns the encoding, a
// view of its first bytes. The buffer is scratch: it only ever grows and is never cleared, so a
// writer reusing one does not zero a worst-case row's bytes anew for every row of every block.
std::string_view EncodeBlock(const BlockRow* rows, size_t n, std::string* buffer);

// Reads an encoded block row by row. Views returned by Next point into the block's bytes.
class BlockReader {
 public:
  explicit BlockReader(std::string_view block);
  bool ok() const { return ok_; }
  int count() const { return count_; }
  // The next row (false at the end or on malformed bytes); `flags_offset` (optional) receives
  // the offset of its flags byte in the block, for marking it deleted.
  bool Next(BlockRow* row, size_t* flags_offset = nullptr);
  int index() const { return index_; }  // the index of the row Next returned last

 private:
  std::string_view data_;
  size_t pos_ = 0;
  int count_ = 0, index_ = -1;
  int64_t base_ = 0;
  bool ok_ = false;
};

// A minted trace id starts with its request's start in Unix milliseconds (TimeOrderedHexId). A
// row whose id says its time within kIdSlackUs is found by time (the blocks whose span covers it)
// and takes no entry in request_block_ids; any other row takes one.
inline constexpr int64_t kIdSlackUs = 50'000;
inline int64_t IdMillis(std::string_view trace_blob) {
  uint64_t ms = 0;
  for (size_t i = 0; i < 6 && i < trace_blob.size(); ++i)
    ms = (ms << 8) | static_cast<unsigned char>(trace_blob[i]);
  return static_cast<int64_t>(ms);
}
inline bool IdSaysTime(std::string_view trace_blob, int64_t ts) {
  const int64_t at = IdMillis(trace_blob) * 1000;
  return trace_blob.size() == 16 && ts >= at - kIdSlackUs && ts <= at + 999 + kIdSlackUs;
}

// Calls `f(block pk, project, data, size)` for each block that may hold a row of trace `id` (a
// 16-byte blob), each block once: those request_block_ids names, then those whose span covers
// the time the id says. Returns an SQLite result code (SQLITE_OK when all went well). With
// `cache` (the writer's connection) the statements are its cached ones.
class Conn;
int ForEachBlockWithId(sqlite3* db, std::string_view id,
                       const std::function<void(int64_t, int64_t, const void*, int)>& f,
                       Conn* cache = nullptr);

// The key of a trace id in request_block_ids: its first 8 bytes, big-endian (time-ordered ids
// grow with time), as a signed integer.
int64_t BlockIdKey(std::string_view trace_blob);

// Registers the eponymous virtual table `block_requests` on `db` (request_blocks_vtab.cc). Every
// connection that reads the views must have it; SqliteStore registers it on each it opens.
bool RegisterBlockRequests(sqlite3* db);

}  // namespace ap::telemetry::internal
