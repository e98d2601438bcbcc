// telemetry/store_conformance.cc — the Store conformance suite (see store_conformance.h).
//
// Checks the contract, not an implementation: round trips of every field, Langfuse merge
// semantics, idempotent event ids, placeholder traces, filters and paging, sessions, scores,
// the usage rollup under updates, retention, pricing hook, concurrency and reopen durability.
#include "telemetry/store_conformance.h"

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>
#include <utility>

#include <unistd.h>

namespace ap::telemetry {
namespace {

constexpr int64_t kDay = 86'400'000'000;
constexpr int64_t kT0 = 1'714'564'800'000'000;  // 2024-05-01T12:00:00Z

Trace MakeTrace(const std::string& id, int64_t ts, const std::string& user = "", const std::string& session = "") {
  Trace t;
  t.id = id;
  t.project = "p1";
  t.timestamp_us = ts;
  if (!user.empty()) t.user_id = user;
  if (!session.empty()) t.session_id = session;
  return t;
}

Observation MakeGen(const std::string& id, const std::string& trace, int64_t start, const std::string& model,
                    int64_t in, int64_t out, double cost) {
  Observation o;
  o.id = id;
  o.trace_id = trace;
  o.project = "p1";
  o.type = ObservationType::kGeneration;
  o.start_us = start;
  o.end_us = start + 1000;
  o.model = model;
  o.input_tokens = in;
  o.output_tokens = out;
  o.total_tokens = in + out;
  o.total_cost = cost;
  return o;
}

Item It(Trace t, std::string event = "") { return Item{std::move(event), false, std::move(t)}; }
Item It(Observation o, std::string event = "") { return Item{std::move(event), false, std::move(o)}; }
Item It(Score s, std::string event = "") { return Item{std::move(event), false, std::move(s)}; }

void MustWrite(Store& s, std::vector<Item> items) {
  auto r = s.Write(items);
  ASSERT_TRUE(r) << r.error();
}

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

UsageRow Total(Store& s, UsageQuery q = {}) {
  auto r = s.AggregateUsage(q);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r && !r->empty() ? r->front() : UsageRow{};
}

}  // namespace

void StoreConformanceTest::SetUp() {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (auto& c : name)
    if (c == '/') c = '_';
  scratch_ = (std::filesystem::temp_directory_path() / ("ap_store_" + std::to_string(::getpid()) + "_" + name)).string();
  std::filesystem::remove_all(scratch_);
  std::filesystem::create_directories(scratch_);
  dir_ = scratch_;
  store_ = GetParam().open(scratch_);
  ASSERT_NE(store_, nullptr);
}

void StoreConformanceTest::TearDown() {
  store_.reset();
  std::filesystem::remove_all(scratch_);
}

std::unique_ptr<Store> StoreConformanceTest::Reopen() {
  store_.reset();
  return GetParam().open(dir_);
}

std::unique_ptr<Store> StoreConformanceTest::OpenFresh(const std::string& name) {
  store_.reset();
  dir_ = (std::filesystem::path(scratch_) / name).string();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  return GetParam().open(dir_);
}

TEST_P(StoreConformanceTest, TraceRoundTripsEveryField) {
  Trace t = MakeTrace("0123456789abcdef0123456789abcdef", kT0, "alice", "s1");
  t.name = "chat";
  t.release = "r1";
  t.version = "v2";
  t.environment = "prod";
  t.tags = std::vector<std::string>{"a", "b"};
  t.input = R"({"q":"hi"})";
  t.output = R"("hello")";
  t.metadata = R"({"k":1})";
  t.is_public = true;
  MustWrite(*store_, {It(t)});
  auto got = store_->GetTrace("p1", t.id);
  ASSERT_TRUE(got && *got);
  const Trace& g = **got;
  EXPECT_EQ(g.id, t.id);
  EXPECT_EQ(g.timestamp_us, kT0);
  EXPECT_EQ(g.name, t.name);
  EXPECT_EQ(g.user_id, t.user_id);
  EXPECT_EQ(g.session_id, t.session_id);
  EXPECT_EQ(g.release, t.release);
  EXPECT_EQ(g.version, t.version);
  EXPECT_EQ(g.environment, t.environment);
  EXPECT_EQ(g.tags, t.tags);
  EXPECT_EQ(g.input, t.input);
  EXPECT_EQ(g.output, t.output);
  EXPECT_EQ(g.metadata, t.metadata);
  EXPECT_EQ(g.is_public, t.is_public);
  // Other projects do not see it.
  auto other = store_->GetTrace("p2", t.id);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
}

TEST_P(StoreConformanceTest, IdsOfAnyShapeRoundTrip) {
  for (std::string id : {"ABCDEF0123456789", "trace-1", "0123456789abcdef", "550e8400-e29b-41d4-a716-446655440000",
                         "zzzzzzzzzzzzzzzz"}) {
    MustWrite(*store_, {It(MakeTrace(id, kT0))});
    auto got = store_->GetTrace("p1", id);
    ASSERT_TRUE(got && *got) << id;
    EXPECT_EQ((*got)->id, id);
  }
}

TEST_P(StoreConformanceTest, ObservationRoundTripsEveryField) {
  Observation o = MakeGen("obs-1", "t1", kT0 + 10, "gpt-4o", 100, 20, 0.5);
  o.parent_id = "0123456789abcdef";
  o.name = "llm";
  o.completion_start_us = kT0 + 300;
  o.level = Level::kWarning;
  o.status_message = "slow";
  o.version = "v1";
  o.environment = "dev";
  o.model_parameters = R"({"temperature":0.2})";
  o.input = "[]";
  o.output = "{}";
  o.metadata = R"({"m":true})";
  o.cached_tokens = 7;
  o.usage_details = R"({"input":100})";
  o.cost_details = R"({"total":0.5})";
  o.input_cost = 0.3;
  o.output_cost = 0.2;
  o.user_id = "u";
  o.team = "t";
  o.key = "k";
  o.backend = "b";
  o.status_code = 200;
  MustWrite(*store_, {It(MakeTrace("t1", kT0)), It(o)});
  ObservationQuery q;
  q.project = "p1";
  q.trace_id = "t1";
  auto page = store_->ListObservations(q);
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->items.size(), 1u);
  const Observation& g = page->items[0];
  EXPECT_EQ(g.id, o.id);
  EXPECT_EQ(g.trace_id, "t1");
  EXPECT_EQ(g.type, ObservationType::kGeneration);
  EXPECT_EQ(g.parent_id, o.parent_id);
  EXPECT_EQ(g.name, o.name);
  EXPECT_EQ(g.start_us, o.start_us);
  EXPECT_EQ(g.end_us, o.end_us);
  EXPECT_EQ(g.completion_start_us, o.completion_start_us);
  EXPECT_EQ(g.model, o.model);
  EXPECT_EQ(g.level, o.level);
  EXPECT_EQ(g.status_message, o.status_message);
  EXPECT_EQ(g.version, o.version);
  EXPECT_EQ(g.environment, o.environment);
  EXPECT_EQ(g.model_parameters, o.model_parameters);
  EXPECT_EQ(g.input, o.input);
  EXPECT_EQ(g.output, o.output);
  EXPECT_EQ(g.metadata, o.metadata);
  EXPECT_EQ(g.input_tokens, 100);
  EXPECT_EQ(g.output_tokens, 20);
  EXPECT_EQ(g.total_tokens, 120);
  EXPECT_EQ(g.cached_tokens, 7);
  EXPECT_EQ(g.usage_details, o.usage_details);
  EXPECT_EQ(g.cost_details, o.cost_details);
  EXPECT_DOUBLE_EQ(*g.input_cost, 0.3);
  EXPECT_DOUBLE_EQ(*g.output_cost, 0.2);
  EXPECT_DOUBLE_EQ(*g.total_cost, 0.5);
  EXPECT_EQ(g.user_id, o.user_id);
  EXPECT_EQ(g.team, o.team);
  EXPECT_EQ(g.key, o.key);
  EXPECT_EQ(g.backend, o.backend);
  EXPECT_EQ(g.status_code, 200);
}

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

