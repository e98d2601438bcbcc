// telemetry/langfuse.cc — see langfuse.h. Field names follow Langfuse's public API
// (camelCase; usage as {input, output, total} or the OpenAI-style {promptTokens, …}).
#include "telemetry/langfuse.h"

#include <boost/json.hpp>

namespace ap::telemetry::langfuse {
namespace json = boost::json;
namespace {

const json::value* Field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

std::optional<std::string> Str(const json::object& o, std::string_view key) {
  auto* v = Field(o, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

std::optional<std::string> JsonText(const json::object& o, std::string_view key) {
  auto* v = Field(o, key);
  if (!v) return std::nullopt;
  return json::serialize(*v);
}

std::optional<double> Num(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

std::optional<int64_t> Int(const json::object& o, std::string_view key) {
  auto n = Num(Field(o, key));
  if (!n) return std::nullopt;
  return static_cast<int64_t>(*n);
}

int64_t Time(const json::object& o, std::string_view key) {
  auto s = Str(o, key);
  if (!s) return 0;
  return ParseIsoTime(*s).value_or(0);
}

void ReadUsage(const json::object& b, Observation* o) {
  if (auto* u = Field(b, "usage"); u && u->is_object()) {
    const auto& uo = u->as_object();
    o->input_tokens = Int(uo, "input");
    if (!o->input_tokens) o->input_tokens = Int(uo, "promptTokens");
    o->output_tokens = Int(uo, "output");
    if (!o->output_tokens) o->output_tokens = Int(uo, "completionTokens");
    o->total_tokens = Int(uo, "total");
    if (!o->total_tokens) o->total_tokens = Int(uo, "totalTokens");
    o->input_cost = Num(Field(uo, "inputCost"));
    o->output_cost = Num(Field(uo, "outputCost"));
    o->total_cost = Num(Field(uo, "totalCost"));
  }
  if (auto* u = Field(b, "usageDetails"); u && u->is_object()) {
    const auto& uo = u->as_object();
    o->usage_details = json::serialize(uo);
    int64_t in = 0, out = 0, cached = 0;
    bool any_in = false, any_out = false;
    for (const auto& kv : uo) {
      auto n = Num(&kv.value());
      if (!n) continue;
      std::string_view k = kv.key();
      if (k == "total") {
        o->total_tokens = static_cast<int64_t>(*n);
      } else if (k.starts_with("input") || k == "prompt_tokens" || k.find("cache_read") != std::string_view::npos) {
        in += static_cast<int64_t>(*n);
        any_in = true;
        if (k.find("cache") != std::string_view::npos || k.find("cached") != std::string_view::npos)
          cached += static_cast<int64_t>(*n);
      } else if (k.starts_with("output") || k == "completion_tokens") {
        out += static_cast<int64_t>(*n);
        any_out = true;
      }
    }
    if (any_in) o->input_tokens = in;
    if (any_out) o->output_tokens = out;
    if (cached) o->cached_tokens = cached;
    if (!o->total_tokens && (any_in || any_out)) o->total_tokens = in + out;
  }
  if (auto* c = Field(b, "costDetails"); c && c->is_object()) {
    const auto& co = c->as_object();
    o->cost_details = json::serialize(co);
    double in = 0, out = 0, total = -1;
    for (const auto& kv : co) {
      auto n = Num(&kv.value());
      if (!n) continue;
      std::string_view k = kv.key();
      if (k == "total") total = *n;
      else if (k.starts_with("input")) in += *n;
      else if (k.starts_with("output")) out += *n;
    }
    o->input_cost = in;
    o->output_cost = out;
    o->total_cost = total >= 0 ? total : in + out;
  }
  if (!o->total_cost && (o->input_cost || o->output_cost))
    o->total_cost = o->input_cost.value_or(0) + o->output_cost.value_or(0);
}

}  // namespace

Parsed ParseEvent(const json::value& event, const std::string& project) {
  Parsed p;
  if (!event.is_object()) return {std::nullopt, "event is not an object"};
  const auto& e = event.as_object();
  auto id = Str(e, "id");
  auto type = Str(e, "type");
  auto* body_v = Field(e, "body");
  if (!id || id->empty()) return {std::nullopt, "event id is required"};
  if (!type) return {std::nullopt, "event type is required"};
  if (*type == "sdk-log") return {};
  if (!body_v || !body_v->is_object()) return {std::nullopt, "body must be an object"};
  const auto& b = body_v->as_object();
  Item item;
  item.event_id = project + "/" + *id;
  const int64_t event_ts = Time(e, "timestamp");

  if (*type == "trace-create") {
    Trace t;
    auto tid = Str(b, "id");
    if (!tid || tid->empty()) return {std::nullopt, "trace id is required"};
    t.id = *tid;
    t.project = project;
    t.timestamp_us = Time(b, "timestamp");
    t.name = Str(b, "name");
    t.user_id = Str(b, "userId");
    t.session_id = Str(b, "sessionId");
    t.release = Str(b, "release");
    t.version = Str(b, "version");
    t.environment = Str(b, "environment");
    t.input = JsonText(b, "input");
    t.output = JsonText(b, "output");
    t.metadata = JsonText(b, "metadata");
    if (auto* tags = Field(b, "tags"); tags && tags->is_array()) {
      std::vector<std::string> v;
      for (const auto& tag : tags->as_array())
        if (tag.is_string()) v.emplace_back(tag.as_string());
      t.tags = std::move(v);
    }
    if (auto* pub = Field(b, "public"); pub && pub->is_bool()) t.is_public = pub->as_bool();
    item.body = std::move(t);
    return {std::move(item), {}};
  }

  if (*type == "score-create") {
    Score s;
    auto sid = Str(b, "id");
    s.id = sid && !sid->empty() ? *sid : *id;
    s.project = project;
    auto trace = Str(b, "traceId");
    if (!trace) return {std::nullopt, "score traceId is required"};
    s.trace_id = *trace;
    auto name = Str(b, "name");
    if (!name) return {std::nullopt, "score name is required"};
    s.name = *name;
    s.observation_id = Str(b, "observationId");
    s.session_id = Str(b, "sessionId");
    auto* value = Field(b, "value");
    if (value && value->is_string()) s.string_value = std::string(value->as_string());
    else s.value = Num(value);
    s.data_type = Str(b, "dataType");
    s.comment = Str(b, "comment");
    s.source = "API";
    s.timestamp_us = event_ts;
    item.body = std::move(s);
    return {std::move(item), {}};
  }

  Observation o;
  std::optional<ObservationType> otype;
  if (type->starts_with("span-")) otype = ObservationType::kSpan;
  else if (type->starts_with("generation-")) otype = ObservationType::kGeneration;
  else if (*type == "event-create") otype = ObservationType::kEvent;
  else if (type->starts_with("observation-")) otype = ParseType(Str(b, "type").value_or("SPAN"));
  if (!otype) return {std::nullopt, "unsupported event type '" + *type + "'"};
  auto oid = Str(b, "id");
  if (!oid || oid->empty()) return {std::nullopt, "observation id is required"};
  o.id = *oid;
  o.type = *otype;
  o.project = project;
  auto trace = Str(b, "traceId");
  o.trace_id = trace ? *trace : o.id;  // Langfuse creates a trace named after the observation
  o.parent_id = Str(b, "parentObservationId");
  o.name = Str(b, "name");
  o.start_us = Time(b, "startTime");
  o.end_us = Time(b, "endTime");
  o.completion_start_us = Time(b, "completionStartTime");
  if (*otype == ObservationType::kEvent && !o.start_us) o.start_us = event_ts;
  o.model = Str(b, "model");
  o.model_parameters = JsonText(b, "modelParameters");
  o.input = JsonText(b, "input");
  o.output = JsonText(b, "output");
  o.metadata = JsonText(b, "metadata");
  if (auto l = Str(b, "level")) o.level = ParseLevel(*l);
  o.status_message = Str(b, "statusMessage");
  o.version = Str(b, "version");
  o.environment = Str(b, "environment");
  ReadUsage(b, &o);
  item.body = std::move(o);
  return {std::move(item), {}};
}

json::value JsonField(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec) return json::string(*text);
  return v;
}

namespace {
json::value Opt(const std::optional<std::string>& s) { return s ? json::value(json::string(*s)) : json::value(nullptr); }
json::value OptTime(int64_t us) { return us ? json::value(json::string(FormatIsoTime(us))) : json::value(nullptr); }
json::value OptNum(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }
}  // namespace

json::object TraceJson(const Trace& t) {
  json::object o;
  o["id"] = t.id;
  o["projectId"] = t.project;
  o["timestamp"] = FormatIsoTime(t.timestamp_us);
  o["name"] = Opt(t.name);
  o["userId"] = Opt(t.user_id);
  o["sessionId"] = Opt(t.session_id);
  o["release"] = Opt(t.release);
  o["version"] = Opt(t.version);
  o["environment"] = t.environment ? json::value(json::string(*t.environment)) : json::value("default");
  json::array tags;
  if (t.tags)
    for (const auto& tag : *t.tags) tags.emplace_back(tag);
  o["tags"] = std::move(tags);
  o["input"] = JsonField(t.input);
  o["output"] = JsonField(t.output);
  o["metadata"] = JsonField(t.metadata);
  o["public"] = t.is_public.value_or(false);
  o["htmlPath"] = "/trace/" + t.id;
  return o;
}

json::object TraceSummaryJson(const TraceSummary& s, const std::vector<std::string>& observation_ids) {
  json::object o = TraceJson(s.trace);
  o["latency"] = static_cast<double>(s.latency_us) / 1e6;
  o["totalCost"] = s.total_cost;
  json::array ids;
  for (const auto& id : observation_ids) ids.emplace_back(id);
  o["observations"] = std::move(ids);
  o["scores"] = json::array();
  return o;
}

// Stored details JSON when it is an object, else {input, output, total} from the columns.
template <typename T>
json::value DetailsOr(const std::optional<std::string>& stored, const std::optional<T>& input,
                      const std::optional<T>& output, const std::optional<T>& total) {
  json::value details = JsonField(stored);
  if (details.is_object()) return details;
  json::object d;
  if (input) d["input"] = *input;
  if (output) d["output"] = *output;
  if (total) d["total"] = *total;
  return d;
}


json::object ObservationJson(const Observation& ob) {
  json::object o;
  o["id"] = ob.id;
  o["traceId"] = ob.trace_id;
  o["projectId"] = ob.project;
  o["type"] = std::string(TypeName(ob.type));
  o["name"] = Opt(ob.name);
  o["startTime"] = FormatIsoTime(ob.start_us);
  o["endTime"] = OptTime(ob.end_us);
  o["completionStartTime"] = OptTime(ob.completion_start_us);
  o["parentObservationId"] = Opt(ob.parent_id);
  o["model"] = Opt(ob.model);
  o["modelParameters"] = JsonField(ob.model_parameters);
  o["input"] = JsonField(ob.input);
  o["output"] = JsonField(ob.output);
  o["metadata"] = JsonField(ob.metadata);
  o["level"] = std::string(LevelName(ob.level.value_or(Level::kDefault)));
  o["statusMessage"] = Opt(ob.status_message);
  o["version"] = Opt(ob.version);
  o["environment"] = ob.environment ? json::value(json::string(*ob.environment)) : json::value("default");
  json::object usage;
  usage["input"] = ob.input_tokens.value_or(0);
  usage["output"] = ob.output_tokens.value_or(0);
  usage["total"] = ob.total_tokens.value_or(ob.input_tokens.value_or(0) + ob.output_tokens.value_or(0));
  usage["unit"] = "TOKENS";
  o["usage"] = std::move(usage);
  o["usageDetails"] = DetailsOr(ob.usage_details, ob.input_tokens, ob.output_tokens, ob.total_tokens);
  o["costDetails"] = DetailsOr(ob.cost_details, ob.input_cost, ob.output_cost, ob.total_cost);
  o["promptTokens"] = ob.input_tokens.value_or(0);
  o["completionTokens"] = ob.output_tokens.value_or(0);
  o["totalTokens"] = ob.total_tokens.value_or(0);
  o["calculatedInputCost"] = OptNum(ob.input_cost);
  o["calculatedOutputCost"] = OptNum(ob.output_cost);
  o["calculatedTotalCost"] = OptNum(ob.total_cost);
  o["latency"] = ob.end_us ? json::value(static_cast<double>(ob.end_us - ob.start_us) / 1e6) : json::value(nullptr);
  o["timeToFirstToken"] = ob.completion_start_us
                              ? json::value(static_cast<double>(ob.completion_start_us - ob.start_us) / 1e6)
                              : json::value(nullptr);
  o["userId"] = Opt(ob.user_id);
  o["backend"] = Opt(ob.backend);
  o["statusCode"] = ob.status_code ? json::value(*ob.status_code) : json::value(nullptr);
  return o;
}

json::object ScoreJson(const Score& s) {
  json::object o;
  o["id"] = s.id;
  o["traceId"] = s.trace_id;
  o["observationId"] = Opt(s.observation_id);
  o["sessionId"] = Opt(s.session_id);
  o["name"] = s.name;
  o["value"] = s.value ? json::value(*s.value) : json::value(nullptr);
  o["stringValue"] = Opt(s.string_value);
  o["dataType"] = s.data_type ? json::value(json::string(*s.data_type))
                              : json::value(s.string_value ? "CATEGORICAL" : "NUMERIC");
  o["comment"] = Opt(s.comment);
  o["source"] = s.source ? json::value(json::string(*s.source)) : json::value("API");
  o["timestamp"] = FormatIsoTime(s.timestamp_us);
  // The store keeps one time per score; Langfuse's schema requires these two as well.
  o["createdAt"] = o["timestamp"];
  o["updatedAt"] = o["timestamp"];
  return o;
}

json::object SessionJson(const SessionSummary& s) {
  json::object o;
  o["id"] = s.id;
  o["projectId"] = s.project;
  o["createdAt"] = FormatIsoTime(s.first_us);
  o["lastTraceAt"] = FormatIsoTime(s.last_us);
  o["traceCount"] = s.trace_count;
  o["userId"] = Opt(s.user_id);
  o["totalCost"] = s.total_cost;
  o["inputTokens"] = s.input_tokens;
  o["outputTokens"] = s.output_tokens;
  o["environment"] = "default";
  return o;
}

json::object PageMeta(int64_t page, int64_t limit, int64_t total) {
  json::object m;
  m["page"] = page;
  m["limit"] = limit;
  m["totalItems"] = total;
  m["totalPages"] = limit > 0 ? (total + limit - 1) / limit : 0;
  return m;
}

}  // namespace ap::telemetry::langfuse
