// telemetry/internal/event_filter.h — a Bloom filter over the ids in the SQLite store's `events`
// table, kept by the writer (SqliteStore owns it; BatchWriter consults and extends it).
//
// Why: since migration 9 an event that creates its trace or observation keeps its id in that row
// instead of an `events` row (batch_writer_upserts.cc). A re-send of such an event finds its
// object and the id in it; but one whose id went to `events` (an update, a create on an older
// day, an id copied there before its row could be deleted) may name an object that is gone, and
// must still be ignored. "Not in the filter" proves the id is not in `events`, so only the few
// ids the filter might hold pay for a lookup there; the rest take the fast path. A false
// positive costs one `events` insert, as every event did before; the filter is never wrong the
// other way (ids are added before their batch commits, and one of a rolled-back batch only adds
// false positives).
//
// Sized at 16 bits per id when (re)built and rebuilt from the table at twice the size once it
// holds one id per 10 bits (~1 % false positives at worst): rebuilding scans `events`, so it
// costs O(1) per id over time. Retention's deletes are not removed (more false positives until the
// next rebuild). Memory: ~2 bytes per `events` row.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace ap::telemetry::internal {

class Conn;

class EventFilter {
 public:
  // Builds the filter from every id in `events` (at start-up: one scan of the table).
  bool Load(Conn& c);
  bool MayContain(std::string_view id) const;
  // Adds an id just written to `events`; rebuilds from the table (`c`, inside the current
  // transaction) when the filter is full.
  bool Add(Conn& c, std::string_view id);
  size_t size() const { return count_; }

 private:
  static constexpr int kHashes = 5;
  static uint64_t Hash(std::string_view id);
  void Set(uint64_t h);

  std::vector<uint64_t> words_;
  uint64_t mask_ = 0;  // bits - 1; bits is a power of two
  size_t count_ = 0;
};

}  // namespace ap::telemetry::internal