TEST_P(StoreConformanceTest, AggregatesGroupByModelUserTeamKeyAndDay) {
  std::vector<Item> items;
  for (int i = 0; i < 30; ++i) {
    std::string tid = "t" + std::to_string(i);
    items.push_back(It(MakeTrace(tid, kT0 + (i % 3) * kDay, "u" + std::to_string(i % 2))));
    Observation g = MakeGen("g" + std::to_string(i), tid, kT0 + (i % 3) * kDay, i % 2 ? "a" : "b", 10, 1, 0.25);
    g.team = i < 10 ? "red" : "blue";
    g.key = "k" + std::to_string(i % 5);
    items.push_back(It(g));
  }
  Observation span;  // spans never count as usage
  span.id = "sp";
  span.trace_id = "t0";
  span.project = "p1";
  span.start_us = kT0;
  span.input_tokens = 1000;
  items.push_back(It(span));
  MustWrite(*store_, items);
  UsageRow all = Total(*store_);
  EXPECT_EQ(all.generations, 30);
  EXPECT_EQ(all.input_tokens, 300);
  EXPECT_NEAR(all.cost, 7.5, 1e-9);
  UsageQuery q;
  q.group_by = {"team"};
  auto teams = store_->AggregateUsage(q);
  ASSERT_TRUE(teams);
  ASSERT_EQ(teams->size(), 2u);
  EXPECT_EQ((*teams)[0].group[0], "blue");
  EXPECT_EQ((*teams)[0].generations, 20);
  q.group_by = {"day"};
  auto days = store_->AggregateUsage(q);
  ASSERT_EQ(days->size(), 3u);
  std::set<std::string> names;
  for (auto& r : *days) names.insert(r.group[0]);
  EXPECT_TRUE(names.count("2024-05-01") && names.count("2024-05-03"));
  q.group_by = {"key"};
  q.user_id = "u1";
  auto keys = store_->AggregateUsage(q);
  int64_t n = 0;
  for (auto& r : *keys) n += r.generations;
  EXPECT_EQ(n, 15);
  UsageQuery ranged;
  ranged.from_us = DayOf(kT0 + kDay) * kDay;  // whole days: the range covers 2024-05-02 only
  ranged.to_us = ranged.from_us + kDay;
  EXPECT_EQ(Total(*store_, ranged).generations, 10);
  UsageQuery bad;
  bad.group_by = {"color"};
  EXPECT_FALSE(store_->AggregateUsage(bad));
}

