// telemetry/internal/queries.cc — see queries.h. Langfuse's read API (page/limit, camelCase) and
// agentplane's own JSON API (cursor paging, observation tree, usage aggregates).
#include "telemetry/internal/queries.h"

#include <boost/json.hpp>

#include "base/strings.h"
#include "telemetry/langfuse.h"

namespace ap::telemetry::internal {
namespace json = boost::json;
namespace {

std::optional<std::string> Get(const Params& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

int64_t IntParam(const Params& p, const char* key, int64_t def) {
  auto v = Get(p, key);
  if (!v) return def;
  auto n = ParseUint(*v);
  return n ? static_cast<int64_t>(*n) : def;
}

// ISO 8601, or a number of milliseconds since the epoch. -1: malformed.
int64_t TimeParam(const Params& p, const char* key) {
  auto v = Get(p, key);
  if (!v) return 0;
  if (auto t = ParseIsoTime(*v)) return *t;
  if (auto n = ParseUint(*v)) return static_cast<int64_t>(*n) * 1000;
  return -1;
}

Reply Ok(const json::value& v) { return {200, json::serialize(v)}; }


Reply StoreError(const std::string& e) { return JsonError(500, "store: " + e); }

json::object TraceDetail(Store& store, const Trace& t, std::vector<Observation>& obs, const std::vector<Score>& scores) {
  int64_t first = 0, last = 0;
  double cost = 0;
  json::array oj, sj;
  for (const auto& o : obs) {
    oj.push_back(langfuse::ObservationJson(o));
    if (!first || o.start_us < first) first = o.start_us;
    last = std::max(last, std::max(o.end_us, o.start_us));
    cost += o.total_cost.value_or(0);
  }
  for (const auto& s : scores) sj.push_back(langfuse::ScoreJson(s));
  json::object j = langfuse::TraceJson(t);
  j["observations"] = std::move(oj);
  j["scores"] = std::move(sj);
  j["latency"] = static_cast<double>(last - first) / 1e6;
  j["totalCost"] = cost;
  return j;
}

// A trace's observations in time order, at most `limit` of them.
Result<std::vector<Observation>> AllObservations(Store& store, const std::string& project, const std::string& trace,
                                                 int limit = 10000) {
  ObservationQuery q;
  q.project = project;
  q.trace_id = trace;
  q.limit = limit;
  auto page = store.ListObservations(q);
  if (!page) return page.error();
  return std::move(page->items);
}

TraceQuery TraceFilter(const std::string& project, const Params& p, bool langfuse) {
  TraceQuery q;
  q.project = project;
  q.user_id = Get(p, langfuse ? "userId" : "user");
  q.session_id = Get(p, langfuse ? "sessionId" : "session");
  q.name = Get(p, "name");
  q.tag = Get(p, langfuse ? "tags" : "tag");
  q.model = Get(p, "model");
  q.status = Get(p, "status");
  q.environment = Get(p, "environment");
  q.from_us = TimeParam(p, langfuse ? "fromTimestamp" : "from");
  q.to_us = TimeParam(p, langfuse ? "toTimestamp" : "to");
  q.limit = static_cast<int>(std::clamp<int64_t>(IntParam(p, "limit", 50), 1, 1000));
  return q;
}

Reply TraceReply(Store& store, const std::string& project, const std::string& id, bool with_tree);

}  // namespace

Reply JsonError(int status, const std::string& message) {
  json::object o;
  o["message"] = message;
  o["error"] = status == 401 ? "Unauthorized" : status == 404 ? "NotFound" : status == 400 ? "InvalidRequest" : "Error";
  return {status, json::serialize(o)};
}

namespace {

// GET /api/public/scores[/{id}] (and /api/public/v2/scores): Langfuse's filters and paging.
Reply ScoresReply(Store& store, const std::string& project, const std::string& id, int64_t page, int64_t limit,
                  const Params& p) {
  ScoreQuery q;
  q.project = project;
  q.limit = static_cast<int>(limit);
  q.offset = (page - 1) * limit;
  if (!id.empty()) {
    q.ids = {id};
  } else if (auto ids = Get(p, "scoreIds")) {
    for (auto part : Split(*ids, ','))
      if (auto v = Trim(part); !v.empty()) q.ids.emplace_back(v);
  }
  q.trace_id = Get(p, "traceId");
  q.observation_id = Get(p, "observationId");
  q.session_id = Get(p, "sessionId");
  q.user_id = Get(p, "userId");
  q.name = Get(p, "name");
  q.source = Get(p, "source");
  q.data_type = Get(p, "dataType");
  q.from_us = TimeParam(p, "fromTimestamp");
  q.to_us = TimeParam(p, "toTimestamp");
  if (q.from_us < 0 || q.to_us < 0) return JsonError(400, "fromTimestamp/toTimestamp must be ISO 8601");
  if (auto v = Get(p, "value")) {
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || *end) return JsonError(400, "value must be a number");
    q.value = d;
    q.op = Get(p, "operator").value_or("=");
  }
  auto r = store.QueryScores(q);
  if (!r) return r.error().starts_with("operator") ? JsonError(400, r.error()) : StoreError(r.error());
  if (!id.empty()) {
    if (r->items.empty()) return JsonError(404, "score " + id + " not found");
    return Ok(langfuse::ScoreJson(r->items.front()));
  }
  json::array data;
  for (const auto& s : r->items) data.push_back(langfuse::ScoreJson(s));
  return Ok(json::object{{"data", std::move(data)}, {"meta", langfuse::PageMeta(page, limit, r->total)}});
}

}  // namespace

Reply LangfuseGet(Store& store, const std::string& project, const std::string& path, const Params& p) {
  // The v2 scores endpoint (`api.scoreV2`) answers like the original one.
  const std::string rest = path.starts_with("v2/scores") ? path.substr(3) : path;
  auto slash = rest.find('/');
  std::string collection = rest.substr(0, slash);
  std::string id = slash == std::string::npos ? "" : rest.substr(slash + 1);  // decoded by the URL parser
  int64_t page = std::clamp<int64_t>(IntParam(p, "page", 1), 1, 1'000'000);  // (page-1)*limit cannot overflow
  int64_t limit = std::clamp<int64_t>(IntParam(p, "limit", 50), 1, 1000);
  if (collection == "traces" && id.empty()) {
    TraceQuery q = TraceFilter(project, p, true);
    if (q.from_us < 0 || q.to_us < 0) return JsonError(400, "fromTimestamp/toTimestamp must be ISO 8601");
    q.limit = static_cast<int>(limit);
    q.offset = (page - 1) * limit;
    auto r = store.ListTraces(q);
    if (!r) return StoreError(r.error());
    json::array data;
    for (const auto& s : r->items) {
      // A list shows each trace's first 100 observation ids (the trace itself has them all):
      // a page of 1,000 traces must not read millions of rows.
      auto obs = AllObservations(store, project, s.trace.id, 100);
      std::vector<std::string> ids;
      if (obs)
        for (const auto& o : *obs) ids.push_back(o.id);
      data.push_back(langfuse::TraceSummaryJson(s, ids));
    }
    return Ok(json::object{{"data", std::move(data)}, {"meta", langfuse::PageMeta(page, limit, r->total)}});
  }
  if (collection == "traces") {
    return TraceReply(store, project, id, /*with_tree=*/false);
  }
  if (collection == "observations") {
    ObservationQuery q;
    q.project = project;
    q.limit = static_cast<int>(limit);
    q.offset = (page - 1) * limit;
    q.trace_id = Get(p, "traceId");
    q.name = Get(p, "name");
    q.user_id = Get(p, "userId");
    q.type = Get(p, "type");
    q.parent_id = Get(p, "parentObservationId");
    q.from_us = TimeParam(p, "fromStartTime");
    q.to_us = TimeParam(p, "toStartTime");
    if (q.from_us < 0 || q.to_us < 0) return JsonError(400, "fromStartTime/toStartTime must be ISO 8601");
    if (!id.empty()) {
      // One observation: look it up among its project's observations by id.
      q = {};
      q.project = project;
      q.limit = 10000;
      q.trace_id = Get(p, "traceId");
    }
    auto r = store.ListObservations(q);
    if (!r) return StoreError(r.error());
    if (!id.empty()) {
      for (const auto& o : r->items)
        if (o.id == id) return Ok(langfuse::ObservationJson(o));
      return JsonError(404, "observation " + id + " not found");
    }
    json::array data;
    for (const auto& o : r->items) data.push_back(langfuse::ObservationJson(o));
    return Ok(json::object{{"data", std::move(data)}, {"meta", langfuse::PageMeta(page, limit, r->total)}});
  }
  if (collection == "sessions" && id.empty()) {
    SessionQuery q;
    q.project = project;
    q.limit = static_cast<int>(limit);
    q.offset = (page - 1) * limit;
    q.from_us = TimeParam(p, "fromTimestamp");
    q.to_us = TimeParam(p, "toTimestamp");
    auto r = store.ListSessions(q);
    if (!r) return StoreError(r.error());
    json::array data;
    for (const auto& s : r->items) data.push_back(langfuse::SessionJson(s));
    return Ok(json::object{{"data", std::move(data)}, {"meta", langfuse::PageMeta(page, limit, r->total)}});
  }
  if (collection == "sessions") {
    auto s = store.GetSession(project, id);
    if (!s) return StoreError(s.error());
    if (!*s) return JsonError(404, "session " + id + " not found");
    TraceQuery q;
    q.project = project;
    q.session_id = id;
    q.limit = 1000;
    auto traces = store.ListTraces(q);
    if (!traces) return StoreError(traces.error());
    json::object j = langfuse::SessionJson(**s);
    json::array tj;
    for (const auto& t : traces->items) tj.push_back(langfuse::TraceJson(t.trace));
    j["traces"] = std::move(tj);
    return Ok(j);
  }
  if (collection == "scores") return ScoresReply(store, project, id, page, limit, p);
  return JsonError(404, "no such endpoint: /api/public/" + rest);
}

namespace {

json::object TraceSummaryOwn(const TraceSummary& s) {
  json::object j = langfuse::TraceJson(s.trace);
  j["observationCount"] = s.observation_count;
  j["totalCost"] = s.total_cost;
  j["inputTokens"] = s.input_tokens;
  j["outputTokens"] = s.output_tokens;
  j["latency"] = static_cast<double>(s.latency_us) / 1e6;
  j["status"] = s.has_error ? "error" : "ok";
  return j;
}

// Observations nested under their parents (roots: no parent, or a parent not in the trace).
json::array Tree(const std::vector<Observation>& obs) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < obs.size(); ++i) index[obs[i].id] = i;
  std::vector<std::vector<size_t>> children(obs.size());
  std::vector<size_t> roots;
  for (size_t i = 0; i < obs.size(); ++i) {
    auto it = obs[i].parent_id ? index.find(*obs[i].parent_id) : index.end();
    if (it != index.end() && it->second != i) children[it->second].push_back(i);
    else roots.push_back(i);
  }
  std::function<json::object(size_t, int)> build = [&](size_t i, int depth) {
    json::object j = langfuse::ObservationJson(obs[i]);
    json::array kids;
    if (depth < 64)
      for (size_t c : children[i]) kids.push_back(build(c, depth + 1));
    j["children"] = std::move(kids);
    return j;
  };
  json::array out;
  for (size_t r : roots) out.push_back(build(r, 0));
  return out;
}

