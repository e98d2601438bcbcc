// telemetry/store_conformance_upserts.cc — the conformance suite's Langfuse merge part: updates
// merge only the fields they set, in order, within a batch and across batches; observations before
// their trace create a placeholder; event ids make items idempotent; generations inherit a user
// their trace gets later; fresh (gateway-minted) traces and generations mix with all of that in one
// batch; the usage rollup and the pricer see the merged row. The rest of the suite is in
// store_conformance.cc.
#include "telemetry/store_conformance.h"

namespace ap::telemetry {
namespace {

// Generations in the usage rollup: all of them, and `user`'s.
std::pair<int64_t, int64_t> GenerationsByUser(Store& s, const std::string& user) {
  UsageQuery q;
  q.group_by = {"user"};
  auto rows = s.AggregateUsage(q);
  EXPECT_TRUE(rows) << (rows ? "" : rows.error());
  std::pair<int64_t, int64_t> n{0, 0};
  for (const auto& r : rows ? *rows : std::vector<UsageRow>{}) {
    n.first += r.generations;
    if (r.group == std::vector<std::string>{user}) n.second = r.generations;
  }
  return n;
}

}  // namespace

TEST_P(StoreConformanceTest, UpdatesMergeOnlyTheFieldsTheySet) {
  Trace t = MakeTrace("t1", kT0, "alice");
  t.name = "first";
  MustWrite(*store_, {It(t)});
  Trace upd;
  upd.id = "t1";
  upd.project = "p1";
  upd.output = "\"done\"";
  MustWrite(*store_, {It(upd)});
  auto got = store_->GetTrace("p1", "t1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->name, "first");
  EXPECT_EQ((*got)->user_id, "alice");
  EXPECT_EQ((*got)->output, "\"done\"");
  EXPECT_EQ((*got)->timestamp_us, kT0);

  Observation span;
  span.id = "s1";
  span.trace_id = "t1";
  span.project = "p1";
  span.start_us = kT0;
  span.name = "step";
  MustWrite(*store_, {It(span)});
  Observation end;
  end.id = "s1";
  end.trace_id = "t1";
  end.project = "p1";
  end.end_us = kT0 + 5000;
  MustWrite(*store_, {It(end)});
  ObservationQuery q;
  q.project = "p1";
  q.trace_id = "t1";
  auto page = store_->ListObservations(q);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].name, "step");
  EXPECT_EQ(page->items[0].start_us, kT0);
  EXPECT_EQ(page->items[0].end_us, kT0 + 5000);
}

TEST_P(StoreConformanceTest, ObservationBeforeItsTraceCreatesThePlaceholder) {
  MustWrite(*store_, {It(MakeGen("g1", "late", kT0, "m", 1, 1, 0))});
  auto got = store_->GetTrace("p1", "late");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->timestamp_us, kT0);
  Trace t = MakeTrace("late", kT0 + 5, "bob");
  t.name = "now-known";
  MustWrite(*store_, {It(t)});
  got = store_->GetTrace("p1", "late");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->name, "now-known");
  ObservationQuery q;
  q.project = "p1";
  q.trace_id = "late";
  EXPECT_EQ(store_->ListObservations(q)->items.size(), 1u);
}

TEST_P(StoreConformanceTest, EventIdsMakeItemsIdempotent) {
  std::vector<Item> batch = {It(MakeTrace("t1", kT0, "u"), "e1"), It(MakeGen("g1", "t1", kT0, "m", 10, 5, 1.0), "e2")};
  MustWrite(*store_, batch);
  MustWrite(*store_, batch);  // the SDK re-sends whole batches
  UsageRow total = Total(*store_);
  EXPECT_EQ(total.generations, 1);
  EXPECT_EQ(total.input_tokens, 10);
  EXPECT_DOUBLE_EQ(total.cost, 1.0);
  // A re-sent event is ignored even when its content differs.
  MustWrite(*store_, {It(MakeGen("g1", "t1", kT0, "m", 999, 5, 9.0), "e2")});
  EXPECT_EQ(Total(*store_).input_tokens, 10);
}

