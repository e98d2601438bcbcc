// telemetry/store_conformance.cc — the Store conformance suite (see store_conformance.h): the
// fixture, round trips of every field, reads concurrent with batch commits, reopen durability.
//
// Checks the contract, not an implementation. By area, the rest is in store_conformance_upserts.cc
// (Langfuse merge semantics, idempotent event ids, placeholder traces, the rollup under updates,
// pricing hook), store_conformance_queries.cc (filters and paging, sessions, scores, tenants),
// store_conformance_usage.cc (aggregates, time series, retention) and
// store_conformance_gateway.cc (gateway requests).
#include "telemetry/store_conformance.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <unistd.h>

namespace ap::telemetry {

Trace StoreConformanceTest::MakeTrace(const std::string& id, int64_t ts, const std::string& user,
                                      const std::string& session) {
  Trace t;
  t.id = id;
  t.project = "p1";
  t.timestamp_us = ts;
  if (!user.empty()) t.user_id = user;
  if (!session.empty()) t.session_id = session;
  return t;
}

Observation StoreConformanceTest::MakeGen(const std::string& id, const std::string& trace, int64_t start,
                                          const std::string& model, int64_t in, int64_t out, double cost) {
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

Item StoreConformanceTest::It(Trace t, std::string event) { return Item{std::move(event), false, std::move(t)}; }
Item StoreConformanceTest::It(Observation o, std::string event) {
  return Item{std::move(event), false, std::move(o)};
}
Item StoreConformanceTest::It(Score s, std::string event) { return Item{std::move(event), false, std::move(s)}; }

void StoreConformanceTest::MustWrite(Store& s, std::vector<Item> items) {
  auto r = s.Write(items);
  ASSERT_TRUE(r) << r.error();
}

UsageRow StoreConformanceTest::Total(Store& s, UsageQuery q) {
  auto r = s.AggregateUsage(q);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r && !r->empty() ? r->front() : UsageRow{};
}

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
