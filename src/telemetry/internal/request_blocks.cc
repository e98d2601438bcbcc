// telemetry/internal/request_blocks.cc — encoding and decoding of request blocks (see
// request_blocks.h for the format and why).
#include "telemetry/internal/request_blocks.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "telemetry/internal/sqlite_db.h"

namespace ap::telemetry::internal {
namespace {

constexpr uint64_t kFormat = 1;

uint64_t Zig(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t Unzig(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Writes into a buffer sized beforehand for the worst case (EncodeBlock): no capacity check
// per byte.
struct Out {
  char* p;
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  void Bytes(const unsigned char* b, uint8_t size) {
    *p++ = static_cast<char>(size);
    std::memcpy(p, b, size);
    p += size;
  }
  void Double(double d) {
    std::memcpy(p, &d, 8);
    p += 8;
  }
  void Text(std::string_view s) {
    Varint(s.size());
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
};

// The most bytes a row can take besides its text: flags, three ids, 16 varints, three doubles
// and two text lengths.
constexpr size_t kMaxRowBytes = 1 + 3 * 18 + 16 * 10 + 3 * 8 + 2 * 10;

// A cursor over the block's bytes; any read past the end sets `bad`.
struct In {
  const unsigned char* p;
  const unsigned char* end;
  bool bad = false;

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) break;
      unsigned char b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    bad = true;
    return 0;
  }
  int64_t Signed() { return Unzig(Varint()); }
  int64_t Dim() { return static_cast<int64_t>(Varint()); }
  uint8_t Bytes(unsigned char* dst) {
    if (p == end || *p > 17 || end - p - 1 < *p) {
      bad = true;
      return 0;
    }
    uint8_t n = *p++;
    std::memcpy(dst, p, n);
    p += n;
    return n;
  }
  double Double() {
    double d = 0;
    if (end - p < 8) {
      bad = true;
      return 0;
    }
    std::memcpy(&d, p, 8);
    p += 8;
    return d;
  }
  std::string_view Text() {
    uint64_t n = Varint();
    if (bad || static_cast<uint64_t>(end - p) < n) {
      bad = true;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
};

}  // namespace

std::string_view EncodeBlock(const BlockRow* rows, size_t n, std::string* buffer) {
  int64_t base = n ? rows[0].ts : 0;
  size_t worst = 3 * 10;
  for (size_t i = 0; i < n; ++i) {
    base = std::min(base, rows[i].ts);
    worst += kMaxRowBytes + rows[i].status_message.size() + rows[i].usage_details.size();
  }
  if (buffer->size() < worst) buffer->resize(std::max(worst, 2 * buffer->size()));
  Out o{buffer->data()};
  o.Varint(kFormat);
  o.Varint(n);
  o.Varint(Zig(base));
  for (size_t i = 0; i < n; ++i) {
    const BlockRow& r = rows[i];
    *o.p++ = static_cast<char>(r.flags);
    o.Bytes(r.trace, r.trace_size);
    o.Bytes(r.span, r.span_size);
    o.Bytes(r.parent, r.parent_size);
    o.Varint(Zig(r.ts - base));
    o.Varint(static_cast<uint64_t>(r.name));
    o.Varint(static_cast<uint64_t>(r.user));
    o.Varint(static_cast<uint64_t>(r.session));
    o.Varint(static_cast<uint64_t>(r.env));
    o.Varint(static_cast<uint64_t>(r.model));
    o.Varint(static_cast<uint64_t>(r.backend));
    o.Varint(static_cast<uint64_t>(r.team));
    o.Varint(static_cast<uint64_t>(r.key));
    o.Varint(Zig(r.status));
    o.Varint(Zig(r.dur));
    if (r.Has(BlockRow::kTtft)) o.Varint(Zig(r.ttft));
    if (r.Has(BlockRow::kUsage)) {
      o.Varint(Zig(r.in_tok));
      o.Varint(Zig(r.out_tok));
      o.Varint(Zig(r.total_tok));
    }
    if (r.Has(BlockRow::kCached)) o.Varint(Zig(r.cached_tok));
    if (r.Has(BlockRow::kCost)) {
      o.Double(r.in_cost);
      o.Double(r.out_cost);
      o.Double(r.cost);
    }
    if (r.Has(BlockRow::kStatusMessage)) o.Text(r.status_message);
    if (r.Has(BlockRow::kUsageDetails)) o.Text(r.usage_details);
  }
  return {buffer->data(), static_cast<size_t>(o.p - buffer->data())};
}

BlockReader::BlockReader(std::string_view block) : data_(block) {
  In in{reinterpret_cast<const unsigned char*>(block.data()),
        reinterpret_cast<const unsigned char*>(block.data()) + block.size()};
  uint64_t format = in.Varint();
  uint64_t count = in.Varint();
  base_ = in.Signed();
  ok_ = !in.bad && format == kFormat && count <= static_cast<uint64_t>(kMaxBlockRows);
  count_ = ok_ ? static_cast<int>(count) : 0;
  pos_ = static_cast<size_t>(in.p - reinterpret_cast<const unsigned char*>(block.data()));
}

bool BlockReader::Next(BlockRow* r, size_t* flags_offset) {
  if (!ok_ || index_ + 1 >= count_) return false;
  const auto* begin = reinterpret_cast<const unsigned char*>(data_.data());
  In in{begin + pos_, begin + data_.size()};
  if (in.p == in.end) return ok_ = false;
  if (flags_offset) *flags_offset = pos_;
  r->flags = *in.p++;
  r->trace_size = in.Bytes(r->trace);
  r->span_size = in.Bytes(r->span);
  r->parent_size = in.Bytes(r->parent);
  r->ts = base_ + in.Signed();
  for (int64_t* d :
       {&r->name, &r->user, &r->session, &r->env, &r->model, &r->backend, &r->team, &r->key})
    *d = in.Dim();
  r->status = in.Signed();
  r->dur = in.Signed();
  r->ttft = r->Has(BlockRow::kTtft) ? in.Signed() : 0;
  if (r->Has(BlockRow::kUsage)) {
    r->in_tok = in.Signed();
    r->out_tok = in.Signed();
    r->total_tok = in.Signed();
  } else {
    r->in_tok = r->out_tok = r->total_tok = 0;
  }
  r->cached_tok = r->Has(BlockRow::kCached) ? in.Signed() : 0;
  if (r->Has(BlockRow::kCost)) {
    r->in_cost = in.Double();
    r->out_cost = in.Double();
    r->cost = in.Double();
  } else {
    r->in_cost = r->out_cost = r->cost = 0;
  }
  r->status_message = r->Has(BlockRow::kStatusMessage) ? in.Text() : std::string_view();
  r->usage_details = r->Has(BlockRow::kUsageDetails) ? in.Text() : std::string_view();
  if (in.bad) return ok_ = false;
  pos_ = static_cast<size_t>(in.p - begin);
  ++index_;
  return true;
}

int ForEachBlockWithId(sqlite3* db, std::string_view id,
                       const std::function<void(int64_t, int64_t, const void*, int)>& f,
                       Conn* cache) {
  static constexpr const char* kById =
      "SELECT b.pk, b.project, b.data FROM request_block_ids i JOIN request_blocks b ON "
      "b.pk=i.block "
      "WHERE i.k=?";
  // A row at ts in [lo, hi] lies in a block with ts_min <= ts <= ts_max <= ts_min +
  // kMaxBlockSpanUs.
  static constexpr const char* kByTime =
      "SELECT pk, project, data FROM request_blocks WHERE ts_max>=? AND ts_max<=? AND ts_min<=?";
  if (id.size() != 16) return SQLITE_OK;
  std::vector<int64_t> seen;
  auto drain = [&](sqlite3_stmt* s, std::initializer_list<int64_t> args) {
    int i = 0;
    for (int64_t a : args) sqlite3_bind_int64(s, ++i, a);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const int64_t pk = sqlite3_column_int64(s, 0);
      if (std::find(seen.begin(), seen.end(), pk) != seen.end()) continue;
      seen.push_back(pk);
      f(pk, sqlite3_column_int64(s, 1), sqlite3_column_blob(s, 2), sqlite3_column_bytes(s, 2));
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  };
  // The writer's connection caches the statements (Stmt resets one when done); a reader prepares
  // its own.
  auto run = [&](const char* sql, std::initializer_list<int64_t> args) {
    if (cache) {
      Stmt st = cache->PrepareStatic(sql);
      return st.ok() ? drain(st.raw(), args) : SQLITE_ERROR;
    }
    sqlite3_stmt* s = nullptr;
    if (int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr); rc != SQLITE_OK) return rc;
    const int rc = drain(s, args);
    sqlite3_finalize(s);
    return rc;
  };
  if (int rc = run(kById, {BlockIdKey(id)}); rc != SQLITE_OK) return rc;
  const int64_t lo = IdMillis(id) * 1000 - kIdSlackUs, hi = IdMillis(id) * 1000 + 999 + kIdSlackUs;
  return run(kByTime, {lo, hi + kMaxBlockSpanUs, hi});
}

int64_t BlockIdKey(std::string_view trace_blob) {
  uint64_t k = 0;
  for (size_t i = 0; i < 8 && i < trace_blob.size(); ++i)
    k = (k << 8) | static_cast<unsigned char>(trace_blob[i]);
  return static_cast<int64_t>(k);
}

}  // namespace ap::telemetry::internal