TEST_P(StoreConformanceTest, RollupStaysExactUnderUpdates) {
  MustWrite(*store_, {It(MakeTrace("t1", kT0, "alice")), It(MakeGen("g1", "t1", kT0, "m1", 10, 5, 1.0))});
  Observation upd;
  upd.id = "g1";
  upd.trace_id = "t1";
  upd.project = "p1";
  upd.type = ObservationType::kGeneration;
  upd.output_tokens = 50;
  upd.total_cost = 2.5;
  upd.model = "m2";
  MustWrite(*store_, {It(upd)});
  UsageQuery q;
  q.group_by = {"model", "user"};
  auto rows = store_->AggregateUsage(q);
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].group, (std::vector<std::string>{"m2", "alice"}));
  EXPECT_EQ((*rows)[0].generations, 1);
  EXPECT_EQ((*rows)[0].input_tokens, 10);
  EXPECT_EQ((*rows)[0].output_tokens, 50);
  EXPECT_DOUBLE_EQ((*rows)[0].cost, 2.5);
}

// Upserts of one id in one batch and across batches (the writer tries an upsert as a new row
// first): one row, fields merged in order, the rollup counting it once.
TEST_P(StoreConformanceTest, UpsertsOfOneIdMergeInOrderWithinAndAcrossBatches) {
  const std::string id = "5f0c6a4e-1b2d-4c3e-9f8a-7b6c5d4e3f21";  // a UUID, stored as a blob
  Observation upd;
  upd.id = id;
  upd.trace_id = "t1";
  upd.project = "p1";
  upd.type = ObservationType::kGeneration;
  upd.output_tokens = 7;
  upd.total_cost = 0.5;
  Observation again = MakeGen(id, "t1", kT0, "m1", 3, 1, 0.25);  // a second create: set fields win
  again.name = "second";
  MustWrite(*store_, {It(MakeTrace("t1", kT0, "alice")), It(MakeGen(id, "t1", kT0, "m1", 10, 5, 1.0)), It(upd),
                      It(again)});
  Observation later;
  later.id = id;
  later.trace_id = "t1";
  later.project = "p1";
  later.type = ObservationType::kGeneration;
  later.output_tokens = 40;
  MustWrite(*store_, {It(later)});
  ObservationQuery q;
  q.project = "p1";
  q.trace_id = "t1";
  auto page = store_->ListObservations(q);
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->items.size(), 1u);
  const Observation& o = page->items[0];
  EXPECT_EQ(o.id, id);
  EXPECT_EQ(o.name, "second");
  EXPECT_EQ(o.input_tokens, 3);
  EXPECT_EQ(o.output_tokens, 40);
  EXPECT_DOUBLE_EQ(o.total_cost.value_or(-1), 0.25);
  EXPECT_EQ(o.user_id, "alice");
  UsageRow total = Total(*store_);
  EXPECT_EQ(total.generations, 1);
  EXPECT_EQ(total.input_tokens, 3);
  EXPECT_EQ(total.output_tokens, 40);
  EXPECT_DOUBLE_EQ(total.cost, 0.25);
}

// OTLP exporters send child spans before their root: generations written before their trace
// had a user take the user when the trace gets one, in the rows and in the rollup.
TEST_P(StoreConformanceTest, GenerationsInheritAUserTheirTraceGetsLater) {
  MustWrite(*store_, {It(MakeGen("g1", "t1", kT0, "m1", 10, 5, 1.0))});
  MustWrite(*store_, {It(MakeGen("g2", "t1", kT0, "m1", 20, 5, 2.0)), It(MakeTrace("t1", kT0, "alice")),
                      It(MakeGen("g3", "t1", kT0, "m1", 30, 5, 3.0))});
  MustWrite(*store_, {It(MakeTrace("t1", kT0, "bob"))});  // a later user does not move them again
  UsageQuery q;
  q.group_by = {"user"};
  auto rows = store_->AggregateUsage(q);
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].group, (std::vector<std::string>{"alice"}));
  EXPECT_EQ((*rows)[0].generations, 3);
  EXPECT_EQ((*rows)[0].input_tokens, 60);
  EXPECT_DOUBLE_EQ((*rows)[0].cost, 6.0);
  ObservationQuery oq;
  oq.project = "p1";
  oq.user_id = "alice";
  auto page = store_->ListObservations(oq);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 3u);
}

