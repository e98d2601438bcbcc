// telemetry/store_conformance_events.cc — the conformance suite's event-id part: a re-sent
// Langfuse event is ignored however it is re-sent (the same batch again, in one batch twice,
// after later updates, after its object changed trace, time or index, after retention deleted
// its object). Unlike the rest of the suite these items carry the current time: the SQLite store
// keeps the id of an event that creates its row in the row when the row's day is not before the
// event's (docs/telemetry.md, "Store"), and that is the path these tests must reach; the fixed
// 2024 times of the other tests take the `events` table.
#include "telemetry/store_conformance.h"

namespace ap::telemetry {
namespace {

int64_t Observations(Store& s, const std::string& trace = "") {
  ObservationQuery q;
  q.project = "p1";
  if (!trace.empty()) q.trace_id = trace;
  q.limit = 100;
  auto page = s.ListObservations(q);
  EXPECT_TRUE(page) << (page ? "" : page.error());
  return page ? static_cast<int64_t>(page->items.size()) : -1;
}

// A generation update that sets nothing yet.
Observation GenUpdate(const std::string& id, const std::string& trace) {
  Observation o;
  o.id = id;
  o.trace_id = trace;
  o.project = "p1";
  o.type = ObservationType::kGeneration;
  return o;
}

}  // namespace

TEST_P(StoreConformanceTest, ReSentCurrentEventsAreIgnored) {
  const int64_t now = NowMicros();
  Observation span = MakeGen("s1", "t1", now, "m", 0, 0, 0);
  span.type = ObservationType::kSpan;
  std::vector<Item> batch = {It(MakeTrace("t1", now, "u"), "e1"), It(MakeGen("g1", "t1", now, "m", 10, 5, 1.0), "e2"),
                             It(span, "e3")};
  MustWrite(*store_, batch);
  // Re-sent with different content, and twice within one batch.
  MustWrite(*store_, {It(MakeGen("g1", "t1", now, "m", 999, 5, 9.0), "e2"),
                      It(MakeGen("g2", "t1", now, "m", 3, 1, 0.5), "e4"), It(MakeGen("g2", "t1", now, "m", 3, 1, 0.5), "e4")});
  MustWrite(*store_, batch);  // the SDK re-sends whole batches
  UsageRow total = Total(*store_);
  EXPECT_EQ(total.generations, 2);
  EXPECT_EQ(total.input_tokens, 13);
  EXPECT_DOUBLE_EQ(total.cost, 1.5);
  store_ = Reopen();
  ASSERT_NE(store_, nullptr);
  MustWrite(*store_, batch);
  EXPECT_EQ(Total(*store_).generations, 2);
  EXPECT_EQ(Observations(*store_), 3);
}

// A create re-sent after later updates must not undo them (merges set the fields they carry).
TEST_P(StoreConformanceTest, ReSentCreatesDoNotUndoLaterUpdates) {
  const int64_t now = NowMicros();
  Trace t = MakeTrace("t1", now, "u");
  t.name = "first";
  const Item create_trace = It(t, "e1"), create_gen = It(MakeGen("g1", "t1", now, "m", 10, 5, 1.0), "e2");
  MustWrite(*store_, {create_trace, create_gen});
  Trace rename;
  rename.id = "t1";
  rename.project = "p1";
  rename.name = "second";
  Observation more = MakeGen("g1", "t1", 0, "m", 10, 50, 2.0);
  more.start_us = more.end_us = 0;
  more.input_tokens.reset();
  const Item updates[] = {It(rename, "e3"), It(more, "e4")};
  MustWrite(*store_, {updates[0], updates[1]});
  MustWrite(*store_, {create_trace, create_gen});
  MustWrite(*store_, {updates[1], create_gen, updates[0]});
  auto got = store_->GetTrace("p1", "t1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->name, "second");
  UsageRow total = Total(*store_);
  EXPECT_EQ(total.generations, 1);
  EXPECT_EQ(total.input_tokens, 10);
  EXPECT_EQ(total.output_tokens, 50);
  EXPECT_DOUBLE_EQ(total.cost, 2.0);
  // A new event still applies, and an older update re-sent after it does not undo it.
  more.output_tokens = 60;
  MustWrite(*store_, {It(more, "e5")});
  EXPECT_EQ(Total(*store_).output_tokens, 60);
  MustWrite(*store_, {updates[1]});
  EXPECT_EQ(Total(*store_).output_tokens, 60);
}

// Retention deletes a trace by its time; the ids of the events applied to it are kept by the day
// they arrived. A trace moved to an earlier day and deleted stays deleted when its events come
// again, and so does an observation moved to such a trace.
TEST_P(StoreConformanceTest, ReSentEventsStayIgnoredAfterRetentionDeletedTheirObjects) {
  const int64_t now = NowMicros();
  const Item create_old = It(MakeTrace("old", now, "u"), "e1"), create_g = It(MakeGen("g1", "old", now, "m", 10, 5, 1.0), "e2"),
             create_moved = It(MakeGen("g2", "keep", now, "m", 1, 1, 0.25), "e3"), create_keep = It(MakeTrace("keep", now), "e4");
  MustWrite(*store_, {create_old, create_g, create_keep, create_moved});
  Observation end = GenUpdate("g1", "old");
  end.end_us = now + 5000;
  const Item end_g = It(end, "e7");  // an update: its id kept in g1's row
  MustWrite(*store_, {end_g});
  Trace earlier;
  earlier.id = "old";
  earlier.project = "p1";
  earlier.timestamp_us = now - 3 * kDay;
  Observation move = GenUpdate("g2", "old");
  MustWrite(*store_, {It(earlier, "e5"), It(move, "e6")});
  EXPECT_EQ(Observations(*store_, "old"), 2);
  auto deleted = store_->DeleteOlderThan(now - kDay);
  ASSERT_TRUE(deleted) << deleted.error();
  ASSERT_FALSE(*store_->GetTrace("p1", "old"));
  EXPECT_EQ(Observations(*store_), 0);
  const UsageRow before = Total(*store_);  // the rollup keeps the generations' own (current) day
  MustWrite(*store_, {create_old, create_g, create_moved, It(earlier, "e5"), It(move, "e6"), end_g});
  EXPECT_FALSE(*store_->GetTrace("p1", "old"));
  EXPECT_EQ(Observations(*store_), 0);
  EXPECT_EQ(Total(*store_).generations, before.generations);
  EXPECT_DOUBLE_EQ(Total(*store_).cost, before.cost);
  EXPECT_TRUE(*store_->GetTrace("p1", "keep"));
}

// A generation an SDK created, then completed by a record with an HTTP status (write-once rows
// are looked up differently): its create, re-sent, does not make a second row.
TEST_P(StoreConformanceTest, ReSentCreateIsIgnoredAfterAStatusWasMergedIn) {
  const int64_t now = NowMicros();
  const Item create = It(MakeGen("g1", "t1", now, "m", 10, 5, 1.0), "e1");
  MustWrite(*store_, {It(MakeTrace("t1", now), "e0"), create});
  Observation status = GenUpdate("g1", "t1");
  status.status_code = 200;
  MustWrite(*store_, {It(status)});
  MustWrite(*store_, {create});
  EXPECT_EQ(Observations(*store_), 1);
  EXPECT_EQ(Total(*store_).generations, 1);
}

// An update (no start time: an SDK's end()) that arrives before its create makes the row, once.
TEST_P(StoreConformanceTest, AnUpdateBeforeItsCreateMakesTheRowOnce) {
  const int64_t now = NowMicros();
  Observation end = GenUpdate("g1", "t1");
  end.end_us = now + 1000;
  end.output_tokens = 7;
  MustWrite(*store_, {It(end, "e1")});
  MustWrite(*store_, {It(end, "e1"), It(MakeGen("g1", "t1", now, "m", 10, 5, 1.0), "e2"), It(end, "e1")});
  EXPECT_EQ(Observations(*store_), 1);
  UsageRow total = Total(*store_);
  EXPECT_EQ(total.generations, 1);
  EXPECT_EQ(total.input_tokens, 10);
  EXPECT_EQ(total.output_tokens, 5);  // the create came last and set it
}

}  // namespace ap::telemetry
