// telemetry/store_conformance_gateway.cc — the conformance suite's gateway part: requests as
// GatewaySink turns them into items (a trace whose id the gateway minted and its one generation)
// must read back through every query exactly as the trace and generation they are, mixed with
// traces from other sources, and stay right when later writes touch their traces.
//
// A store may keep gateway requests in a form of its own (the SQLite store writes one compact
// row per request, internal/request_rows.h); these tests are what that form has to honour. The
// rest of the suite is in store_conformance.cc.
#include <functional>
#include <set>

#include "base/random.h"
#include "telemetry/pricing.h"
#include "telemetry/sink.h"
#include "telemetry/store_conformance.h"

namespace ap::telemetry {
namespace {

constexpr int64_t kDay = 86'400'000'000;
constexpr int64_t kT0 = 1'714'564'800'000'000;  // 2024-05-01T12:00:00Z

// Request i of a small mixed workload: two users, three sessions (one: none), two models, tags
// on every third, an error on i == 4, a caller span on i == 2.
gateway::CompletionRecord Request(int i, int64_t start_us) {
  gateway::CompletionRecord r;
  r.request_id = "req-" + std::to_string(i);
  r.path = "/v1/chat/completions";
  r.model = i % 2 ? "m2" : "m1";
  r.backend = "b" + std::to_string(i % 2);
  r.user = i % 3 == 0 ? "u0" : "u1";
  if (i % 4 != 3) r.session_id = "s" + std::to_string(i % 2);
  r.team = "team-a";
  r.key_id = "key-0123456789ab";
  r.project = "p1";
  r.trace_id = TimeOrderedHexId(start_us / 1000);
  r.trace_minted = true;
  r.span_id = RandomHexId(8);
  if (i == 2) r.parent_span_id = "00f067aa0ba902b7";
  if (i % 3 == 0) r.tags = {"gw", "three"};
  r.status = i == 4 ? 500 : 200;
  if (i == 4) r.error = "upstream failed";
  r.start = std::chrono::system_clock::time_point(std::chrono::microseconds(start_us));
  r.first_byte = std::chrono::microseconds(1000 + i);
  r.duration = std::chrono::microseconds(5000 + i);
  r.usage = {10 + i, 2 + i, 12 + 2 * i, i == 1 ? 3 : 0, true};
  return r;
}

struct Written {
  std::vector<gateway::CompletionRecord> requests;
  std::vector<std::vector<Item>> groups;  // as GatewaySink enqueues them: one group per request
};

// How the sink hands a gateway request over: as a trace and a generation (items), or as one
// compact record (gateway_request.h, what GatewaySink::Record queues for a minted trace id). A
// store must read both back the same; every gateway test runs once per form.
enum class Form { kItems, kCompact };
constexpr Form kForms[] = {Form::kItems, Form::kCompact};
const char* FormName(Form f) { return f == Form::kItems ? "items" : "compact"; }

// Ten gateway requests at kT0 + i ms, written in one batch (one group each, as the writer hands
// them over, or as compact records), plus two Langfuse-style traces between them in time.
Written WriteWorkload(Store& store, Form form) {
  SinkOptions options;
  options.project = "p1";
  options.environment = "prod";
  GatewaySink sink(nullptr, nullptr, nullptr, options);
  Written w;
  for (int i = 0; i < 10; ++i) {
    w.requests.push_back(Request(i, kT0 + i * 1000));
    Cost cost{0.001 * (i + 1), 0.002, 0.001 * (i + 1) + 0.002, "price_table"};
    w.groups.push_back(sink.ToItems(w.requests.back(), cost));
  }
  Trace other;
  other.id = "lf-trace-1";
  other.project = "p1";
  other.timestamp_us = kT0 + 4500;
  other.user_id = "u0";
  other.session_id = "s0";
  w.groups.push_back({Item{"", false, other}});
  other.id = "lf-trace-2";
  other.timestamp_us = kT0 + 20'000;
  w.groups.push_back({Item{"", false, other}});
  std::vector<GatewayRequest> compact;
  if (form == Form::kCompact) {
    for (size_t i = 0; i < w.requests.size(); ++i) {
      Cost cost{0.001 * static_cast<double>(i + 1), 0.002, 0.001 * static_cast<double>(i + 1) + 0.002, "price_table"};
      EXPECT_TRUE(sink.ToRequest(w.requests[i], cost, &compact.emplace_back())) << i;
    }
  }
  std::vector<std::span<const Item>> spans(w.groups.begin() + static_cast<long>(compact.size()), w.groups.end());
  auto r = store.WriteBatch(spans, compact);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return w;
}

// A query of project p1 with `set` applied (the suite's query structs have many fields).
template <typename Query>
Query In(std::function<void(Query&)> set = nullptr) {
  Query q;
  q.project = "p1";
  if (set) set(q);
  return q;
}

std::vector<TraceSummary> AllTraces(Store& store, TraceQuery q) {
  q.limit = 1000;
  auto page = store.ListTraces(q);
  EXPECT_TRUE(page) << (page ? "" : page.error());
  return page ? page->items : std::vector<TraceSummary>{};
}

}  // namespace

TEST_P(StoreConformanceTest, GatewayRequestsReadBackAsTraceAndGeneration) {
  for (Form form : kForms) {
    SCOPED_TRACE(FormName(form));
    store_ = OpenFresh(FormName(form));
    ASSERT_NE(store_, nullptr);
    Written w = WriteWorkload(*store_, form);
    for (size_t i = 0; i < w.requests.size(); ++i) {
      const auto& r = w.requests[i];
      auto t = store_->GetTrace("p1", r.trace_id);
      ASSERT_TRUE(t && *t) << i;
      const Trace& tr = **t;
      EXPECT_EQ(tr.id, r.trace_id);
      EXPECT_EQ(tr.project, "p1");
      EXPECT_EQ(tr.timestamp_us, kT0 + static_cast<int64_t>(i) * 1000);
      EXPECT_EQ(tr.name, "/v1/chat/completions");
      EXPECT_EQ(tr.user_id, r.user);
      EXPECT_EQ(tr.session_id, r.session_id.empty() ? std::nullopt : std::optional<std::string>(r.session_id));
      EXPECT_EQ(tr.environment, "prod");
      EXPECT_EQ(tr.tags.value_or(std::vector<std::string>{}), r.tags);
      EXPECT_FALSE(tr.input || tr.output || tr.metadata || tr.release || tr.version || tr.is_public);
      EXPECT_FALSE(*store_->GetTrace("other", r.trace_id));  // tenancy

      auto obs = store_->ListObservations(In<ObservationQuery>([&](auto& q) { q.trace_id = r.trace_id; }));
      ASSERT_TRUE(obs) << obs.error();
      ASSERT_EQ(obs->items.size(), 1u);
      EXPECT_EQ(obs->total, 1);
      const Observation& g = obs->items[0];
      EXPECT_EQ(g.id, r.span_id);
      EXPECT_EQ(g.trace_id, r.trace_id);
      EXPECT_EQ(g.project, "p1");
      EXPECT_EQ(g.type, ObservationType::kGeneration);
      EXPECT_EQ(g.name, "/v1/chat/completions");
      EXPECT_EQ(g.parent_id, r.parent_span_id.empty() ? std::nullopt : std::optional<std::string>(r.parent_span_id));
      EXPECT_EQ(g.start_us, tr.timestamp_us);
      EXPECT_EQ(g.end_us, tr.timestamp_us + 5000 + static_cast<int64_t>(i));
      EXPECT_EQ(g.completion_start_us, tr.timestamp_us + 1000 + static_cast<int64_t>(i));
      EXPECT_EQ(g.model, r.model);
      EXPECT_EQ(g.backend, r.backend);
      EXPECT_EQ(g.user_id, r.user);
      EXPECT_EQ(g.team, "team-a");
      EXPECT_EQ(g.key, "key-0123456789ab");
      EXPECT_EQ(g.environment, "prod");
      EXPECT_EQ(g.status_code, r.status);
      EXPECT_EQ(g.input_tokens, r.usage.prompt_tokens);
      EXPECT_EQ(g.output_tokens, r.usage.completion_tokens);
      EXPECT_EQ(g.total_tokens, r.usage.total_tokens);
      EXPECT_EQ(g.cached_tokens, r.usage.cached_tokens ? std::optional<int64_t>(r.usage.cached_tokens) : std::nullopt);
      EXPECT_DOUBLE_EQ(g.input_cost.value_or(-1), 0.001 * static_cast<double>(i + 1));
      EXPECT_DOUBLE_EQ(g.output_cost.value_or(-1), 0.002);
      EXPECT_DOUBLE_EQ(g.total_cost.value_or(-1), 0.001 * static_cast<double>(i + 1) + 0.002);
      if (i == 4) {
        EXPECT_EQ(g.level, Level::kError);
        EXPECT_EQ(g.status_message, "upstream failed");
      } else {
        EXPECT_FALSE(g.level || g.status_message);
      }
      EXPECT_FALSE(g.input || g.output || g.metadata || g.model_parameters || g.cost_details || g.version);
    }
    auto stats = store_->Stats();
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->traces, 12);
    EXPECT_EQ(stats->observations, 10);
  }
}