TEST_P(StoreConformanceTest, TimeSeriesBucketsRequestsErrorsAndLatencyQuantiles) {
  constexpr int64_t kMin = 60'000'000;
  const int64_t t0 = kT0 - kT0 % (10 * kMin);
  std::vector<Item> items;
  // Minute 0: 100 generations of 10..1000 ms (TTFT a tenth); minute 3: 10, two of them errors.
  for (int i = 0; i < 110; ++i) {
    std::string tid = "t" + std::to_string(i);
    int64_t start = i < 100 ? t0 + i * 1000 : t0 + 3 * kMin + i * 1000;
    items.push_back(It(MakeTrace(tid, start)));
    Observation g = MakeGen("g" + std::to_string(i), tid, start, i % 2 ? "a" : "b", 10, 2, 0.5);
    int64_t ms = i < 100 ? 10 * (i + 1) : 50;
    g.end_us = start + ms * 1000;
    g.completion_start_us = start + ms * 100;
    if (i >= 108) g.status_code = 500;
    items.push_back(It(g));
  }
  MustWrite(*store_, items);
  TimeSeriesQuery q;
  q.from_us = t0;
  q.to_us = t0 + 5 * kMin;
  auto r = store_->TimeSeries(q);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 5u);  // empty minutes included
  const auto& m0 = (*r)[0];
  EXPECT_EQ(m0.start_us, t0);
  EXPECT_EQ(m0.requests, 100);
  EXPECT_EQ(m0.errors, 0);
  EXPECT_EQ(m0.input_tokens, 1000);
  EXPECT_NEAR(m0.cost, 50, 1e-9);
  EXPECT_NEAR(m0.latency_p50, 0.5, 0.5 * 0.15);  // log buckets: within 15%
  EXPECT_NEAR(m0.latency_p99, 0.99, 0.99 * 0.15);
  EXPECT_NEAR(m0.ttft_p90, 0.09, 0.09 * 0.15);
  EXPECT_EQ((*r)[1].requests, 0);
  EXPECT_EQ((*r)[1].latency_p50, -1);
  EXPECT_EQ((*r)[3].requests, 10);
  EXPECT_EQ((*r)[3].errors, 2);
  // Wider buckets sum the minutes; the model filter and an update's delta apply.
  q.step_us = 5 * kMin;
  q.model = "a";
  auto wide = store_->TimeSeries(q);
  ASSERT_TRUE(wide);
  ASSERT_EQ(wide->size(), 1u);
  EXPECT_EQ((*wide)[0].requests, 55);
  Observation upd;
  upd.id = "g0";
  upd.trace_id = "t0";
  upd.project = "p1";
  upd.type = ObservationType::kGeneration;
  upd.level = Level::kError;
  MustWrite(*store_, {It(upd)});
  q.model.reset();
  auto after = store_->TimeSeries(q);
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)[0].requests, 110);
  EXPECT_EQ((*after)[0].errors, 3);
  TimeSeriesQuery other = q;
  other.project = "nobody";
  EXPECT_EQ((*store_->TimeSeries(other))[0].requests, 0);
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