// Gateway records (fresh, write-once generations with an HTTP status) in a batch large enough
// for a store to group its inserts, then a trace update in the same batch that gives user-less
// generations its user: every row and rollup count must be there.
TEST_P(StoreConformanceTest, ManyFreshGatewayGenerationsInOneBatch) {
  std::vector<Item> items;
  for (int i = 0; i < 37; ++i) {
    std::string trace = i < 30 ? "gw" + std::to_string(i) : "shared";
    items.push_back(It(MakeTrace(trace, kT0 + i)));
    Observation g = MakeGen("span" + std::to_string(i), trace, kT0 + i, "m", 10, 1, 0.5);
    g.status_code = 200;
    items.push_back(Item{"", true, std::move(g)});
  }
  items.push_back(It(MakeTrace("shared", kT0, "carol")));
  MustWrite(*store_, items);
  ObservationQuery q;
  q.project = "p1";
  q.limit = 100;
  auto page = store_->ListObservations(q);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 37u);
  EXPECT_EQ(GenerationsByUser(*store_, "carol"), std::make_pair(int64_t{37}, int64_t{7}));
  EXPECT_DOUBLE_EQ(Total(*store_).cost, 37 * 0.5);
}

// Fresh traces (ids the gateway minted) mixed in one batch with writes that read or update
// traces: an update of a fresh trace that gives its generation a user, an observation arriving
// before its trace (placeholder), a non-fresh trace; then a second batch of fresh traces. Every
// trace, observation and rollup count must be there, each generation under its own trace.
TEST_P(StoreConformanceTest, FreshTracesMixWithUpdatesAndPlaceholders) {
  std::vector<Item> items;
  auto fresh_pair = [&](const std::string& id, int64_t ts) {
    items.push_back(Item{"", true, MakeTrace(id, ts)});
    Observation g = MakeGen(id + "-gen", id, ts, "m", 10, 1, 0.5);
    g.status_code = 200;
    items.push_back(Item{"", true, std::move(g)});
  };
  for (int i = 0; i < 20; ++i) fresh_pair("fresh" + std::to_string(i), kT0 + i);
  items.push_back(It(MakeTrace("fresh3", kT0 + 3, "dave")));      // update: fresh3's generation inherits dave
  items.push_back(It(MakeGen("late-gen", "early", kT0, "m", 10, 1, 0.5)));  // placeholder trace
  items.push_back(It(MakeTrace("plain", kT0 + 50)));
  for (int i = 20; i < 40; ++i) fresh_pair("fresh" + std::to_string(i), kT0 + i);
  MustWrite(*store_, items);
  items.clear();
  for (int i = 40; i < 45; ++i) fresh_pair("fresh" + std::to_string(i), kT0 + i);
  MustWrite(*store_, items);

  TraceQuery tq;
  tq.project = "p1";
  tq.limit = 100;
  auto traces = store_->ListTraces(tq);
  ASSERT_TRUE(traces) << traces.error();
  EXPECT_EQ(traces->items.size(), 47u);  // 45 fresh, the placeholder, plain
  for (const auto& t : traces->items) {
    if (t.trace.id.rfind("fresh", 0) != 0) continue;
    auto obs = store_->ListObservations(ObservationQuery{.project = "p1", .trace_id = t.trace.id});
    ASSERT_TRUE(obs);
    ASSERT_EQ(obs->items.size(), 1u) << t.trace.id;
    EXPECT_EQ(obs->items[0].id, t.trace.id + "-gen");
  }
  auto fresh3 = store_->GetTrace("p1", "fresh3");
  ASSERT_TRUE(fresh3 && *fresh3);
  EXPECT_EQ((*fresh3)->user_id, "dave");
  EXPECT_EQ(GenerationsByUser(*store_, "dave"), std::make_pair(int64_t{46}, int64_t{1}));
}

TEST_P(StoreConformanceTest, PricerFillsCostAfterMerge) {
  store_->set_pricer([](Observation& o) {
    if (o.model && *o.model == "priced" && o.input_tokens) o.total_cost = 0.001 * *o.input_tokens;
  });
  Observation create;
  create.id = "g";
  create.trace_id = "t";
  create.project = "p1";
  create.type = ObservationType::kGeneration;
  create.start_us = kT0;
  create.model = "priced";
  MustWrite(*store_, {It(create)});
  Observation upd = create;
  upd.model.reset();
  upd.input_tokens = 2000;
  MustWrite(*store_, {It(upd)});
  EXPECT_NEAR(Total(*store_).cost, 2.0, 1e-9);
}

}  // namespace ap::telemetry
