// telemetry/store_conformance_queries.cc — the conformance suite's query part: trace filters and
// cursor paging, the observation tree and scores, score queries, tenant isolation by project,
// sessions. The rest of the suite is in store_conformance.cc.
#include <set>

#include "telemetry/store_conformance.h"

namespace ap::telemetry {

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

}  // namespace ap::telemetry