TEST_P(StoreConformanceTest, ListTracesFiltersAndPagesWithCursors) {
  std::vector<Item> items;
  for (int i = 0; i < 25; ++i) {
    Trace t = MakeTrace("t" + std::to_string(i), kT0 + i * 1000, i % 2 ? "odd" : "even", "s" + std::to_string(i % 3));
    t.tags = std::vector<std::string>{i % 5 == 0 ? "five" : "other"};
    items.push_back(It(t));
    Observation g = MakeGen("g" + std::to_string(i), t.id, t.timestamp_us, i < 20 ? "m1" : "m2", 1, 1, 0.1);
    if (i == 7) g.level = Level::kError;
    items.push_back(It(g));
  }
  MustWrite(*store_, items);
  TraceQuery q;
  q.project = "p1";
  q.limit = 10;
  std::set<std::string> seen;
  int pages = 0;
  int64_t last_ts = INT64_MAX;
  for (;;) {
    auto page = store_->ListTraces(q);
    ASSERT_TRUE(page) << page.error();
    ++pages;
    for (auto& s : page->items) {
      EXPECT_TRUE(seen.insert(s.trace.id).second);
      EXPECT_LE(s.trace.timestamp_us, last_ts);
      last_ts = s.trace.timestamp_us;
      EXPECT_EQ(s.observation_count, 1);
    }
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
  auto count = [&](TraceQuery f) {
    f.project = "p1";
    f.limit = 100;
    auto r = store_->ListTraces(f);
    EXPECT_TRUE(r);
    return r ? static_cast<int>(r->items.size()) : -1;
  };
  TraceQuery f;
  f.user_id = "odd";
  EXPECT_EQ(count(f), 12);
  f = {};
  f.session_id = "s0";
  EXPECT_EQ(count(f), 9);
  f = {};
  f.tag = "five";
  EXPECT_EQ(count(f), 5);
  f = {};
  f.model = "m2";
  EXPECT_EQ(count(f), 5);
  f = {};
  f.status = "error";
  EXPECT_EQ(count(f), 1);
  f.status = "ok";
  EXPECT_EQ(count(f), 24);
  f = {};
  f.from_us = kT0 + 5000;
  f.to_us = kT0 + 10000;
  EXPECT_EQ(count(f), 5);
  f = {};
  f.user_id = "nobody";
  EXPECT_EQ(count(f), 0);
  TraceQuery paged;
  paged.project = "p1";
  paged.limit = 10;
  paged.offset = 20;
  auto last = store_->ListTraces(paged);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->items.size(), 5u);
  EXPECT_EQ(last->total, 25);
  // Past the last page, or a filter on a known value that matches nothing: empty, total kept.
  paged.offset = 30;
  auto past = store_->ListTraces(paged);
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->items.empty());
  EXPECT_TRUE(past->next_cursor.empty());
  EXPECT_EQ(past->total, 25);
  TraceQuery none;
  none.project = "p1";
  none.user_id = "odd";
  none.session_id = "s9";  // interned by nothing: impossible at once
  auto empty = store_->ListTraces(none);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->total, 0);
  none.session_id = "s1";
  none.from_us = kT0 + 100'000;  // known values, no trace in range
  empty = store_->ListTraces(none);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->items.empty());
  EXPECT_EQ(empty->total, 0);
  ObservationQuery obs;
  obs.project = "p1";
  obs.model = "m2";
  obs.offset = 5;
  auto no_obs = store_->ListObservations(obs);
  ASSERT_TRUE(no_obs);
  EXPECT_TRUE(no_obs->items.empty());
  EXPECT_EQ(no_obs->total, 5);
}