// One trace with its observations and scores (Langfuse's trace detail); `with_tree` adds the
// observation tree agentplane's own API returns.
Reply TraceReply(Store& store, const std::string& project, const std::string& id, bool with_tree) {
    auto t = store.GetTrace(project, id);
    if (!t) return StoreError(t.error());
    if (!*t) return JsonError(404, "trace " + id + " not found");
    auto obs = AllObservations(store, project, id);
    if (!obs) return StoreError(obs.error());
    auto scores = store.ListScores(project, id);
    if (!scores) return StoreError(scores.error());
    json::object j = TraceDetail(store, **t, *obs, *scores);
    if (with_tree) j["observations"] = Tree(*obs);
    return Ok(j);
}

// GET /api/telemetry/timeseries?from&to[&step][&model]: the per-minute rollup in buckets of
// `step` (seconds, or a duration like 5m; default: the range in about 120 buckets).
Reply TimeSeriesReply(Store& store, const std::string& project, const Params& p) {
  TimeSeriesQuery q;
  q.project = project;
  q.from_us = TimeParam(p, "from");
  q.to_us = TimeParam(p, "to");
  if (q.to_us == 0) q.to_us = NowMicros();
  if (q.from_us <= 0 || q.to_us <= q.from_us)
    return JsonError(400, "from (required) and to must be ISO 8601 or epoch milliseconds, from before to");
  constexpr int64_t kMinute = 60'000'000;
  if (auto step = Get(p, "step")) {
    if (auto secs = ParseUint(*step)) q.step_us = static_cast<int64_t>(*secs) * 1'000'000;
    else if (auto d = ParseDuration(*step)) q.step_us = d->count() * 1000;
    else return JsonError(400, "step must be seconds or a duration such as 5m");
  } else {
    q.step_us = (q.to_us - q.from_us) / 120;
  }
  q.step_us = std::max<int64_t>(kMinute, (q.step_us + kMinute - 1) / kMinute * kMinute);
  if ((q.to_us - q.from_us) / q.step_us > 5000) return JsonError(400, "at most 5000 buckets: raise step");
  q.model = Get(p, "model");
  auto r = store.TimeSeries(q);
  if (!r) return StoreError(r.error());
  json::array buckets;
  auto num = [](double v) { return v < 0 ? json::value(nullptr) : json::value(v); };
  for (const auto& b : *r) {
    json::object j;
    j["t"] = b.start_us / 1000;
    j["requests"] = b.requests;
    j["errors"] = b.errors;
    j["input_tokens"] = b.input_tokens;
    j["output_tokens"] = b.output_tokens;
    j["cost_usd"] = b.cost;
    j["latency_p50"] = num(b.latency_p50);
    j["latency_p90"] = num(b.latency_p90);
    j["latency_p99"] = num(b.latency_p99);
    j["ttft_p50"] = num(b.ttft_p50);
    j["ttft_p90"] = num(b.ttft_p90);
    j["ttft_p99"] = num(b.ttft_p99);
    buckets.push_back(std::move(j));
  }
  return Ok(json::object{{"step_seconds", q.step_us / 1'000'000}, {"buckets", std::move(buckets)}});
}

}  // namespace