TEST_P(StoreConformanceTest, GatewayRequestsListFilterAndPageWithOtherTraces) {
  for (Form form : kForms) {
    SCOPED_TRACE(FormName(form));
    store_ = OpenFresh(FormName(form));
    ASSERT_NE(store_, nullptr);
    Written w = WriteWorkload(*store_, form);
    // Newest first across both kinds, every trace once, cursor paging.
    TraceQuery q;
    q.project = "p1";
    q.limit = 5;
    std::vector<std::string> order;
    int pages = 0;
    for (;;) {
      auto page = store_->ListTraces(q);
      ASSERT_TRUE(page) << page.error();
      if (pages++ == 0) {
        EXPECT_EQ(page->total, 12);
      }
      for (const auto& s : page->items) {
        order.push_back(s.trace.id);
        if (s.trace.id.starts_with("lf-")) {
          EXPECT_EQ(s.observation_count, 0);
          continue;
        }
        EXPECT_EQ(s.observation_count, 1);
        EXPECT_GE(s.latency_us, 5000);  // the generation's duration
        EXPECT_EQ(s.has_error, s.trace.id == w.requests[4].trace_id);
        EXPECT_GT(s.total_cost, 0);
        EXPECT_GT(s.input_tokens, 0);
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    EXPECT_EQ(pages, 3);
    std::vector<std::string> expected = {"lf-trace-2"};
    for (int i = 9; i >= 0; --i) {
      expected.push_back(w.requests[i].trace_id);
      if (i == 5) expected.push_back("lf-trace-1");
    }
    EXPECT_EQ(order, expected);
    // Offset paging (Langfuse's) and the admin's view across projects.
    TraceQuery paged;
    paged.project = "p1";
    paged.limit = 4;
    paged.offset = 8;
    auto last = store_->ListTraces(paged);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->items.size(), 4u);
    EXPECT_EQ(AllTraces(*store_, TraceQuery{}).size(), 12u);

    auto count = [&](std::function<void(TraceQuery&)> set) { return AllTraces(*store_, In<TraceQuery>(set)).size(); };
    EXPECT_EQ(count([](auto& f) { f.user_id = "u0"; }), 6u);  // requests 0, 3, 6, 9 and both lf traces
    EXPECT_EQ(count([](auto& f) { f.session_id = "s0"; }), 7u);  // requests 0, 2, 4, 6, 8 and both lf traces
    EXPECT_EQ(count([](auto& f) { f.name = "/v1/chat/completions"; }), 10u);
    EXPECT_EQ(count([](auto& f) { f.model = "m2"; }), 5u);
    EXPECT_EQ(count([](auto& f) { f.tag = "three"; }), 4u);
    EXPECT_EQ(count([](auto& f) { f.environment = "prod"; }), 10u);
    EXPECT_EQ(count([](auto& f) { f.status = "error"; }), 1u);
    EXPECT_EQ(count([](auto& f) { f.status = "ok"; }), 11u);
    EXPECT_EQ(count([](auto& f) {
                f.from_us = kT0 + 2000;
                f.to_us = kT0 + 5000;
              }), 4u);  // requests 2, 3, 4 and lf-trace-1
    EXPECT_EQ(count([](auto& f) { f.user_id = "nobody"; }), 0u);
  }
}

TEST_P(StoreConformanceTest, GatewayRequestsInObservationsSessionsScoresAndUsage) {
  for (Form form : kForms) {
    SCOPED_TRACE(FormName(form));
    store_ = OpenFresh(FormName(form));
    ASSERT_NE(store_, nullptr);
    Written w = WriteWorkload(*store_, form);
    auto list = [&](std::function<void(ObservationQuery&)> set) {
      ObservationQuery q = In<ObservationQuery>(set);
      q.limit = 100;
      auto page = store_->ListObservations(q);
      EXPECT_TRUE(page) << (page ? "" : page.error());
      return page ? page->items : std::vector<Observation>{};
    };
    auto all = list(nullptr);
    ASSERT_EQ(all.size(), 10u);
    EXPECT_EQ(all.front().id, w.requests[9].span_id);  // newest first
    EXPECT_EQ(list([](auto& q) { q.model = "m1"; }).size(), 5u);
    EXPECT_EQ(list([](auto& q) { q.user_id = "u1"; }).size(), 6u);
    EXPECT_EQ(list([](auto& q) { q.name = "/v1/chat/completions"; }).size(), 10u);
    EXPECT_EQ(list([](auto& q) { q.type = "GENERATION"; }).size(), 10u);
    EXPECT_EQ(list([](auto& q) { q.type = "SPAN"; }).size(), 0u);
    EXPECT_EQ(list([](auto& q) { q.parent_id = "00f067aa0ba902b7"; }).size(), 1u);
    EXPECT_EQ(list([](auto& q) { q.from_us = kT0 + 8000; }).size(), 2u);

    // Sessions count the requests' traces and their generations' cost and tokens.
    auto s0 = store_->GetSession("p1", "s0");
    ASSERT_TRUE(s0 && *s0);
    EXPECT_EQ((*s0)->trace_count, 7);  // requests 0, 2, 4, 6, 8 and both lf traces
    EXPECT_EQ((*s0)->first_us, kT0);
    EXPECT_EQ((*s0)->last_us, kT0 + 20'000);
    double cost = 0;
    int64_t in = 0;
    for (int i : {0, 2, 4, 6, 8}) {
      cost += 0.001 * (i + 1) + 0.002;
      in += 10 + i;
    }
    EXPECT_NEAR((*s0)->total_cost, cost, 1e-12);
    EXPECT_EQ((*s0)->input_tokens, in);
    auto sessions = store_->ListSessions(In<SessionQuery>());
    ASSERT_TRUE(sessions) << sessions.error();
    EXPECT_EQ(sessions->total, 2);
    ASSERT_EQ(sessions->items.size(), 2u);
    EXPECT_EQ(sessions->items[0].id, "s0");  // its last trace is lf-trace-2
    EXPECT_EQ(sessions->items[1].trace_count, 3);  // s1: requests 1, 5, 9 (3 and 7 have none)

    // Scores filtered by the user of a request's trace.
    Score sc;
    sc.id = "sc1";
    sc.project = "p1";
    sc.trace_id = w.requests[3].trace_id;
    sc.name = "quality";
    sc.value = 1;
    sc.timestamp_us = kT0;
    ASSERT_TRUE(store_->Write(std::vector<Item>{Item{"", false, sc}}));
    auto scores = store_->QueryScores(In<ScoreQuery>([](auto& q) { q.user_id = "u0"; }));
    ASSERT_TRUE(scores) << scores.error();
    EXPECT_EQ(scores->total, 1);
    EXPECT_EQ(store_->QueryScores(In<ScoreQuery>([](auto& q) { q.user_id = "u1"; }))->total, 0);

    // Usage and the dashboard's time series count every request once.
    auto usage = store_->AggregateUsage(In<UsageQuery>([](auto& q) { q.group_by = {"model"}; }));
    ASSERT_TRUE(usage);
    int64_t n = 0;
    for (const auto& row : *usage) n += row.generations;
    EXPECT_EQ(n, 10);
    auto series = store_->TimeSeries(In<TimeSeriesQuery>([](auto& q) {
      q.from_us = kT0 - 60'000'000;
      q.to_us = kT0 + 60'000'000;
    }));
    ASSERT_TRUE(series) << series.error();
    int64_t requests = 0, errors = 0;
    for (const auto& b : *series) {
      requests += b.requests;
      errors += b.errors;
    }
    EXPECT_EQ(requests, 10);
    EXPECT_EQ(errors, 1);
  }
}

// Writes that arrive later for a request's trace (an SDK span under it, a trace update, a second
// generation) merge with it as with any trace: still one trace, the generation unchanged, the
// usage counted once.
TEST_P(StoreConformanceTest, LaterWritesToAGatewayRequestsTraceMerge) {
  for (Form form : kForms) {
    SCOPED_TRACE(FormName(form));
    store_ = OpenFresh(FormName(form));
    ASSERT_NE(store_, nullptr);
    Written w = WriteWorkload(*store_, form);
    const std::string t1 = w.requests[1].trace_id, t2 = w.requests[2].trace_id;
    Observation span;
    span.id = "sdk-span";
    span.trace_id = t1;
    span.project = "p1";
    span.start_us = kT0 + 1500;
    span.end_us = kT0 + 1600;
    span.parent_id = w.requests[1].span_id;
    Trace update;
    update.id = t2;
    update.project = "p1";
    update.release = "v2";
    update.metadata = R"({"k":1})";
    ASSERT_TRUE(store_->Write(std::vector<Item>{Item{"e1", false, span}, Item{"e2", false, update}}));

    auto obs = store_->ListObservations(In<ObservationQuery>([&](auto& q) { q.trace_id = t1; }));
    ASSERT_TRUE(obs);
    ASSERT_EQ(obs->items.size(), 2u);
    EXPECT_EQ(obs->items[0].id, w.requests[1].span_id);
    EXPECT_EQ(obs->items[0].status_code, 200);
    EXPECT_EQ(obs->items[0].model, "m2");
    EXPECT_EQ(obs->items[0].cached_tokens, 3);
    EXPECT_EQ(obs->items[1].id, "sdk-span");
    auto tr2 = store_->GetTrace("p1", t2);
    ASSERT_TRUE(tr2 && *tr2);
    EXPECT_EQ((*tr2)->release, "v2");
    EXPECT_EQ((*tr2)->metadata, R"({"k":1})");
    EXPECT_EQ((*tr2)->user_id, "u1");
    EXPECT_EQ((*tr2)->session_id, "s0");
    EXPECT_EQ((*tr2)->timestamp_us, kT0 + 2000);
    EXPECT_EQ((*tr2)->name, "/v1/chat/completions");

    TraceQuery q;
    q.project = "p1";
    auto traces = AllTraces(*store_, q);
    EXPECT_EQ(traces.size(), 12u);
    std::set<std::string> ids;
    for (const auto& s : traces) {
      EXPECT_TRUE(ids.insert(s.trace.id).second) << s.trace.id;
      if (s.trace.id == t1) {
        EXPECT_EQ(s.observation_count, 2);
      }
    }
    auto usage = store_->AggregateUsage(In<UsageQuery>());
    ASSERT_TRUE(usage && !usage->empty());
    EXPECT_EQ(usage->front().generations, 10);
    auto s0 = store_->GetSession("p1", "s0");
    ASSERT_TRUE(s0 && *s0);
    EXPECT_EQ((*s0)->trace_count, 7);
    auto stats = store_->Stats();
    EXPECT_EQ(stats->traces, 12);
    EXPECT_EQ(stats->observations, 11);
  }
}

TEST_P(StoreConformanceTest, GatewayRequestsSurviveReopenAndAgeOut) {
  for (Form form : kForms) {
    SCOPED_TRACE(FormName(form));
    store_ = OpenFresh(FormName(form));
    ASSERT_NE(store_, nullptr);
    SinkOptions options;
    options.project = "p1";
    GatewaySink sink(nullptr, nullptr, nullptr, options);
    auto old_r = Request(0, kT0 - 3 * kDay), new_r = Request(1, kT0);
    auto old_items = sink.ToItems(old_r, std::nullopt), new_items = sink.ToItems(new_r, std::nullopt);
    const std::span<const Item> groups[] = {old_items, new_items};
    GatewayRequest compact[2];
    ASSERT_TRUE(sink.ToRequest(old_r, std::nullopt, &compact[0]) && sink.ToRequest(new_r, std::nullopt, &compact[1]));
    if (form == Form::kItems) {
      ASSERT_TRUE(store_->WriteGroups(groups));
    } else {
      ASSERT_TRUE(store_->WriteBatch({}, compact));
    }
    store_ = Reopen();
    ASSERT_NE(store_, nullptr);
    EXPECT_TRUE(*store_->GetTrace("p1", old_r.trace_id));
    auto deleted = store_->DeleteOlderThan(kT0 - kDay);
    ASSERT_TRUE(deleted) << deleted.error();
    EXPECT_EQ(*deleted, 1);
    EXPECT_FALSE(*store_->GetTrace("p1", old_r.trace_id));
    EXPECT_TRUE(*store_->GetTrace("p1", new_r.trace_id));
    auto obs = store_->ListObservations(In<ObservationQuery>());
    ASSERT_TRUE(obs);
    ASSERT_EQ(obs->items.size(), 1u);
    EXPECT_EQ(obs->items[0].id, new_r.span_id);
    EXPECT_FALSE(obs->items[0].total_cost);  // unpriced stays unpriced
  }
}

}  // namespace ap::telemetry