TEST_P(StoreConformanceTest, ObservationTreeAndScores) {
  Observation root;
  root.id = "root";
  root.trace_id = "t";
  root.project = "p1";
  root.start_us = kT0;
  Observation child = MakeGen("child", "t", kT0 + 10, "m", 1, 1, 0);
  child.parent_id = "root";
  Observation ev;
  ev.id = "ev";
  ev.trace_id = "t";
  ev.project = "p1";
  ev.type = ObservationType::kEvent;
  ev.parent_id = "child";
  ev.start_us = kT0 + 20;
  Score s;
  s.id = "sc";
  s.project = "p1";
  s.trace_id = "t";
  s.observation_id = "child";
  s.name = "quality";
  s.value = 0.9;
  s.comment = "good";
  s.data_type = "NUMERIC";
  s.timestamp_us = kT0;
  MustWrite(*store_, {It(MakeTrace("t", kT0)), It(ev), It(child), It(root), It(s)});
  ObservationQuery q;
  q.project = "p1";
  q.trace_id = "t";
  auto page = store_->ListObservations(q);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].id, "root");
  EXPECT_EQ(page->items[1].parent_id, "root");
  EXPECT_EQ(page->items[2].type, ObservationType::kEvent);
  q.trace_id.reset();
  q.type = "GENERATION";
  EXPECT_EQ(store_->ListObservations(q)->items.size(), 1u);
  auto scores = store_->ListScores("p1", "t");
  ASSERT_TRUE(scores);
  ASSERT_EQ(scores->size(), 1u);
  EXPECT_EQ((*scores)[0].name, "quality");
  EXPECT_EQ((*scores)[0].observation_id, "child");
  EXPECT_DOUBLE_EQ(*(*scores)[0].value, 0.9);
  EXPECT_EQ((*scores)[0].comment, "good");
}