Reply TelemetryGet(Store& store, const std::string& project, const std::string& rest, const Params& p) {
  auto slash = rest.find('/');
  std::string collection = rest.substr(0, slash);
  std::string id = slash == std::string::npos ? "" : rest.substr(slash + 1);  // decoded by the URL parser
  if (collection == "traces" && id.empty()) {
    TraceQuery q = TraceFilter(project, p, false);
    if (q.from_us < 0 || q.to_us < 0) return JsonError(400, "from/to must be ISO 8601 or epoch milliseconds");
    if (q.status && *q.status != "ok" && *q.status != "error") return JsonError(400, "status must be ok or error");
    if (auto c = Get(p, "cursor")) q.cursor = *c;
    auto r = store.ListTraces(q);
    if (!r) return r.error() == "malformed cursor" ? JsonError(400, r.error()) : StoreError(r.error());
    json::array data;
    for (const auto& s : r->items) data.push_back(TraceSummaryOwn(s));
    json::object j{{"traces", std::move(data)}};
    j["next_cursor"] = r->next_cursor.empty() ? json::value(nullptr) : json::value(r->next_cursor);
    if (r->total >= 0) j["total"] = r->total;
    return Ok(j);
  }
  if (collection == "traces") {
    return TraceReply(store, project, id, /*with_tree=*/true);
  }
  if (collection == "sessions") {
    SessionQuery q;
    q.project = project;
    q.limit = static_cast<int>(std::clamp<int64_t>(IntParam(p, "limit", 50), 1, 1000));
    q.offset = IntParam(p, "offset", 0);
    q.from_us = TimeParam(p, "from");
    q.to_us = TimeParam(p, "to");
    auto r = store.ListSessions(q);
    if (!r) return StoreError(r.error());
    json::array data;
    for (const auto& s : r->items) data.push_back(langfuse::SessionJson(s));
    return Ok(json::object{{"sessions", std::move(data)}, {"total", r->total}});
  }
  if (collection == "usage") {
    UsageQuery q;
    q.project = project;
    q.from_us = TimeParam(p, "from");
    q.to_us = TimeParam(p, "to");
    if (q.from_us < 0 || q.to_us < 0) return JsonError(400, "from/to must be ISO 8601 or epoch milliseconds");
    if (auto g = Get(p, "group_by"))
      for (auto part : Split(*g, ',')) q.group_by.emplace_back(Trim(part));
    q.model = Get(p, "model");
    q.user_id = Get(p, "user");
    q.team = Get(p, "team");
    q.key = Get(p, "key");
    auto r = store.AggregateUsage(q);
    if (!r) return r.error().starts_with("cannot group") ? JsonError(400, r.error()) : StoreError(r.error());
    json::array rows;
    for (const auto& row : *r) {
      json::object j;
      for (size_t i = 0; i < q.group_by.size(); ++i) j[q.group_by[i]] = row.group[i];
      j["generations"] = row.generations;
      j["input_tokens"] = row.input_tokens;
      j["output_tokens"] = row.output_tokens;
      j["cached_tokens"] = row.cached_tokens;
      j["cost_usd"] = row.cost;
      rows.push_back(std::move(j));
    }
    return Ok(json::object{{"rows", std::move(rows)}});
  }
  if (collection == "timeseries") return TimeSeriesReply(store, project, p);
  return JsonError(404, "no such endpoint: /api/telemetry/" + rest);
}

}  // namespace ap::telemetry::internal
