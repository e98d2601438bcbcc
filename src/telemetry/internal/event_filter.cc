// telemetry/internal/event_filter.cc — see event_filter.h.
#include "telemetry/internal/event_filter.h"

#include <algorithm>
#include <bit>
#include <functional>

#include "telemetry/internal/sqlite_db.h"

namespace ap::telemetry::internal {
namespace {

constexpr uint64_t kMinBits = uint64_t{1} << 20;  // 128 KiB

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer: a second, independent hash from the first
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t EventFilter::Hash(std::string_view id) { return std::hash<std::string_view>()(id); }

void EventFilter::Set(uint64_t h) {
  const uint64_t step = Mix(h) | 1;
  for (int i = 0; i < kHashes; ++i, h += step) words_[(h & mask_) >> 6] |= uint64_t{1} << (h & 63);
}

bool EventFilter::MayContain(std::string_view id) const {
  if (count_ == 0) return false;
  uint64_t h = Hash(id);
  const uint64_t step = Mix(h) | 1;
  for (int i = 0; i < kHashes; ++i, h += step)
    if (!(words_[(h & mask_) >> 6] & (uint64_t{1} << (h & 63)))) return false;
  return true;
}

bool EventFilter::Load(Conn& c) {
  int64_t rows = 0;
  {
    auto s = c.Prepare("SELECT count(*) FROM events");
    if (s.Step() != SQLITE_ROW) return false;
    rows = s.Int(0);
  }
  const uint64_t bits = std::max(kMinBits, std::bit_ceil(static_cast<uint64_t>(rows) * 16));
  words_.assign(bits / 64, 0);
  mask_ = bits - 1;
  count_ = 0;
  auto s = c.Prepare("SELECT id FROM events");
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Set(Hash(s.Id(0)));
    ++count_;
  }
  return rc == SQLITE_DONE;
}

bool EventFilter::Add(Conn& c, std::string_view id) {
  if ((count_ + 1) * 10 > mask_ + 1) return Load(c);  // the table holds `id` already
  Set(Hash(id));
  ++count_;
  return true;
}

}  // namespace ap::telemetry::internal