TEST_P(StoreConformanceTest, QueryScoresFiltersAndPages) {
  Trace t1 = MakeTrace("t1", kT0);
  t1.user_id = "alice";
  Trace t2 = MakeTrace("t2", kT0);
  t2.user_id = "bob";
  std::vector<Item> items = {It(t1), It(t2)};
  for (int i = 0; i < 5; ++i) {
    Score s;
    s.id = "s" + std::to_string(i);
    s.project = "p1";
    s.trace_id = i < 3 ? "t1" : "t2";
    s.name = i % 2 ? "quality" : "latency";
    s.value = 0.25 * i;
    s.source = i == 4 ? "ANNOTATION" : "API";
    s.timestamp_us = kT0 + i;
    items.push_back(It(s));
  }
  Score cat;
  cat.id = "c";
  cat.project = "p1";
  cat.trace_id = "t2";
  cat.name = "label";
  cat.string_value = "good";
  cat.timestamp_us = kT0 + 10;
  items.push_back(It(cat));
  MustWrite(*store_, items);

  auto ids = [&](ScoreQuery q) {
    q.project = "p1";
    std::vector<std::string> out;
    auto r = store_->QueryScores(q);
    EXPECT_TRUE(r) << (r ? "" : r.error());
    if (r)
      for (const auto& s : r->items) out.push_back(s.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"c", "s4", "s3", "s2", "s1", "s0"}));  // newest first
  ScoreQuery q;
  q.name = "quality";
  EXPECT_EQ(ids(q), (V{"s3", "s1"}));
  q = {};
  q.user_id = "alice";
  EXPECT_EQ(ids(q), (V{"s2", "s1", "s0"}));
  q.user_id = "nobody";
  EXPECT_TRUE(ids(q).empty());
  q = {};
  q.op = ">=";
  q.value = 0.5;
  EXPECT_EQ(ids(q), (V{"s4", "s3", "s2"}));
  q = {};
  q.data_type = "CATEGORICAL";
  EXPECT_EQ(ids(q), (V{"c"}));
  q = {};
  q.source = "ANNOTATION";
  EXPECT_EQ(ids(q), (V{"s4"}));
  q = {};
  q.ids = {"s0", "c"};
  EXPECT_EQ(ids(q), (V{"c", "s0"}));
  q = {};
  q.trace_id = "t2";
  q.from_us = kT0 + 4;
  EXPECT_EQ(ids(q), (V{"c", "s4"}));
  q = {};
  q.limit = 2;
  q.offset = 2;
  q.project = "p1";
  auto page = store_->QueryScores(q);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->total, 6);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, "s3");
  q = {};
  q.project = "other";
  EXPECT_EQ(store_->QueryScores(q)->total, 0);
  q = {};
  q.op = "LIKE";
  q.value = 1;
  EXPECT_FALSE(store_->QueryScores(q));
}

// Tenants: a project reads only its own rows; the empty project (the admin) reads every one.
TEST_P(StoreConformanceTest, ProjectsIsolateTenantsAndEmptyProjectReadsAll) {
  Trace mine = MakeTrace("t-mine", kT0, "u", "s-mine");
  Trace theirs = MakeTrace("t-theirs", kT0 + 10, "v", "s-theirs");
  theirs.project = "p2";
  Observation g = MakeGen("g-theirs", "t-theirs", kT0 + 10, "m", 1, 2, 0.25);
  g.project = "p2";
  MustWrite(*store_, {It(mine), It(theirs), It(g)});

  TraceQuery q;
  q.project = "p1";
  auto p1 = store_->ListTraces(q);
  ASSERT_TRUE(p1) << p1.error();
  ASSERT_EQ(p1->items.size(), 1u);
  EXPECT_EQ(p1->items[0].trace.id, "t-mine");
  EXPECT_FALSE(*store_->GetTrace("p1", "t-theirs"));
  EXPECT_FALSE(*store_->GetSession("p1", "s-theirs"));
  ObservationQuery oq;
  oq.project = "p1";
  EXPECT_EQ(store_->ListObservations(oq)->items.size(), 0u);

  q.project = "";
  auto all = store_->ListTraces(q);
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(all->items.size(), 2u);
  auto got = store_->GetTrace("", "t-theirs");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->project, "p2");
  auto session = store_->GetSession("", "s-theirs");
  ASSERT_TRUE(session && *session);
  EXPECT_DOUBLE_EQ((*session)->total_cost, 0.25);
  oq.project = "";
  EXPECT_EQ(store_->ListObservations(oq)->items.size(), 1u);
  SessionQuery sq;
  sq.project = "";
  EXPECT_EQ(store_->ListSessions(sq)->items.size(), 2u);
}

