// sim/tool_calls.cc — seeded JSON-schema instance generation and tool selection.
#include "sim/tool_calls.h"

#include <cmath>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "sim/tokenizer.h"

namespace ap::sim {
namespace json = boost::json;
namespace {

constexpr int kMaxDepth = 6;

const json::value* Field(const json::value& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  return v.as_object().if_contains(key);
}

double Number(const json::value* v, double fallback) {
  if (!v) return fallback;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return fallback;
}

std::string_view TypeOf(const json::value& schema, SeededRandom& rng) {
  const json::value* t = Field(schema, "type");
  if (t && t->is_string()) return t->as_string();
  if (t && t->is_array() && !t->as_array().empty()) {
    // Prefer a non-null member of a type list such as ["string", "null"].
    for (const auto& x : t->as_array())
      if (x.is_string() && x.as_string() != "null") return x.as_string();
    const auto& first = t->as_array()[0];
    if (first.is_string()) return first.as_string();
  }
  if (Field(schema, "properties")) return "object";
  if (Field(schema, "items")) return "array";
  return "string";
}

json::value Generate(const json::value& schema, SeededRandom& rng, int depth) {
  if (const auto* c = Field(schema, "const")) return *c;
  if (const auto* e = Field(schema, "enum"); e && e->is_array() && !e->as_array().empty())
    return e->as_array()[rng.Below(e->as_array().size())];
  for (const char* k : {"anyOf", "oneOf", "allOf"})
    if (const auto* alt = Field(schema, k); alt && alt->is_array() && !alt->as_array().empty())
      return Generate(alt->as_array()[0], rng, depth + 1);
  std::string_view type = TypeOf(schema, rng);
  if (type == "object") {
    json::object out;
    const json::value* props = Field(schema, "properties");
    const json::value* req = Field(schema, "required");
    if (props && props->is_object() && depth < kMaxDepth) {
      for (const auto& kv : props->as_object()) {
        bool required = false;
        if (req && req->is_array())
          for (const auto& r : req->as_array())
            if (r.is_string() && r.as_string() == kv.key()) required = true;
        if (required || rng.Below(2) == 0) out[kv.key()] = Generate(kv.value(), rng, depth + 1);
      }
    }
    return out;
  }
  if (type == "array") {
    json::array out;
    double lo = Number(Field(schema, "minItems"), 1);
    double hi = Number(Field(schema, "maxItems"), std::max(lo, 3.0));
    uint64_t n = static_cast<uint64_t>(lo) + rng.Below(static_cast<uint64_t>(hi - lo) + 1);
    const json::value* items = Field(schema, "items");
    static const json::value kString = json::object{{"type", "string"}};
    for (uint64_t i = 0; i < n && depth < kMaxDepth; ++i)
      out.push_back(Generate(items ? *items : kString, rng, depth + 1));
    return out;
  }
  if (type == "integer" || type == "number") {
    double lo = Number(Field(schema, "minimum"), 0);
    double hi = Number(Field(schema, "maximum"), lo + 100);
    if (const auto* x = Field(schema, "exclusiveMinimum"); x && !x->is_bool()) lo = Number(x, lo) + 1;
    if (const auto* x = Field(schema, "exclusiveMaximum"); x && !x->is_bool()) hi = Number(x, hi) - 1;
    if (hi < lo) hi = lo;
    if (type == "integer") {
      int64_t a = static_cast<int64_t>(std::ceil(lo)), b = static_cast<int64_t>(std::floor(hi));
      if (b < a) b = a;
      return a + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(b - a) + 1));
    }
    return std::round((lo + rng.Unit() * (hi - lo)) * 100) / 100;
  }
  if (type == "boolean") return rng.Below(2) == 1;
  if (type == "null") return nullptr;
  // string: a couple of filler words, respecting minLength/maxLength loosely.
  std::string s(FillerWord(rng.Next()));
  if (rng.Below(2)) s.append(" ").append(FillerWord(rng.Next()));
  double min_len = Number(Field(schema, "minLength"), 0);
  while (s.size() < min_len) s.append("x");
  double max_len = Number(Field(schema, "maxLength"), 1e9);
  if (s.size() > max_len) s.resize(static_cast<size_t>(max_len));
  return json::value(s);
}

std::string_view ToolName(const json::value& tool) {
  const json::value* fn = Field(tool, "function");
  const json::value* name = fn ? Field(*fn, "name") : nullptr;
  return name && name->is_string() ? std::string_view(name->as_string()) : std::string_view();
}

}  // namespace

json::value ValueForSchema(const json::value& schema, uint64_t seed) {
  SeededRandom rng(seed);
  return Generate(schema, rng, 0);
}

std::optional<ToolCall> PlanToolCall(const json::value& tools, const json::value* tool_choice,
                                     uint64_t seed) {
  if (!tools.is_array() || tools.as_array().empty()) return std::nullopt;
  const json::array& list = tools.as_array();
  SeededRandom rng(Mix(seed, 0x746f6f6c));
  const json::value* chosen = nullptr;
  if (tool_choice && tool_choice->is_string() && tool_choice->as_string() == "none")
    return std::nullopt;
  if (tool_choice && tool_choice->is_object()) {
    const json::value* fn = Field(*tool_choice, "function");
    const json::value* want = fn ? Field(*fn, "name") : nullptr;
    if (want && want->is_string())
      for (const auto& t : list)
        if (ToolName(t) == want->as_string()) chosen = &t;
  }
  if (!chosen) chosen = &list[rng.Below(list.size())];
  ToolCall call;
  call.name = std::string(ToolName(*chosen));
  if (call.name.empty()) return std::nullopt;
  const json::value* fn = Field(*chosen, "function");
  const json::value* params = fn ? Field(*fn, "parameters") : nullptr;
  static const json::value kEmpty = json::object{{"type", "object"}};
  call.arguments = json::serialize(Generate(params ? *params : kEmpty, rng, 0));
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  call.id = "call_";
  for (int i = 0; i < 24; ++i) call.id.push_back(kAlphabet[rng.Below(sizeof kAlphabet - 1)]);
  return call;
}

}  // namespace ap::sim