TEST_P(StoreConformanceTest, SessionsGroupTraces) {
  MustWrite(*store_, {It(MakeTrace("a", kT0, "u", "s1")), It(MakeTrace("b", kT0 + 100, "u", "s1")),
                      It(MakeTrace("c", kT0 + 50, "v", "s2")), It(MakeTrace("d", kT0)),
                      It(MakeGen("g", "b", kT0 + 100, "m", 3, 4, 0.5))});
  SessionQuery q;
  q.project = "p1";
  auto page = store_->ListSessions(q);
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->total, 2);
  EXPECT_EQ(page->items[0].id, "s1");
  EXPECT_EQ(page->items[0].trace_count, 2);
  EXPECT_EQ(page->items[0].first_us, kT0);
  EXPECT_EQ(page->items[0].last_us, kT0 + 100);
  EXPECT_DOUBLE_EQ(page->items[0].total_cost, 0.5);
  auto one = store_->GetSession("p1", "s2");
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->user_id, "v");
  EXPECT_FALSE(*store_->GetSession("p1", "nope"));
}

TEST_P(StoreConformanceTest, RetentionDeletesWholeOldDays) {
  MustWrite(*store_, {It(MakeTrace("old", kT0 - 3 * kDay)), It(MakeGen("g-old", "old", kT0 - 3 * kDay, "m", 1, 1, 1)),
                      It(MakeTrace("new", kT0)), It(MakeGen("g-new", "new", kT0, "m", 1, 1, 1))});
  auto deleted = store_->DeleteOlderThan(kT0 - kDay);
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(*deleted, 1);
  EXPECT_FALSE(*store_->GetTrace("p1", "old"));
  EXPECT_TRUE(*store_->GetTrace("p1", "new"));
  EXPECT_EQ(Total(*store_).generations, 1);
  ObservationQuery q;
  q.project = "p1";
  EXPECT_EQ(store_->ListObservations(q)->items.size(), 1u);
}

TEST_P(StoreConformanceTest, ReadsRunWhileBatchesCommit) {
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    do {  // at least once, even when the writes finish before this thread is scheduled
      TraceQuery q;
      q.project = "p1";
      auto r = store_->ListTraces(q);
      EXPECT_TRUE(r);
      ++reads;
    } while (!done);
  });
  for (int b = 0; b < 20; ++b) {
    std::vector<Item> items;
    for (int i = 0; i < 50; ++i) {
      std::string id = "t" + std::to_string(b * 50 + i);
      items.push_back(It(MakeTrace(id, kT0 + i)));
      items.push_back(It(MakeGen("g" + id, id, kT0 + i, "m", 1, 1, 0.01)));
    }
    MustWrite(*store_, items);
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Total(*store_).generations, 1000);
}

TEST_P(StoreConformanceTest, DataSurvivesReopen) {
  MustWrite(*store_, {It(MakeTrace("t", kT0, "u")), It(MakeGen("g", "t", kT0, "m", 5, 6, 0.75), "ev-1")});
  store_ = Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_TRUE(*store_->GetTrace("p1", "t"));
  EXPECT_DOUBLE_EQ(Total(*store_).cost, 0.75);
  MustWrite(*store_, {It(MakeGen("g", "t", kT0, "m", 5, 6, 0.75), "ev-1")});  // still deduplicated
  EXPECT_EQ(Total(*store_).generations, 1);
  auto stats = store_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->traces, 1);
  EXPECT_EQ(stats->observations, 1);
  EXPECT_GT(stats->bytes, 0);
}

}  // namespace ap::telemetry
