// api/openai.cc — request validation, byte-splicing edits, usage extraction.
#include "api/openai.h"

#include "api/internal/request_fields.h"

#include <string.h>

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace ap::api {
namespace json = boost::json;
namespace {

size_t SkipWs(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  return i;
}

// `i` at an opening quote; returns the index after the closing quote.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return i + 1;
  }
  return s.size();
}

size_t SkipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
         s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
    ++i;
  return i;
}

struct Span {
  size_t begin, end;
};

// The value span of top-level `key` in a valid JSON object text (the last one if repeated).
std::optional<Span> FindTopLevelValue(std::string_view s, std::string_view key, size_t* open) {
  size_t i = SkipWs(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  *open = i;
  ++i;
  std::optional<Span> found;
  while (true) {
    i = SkipWs(s, i);
    if (i >= s.size() || s[i] != '"') break;
    size_t key_end = SkipString(s, i);
    std::string_view k = s.substr(i + 1, key_end - i - 2);
    i = SkipWs(s, key_end);
    if (i >= s.size() || s[i] != ':') break;
    i = SkipWs(s, i + 1);
    size_t vb = i;
    i = SkipValue(s, i);
    if (k == key) found = Span{vb, i};
    i = SkipWs(s, i);
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    break;
  }
  return found;
}

// Token counts from a backend are trusted only within sane bounds (no negatives, no overflow
// when added up).
int64_t ClampTokens(int64_t n) { return std::clamp<int64_t>(n, 0, int64_t{1} << 40); }

ApiError Invalid(std::string message, std::string param, std::string code = "invalid_value") {
  return ApiError{ErrorKind::kInvalidRequest, std::move(message), std::move(param), std::move(code)};
}

}  // namespace

boost::system::result<InferenceRequest, ApiError> ParseInferenceRequest(std::string body, bool estimate_prompt) {
  internal::RequestFields f;
  f.estimate_prompt = estimate_prompt;
  boost::system::error_code ec;
  if (!internal::ScanRequestFields(body, &f, &ec))
    return Invalid("request body is not valid JSON: " + ec.message(), "", "invalid_json");
  using internal::Kind;
  if (!f.top_is_object) return Invalid("request body must be a JSON object", "", "invalid_json");
  InferenceRequest r;
  if (f.model == Kind::kAbsent || f.model == Kind::kNull)
    return Invalid("you must provide a model parameter", "model", "missing_required_parameter");
  if (f.model != Kind::kString || f.model_value.empty()) return Invalid("model must be a non-empty string", "model");
  r.model = std::move(f.model_value);
  if (f.stream != Kind::kAbsent && f.stream != Kind::kNull) {
    if (f.stream != Kind::kBool) return Invalid("stream must be a boolean", "stream");
    r.stream = f.stream_value;
  }
  if (f.stream_options != Kind::kAbsent && f.stream_options != Kind::kNull) {
    if (f.stream_options != Kind::kObject) return Invalid("stream_options must be an object", "stream_options");
    if (f.include_usage != Kind::kAbsent && f.include_usage != Kind::kNull) {
      if (f.include_usage != Kind::kBool)
        return Invalid("stream_options.include_usage must be a boolean", "stream_options.include_usage");
      r.client_wants_usage = f.include_usage_value;
    }
  }
  if (f.user == Kind::kString) r.user = std::move(f.user_value);
  r.max_tokens = f.max_tokens;
  r.prompt_tokens_estimate = estimate_prompt ? f.prompt_tokens_estimate : -1;
  r.body = std::move(body);
  return r;
}

int64_t PromptTokens(const InferenceRequest& request) {
  if (request.prompt_tokens_estimate >= 0) return request.prompt_tokens_estimate;
  internal::RequestFields f;
  boost::system::error_code ec;
  internal::ScanRequestFields(request.body, &f, &ec);  // valid: it was parsed before
  return f.prompt_tokens_estimate;
}

std::string SetTopLevelField(std::string_view s, std::string_view key, std::string_view value_json) {
  size_t open = 0;
  auto span = FindTopLevelValue(s, key, &open);
  std::string out;
  out.reserve(s.size() + key.size() + value_json.size() + 8);
  if (span) {
    out.append(s.substr(0, span->begin));
    out.append(value_json);
    out.append(s.substr(span->end));
    return out;
  }
  size_t after = SkipWs(s, open + 1);
  bool empty = after < s.size() && s[after] == '}';
  out.append(s.substr(0, open + 1));
  out.push_back('"');
  out.append(key);
  out.append("\":");
  out.append(value_json);
  if (!empty) out.push_back(',');
  out.append(s.substr(open + 1));
  return out;
}

std::string BodyForBackend(const InferenceRequest& request, std::string_view backend_model) {
  std::string body;
  const std::string* current = &request.body;
  if (!backend_model.empty() && backend_model != request.model) {
    body = SetTopLevelField(*current, "model", json::serialize(json::value(json::string_view(backend_model.data(), backend_model.size()))));
    current = &body;
  }
  if (request.stream && !request.client_wants_usage) {
    size_t open = 0;
    auto span = FindTopLevelValue(*current, "stream_options", &open);
    std::string options = "{\"include_usage\":true}";
    if (span) {
      boost::system::error_code ec;
      auto v = json::parse(std::string_view(*current).substr(span->begin, span->end - span->begin), ec);
      if (!ec && v.is_object()) {
        v.get_object()["include_usage"] = true;
        options = json::serialize(v);
      }
    }
    body = SetTopLevelField(*current, "stream_options", options);
    current = &body;
  }
  return current == &request.body ? request.body : body;
}

Usage ExtractUsage(const json::value& v) {
  Usage u;
  if (!v.is_object()) return u;
  auto* usage = v.get_object().if_contains("usage");
  if (!usage || !usage->is_object()) return u;
  const auto& uo = usage->get_object();
  auto num = [&](const json::object& o, std::string_view k) -> int64_t {
    auto* x = o.if_contains(k);
    if (!x) return 0;
    if (x->is_int64()) return x->get_int64();
    if (x->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(x->get_uint64(), INT64_MAX));
    if (x->is_double()) {
      double d = x->get_double();
      return d > 0 && d < 1e15 ? static_cast<int64_t>(d) : 0;  // NaN, negative and huge: 0
    }
    return 0;
  };

  u.prompt_tokens = ClampTokens(num(uo, "prompt_tokens"));
  u.completion_tokens = ClampTokens(num(uo, "completion_tokens"));
  u.total_tokens = ClampTokens(num(uo, "total_tokens"));
  if (u.total_tokens == 0) u.total_tokens = u.prompt_tokens + u.completion_tokens;
  if (auto* d = uo.if_contains("prompt_tokens_details"); d && d->is_object())
    u.cached_tokens = ClampTokens(num(d->get_object(), "cached_tokens"));
  u.known = true;
  return u;
}

namespace {

// The start of the last `"usage"` in `body`, or npos. A reverse Horspool search: the window's
// leftmost byte says how far the needle can move back, so most of the body is stepped over 3–7
// bytes at a time (std::string_view::rfind compares at every position).
size_t FindLastUsageKey(std::string_view body) {
  static constexpr std::string_view kNeedle = "\"usage\"";
  static constexpr auto kShift = [] {
    std::array<uint8_t, 256> t{};
    t.fill(kNeedle.size());
    for (size_t k = kNeedle.size() - 1; k >= 1; --k) t[static_cast<uint8_t>(kNeedle[k])] = static_cast<uint8_t>(k);
    return t;
  }();
  if (body.size() < kNeedle.size()) return std::string_view::npos;
  size_t i = body.size() - kNeedle.size();
  for (;;) {
    const char c = body[i];
    if (c == '"' && memcmp(body.data() + i + 1, kNeedle.data() + 1, kNeedle.size() - 1) == 0) return i;
    const size_t shift = kShift[static_cast<uint8_t>(c)];
    if (i < shift) return std::string_view::npos;
    i -= shift;
  }
}

// Bytes that matter while walking a JSON object's text: strings and nesting.
constexpr auto kStructural = [] {
  std::array<bool, 256> t{};
  for (char c : {'"', '{', '}', '[', ']'}) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

// `i` at an opening quote; the index after the closing quote (memchr over the string's bytes).
size_t SkipStringFast(std::string_view s, size_t i) {
  for (size_t from = i + 1; from < s.size();) {
    const void* q = memchr(s.data() + from, '"', s.size() - from);
    if (!q) break;
    const size_t at = static_cast<const char*>(q) - s.data();
    size_t slashes = 0;
    while (at - slashes > i + 1 && s[at - slashes - 1] == '\\') ++slashes;
    if (slashes % 2 == 0) return at + 1;
    from = at + 1;
  }
  return s.size();
}

// Which usage field a key names: 0 prompt, 1 completion, 2 total, 3 cached; -1 for others.
int UsageField(std::string_view key) {
  switch (key.size()) {
    case 13:
      if (key == "prompt_tokens") return 0;
      if (key == "cached_tokens") return 3;
      return -1;
    case 17: return key == "completion_tokens" ? 1 : -1;
    case 12: return key == "total_tokens" ? 2 : -1;
    default: return -1;
  }
}

}  // namespace

Usage ExtractUsageFromText(std::string_view body) {
  // The last "usage" key followed by an object: OpenAI and vLLM put usage after the choices. Its
  // few integer fields are read in one pass over the object, without building any JSON document.
  // Searched from the end, where the usage object sits, so the choices are never scanned.
  size_t pos = FindLastUsageKey(body);
  if (pos == std::string_view::npos || (pos > 0 && body[pos - 1] == '\\')) return {};
  size_t i = SkipWs(body, pos + 7);
  if (i >= body.size() || body[i] != ':') return {};
  i = SkipWs(body, i + 1);
  if (i >= body.size() || body[i] != '{') return {};
  // The first occurrence of each key at any depth (cached_tokens sits in prompt_tokens_details).
  std::optional<int64_t> values[4];
  int depth = 0;
  while (i < body.size()) {
    if (!kStructural[static_cast<uint8_t>(body[i])]) {
      ++i;
      continue;
    }
    const char c = body[i];
    if (c == '"') {
      const size_t end = SkipStringFast(body, i);
      const int field = UsageField(body.substr(i + 1, end - i - 2));
      i = end;
      if (field < 0 || values[field]) continue;
      i = SkipWs(body, i);
      if (i < body.size() && body[i] == ':') {  // a key we read (not a string value)
        i = SkipWs(body, i + 1);
        int64_t v = 0;
        if (auto [ptr, ec] = std::from_chars(body.data() + i, body.data() + body.size(), v); ec == std::errc())
          values[field] = v;
      }
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    else if (--depth == 0) break;
    ++i;
  }
  if (depth != 0) return {};  // the object never closed: a truncated body
  const auto& [prompt, completion, total, cached] = values;
  if (!prompt && !completion && !total) return {};
  Usage u;
  u.prompt_tokens = ClampTokens(prompt.value_or(0));
  u.completion_tokens = ClampTokens(completion.value_or(0));
  u.total_tokens = total ? ClampTokens(*total) : u.prompt_tokens + u.completion_tokens;
  u.cached_tokens = ClampTokens(cached.value_or(0));
  u.known = true;
  return u;
}

std::optional<ChunkUsage> InspectStreamChunk(std::string_view data) {
  // Cheap pre-check so ordinary token chunks are never parsed: a "usage" key with an object value.
  size_t pos = 0;
  bool has_object = false;
  // memmem, not string_view::find: find stops at every '"' of the JSON (one memchr each).
  auto find_usage = [&](size_t from) -> size_t {
    if (from >= data.size()) return std::string_view::npos;
    const void* p = memmem(data.data() + from, data.size() - from, "\"usage\"", 7);
    return p ? static_cast<size_t>(static_cast<const char*>(p) - data.data()) : std::string_view::npos;
  };
  while ((pos = find_usage(pos)) != std::string_view::npos) {
    size_t i = SkipWs(data, pos + 7);
    if (i < data.size() && data[i] == ':') {
      i = SkipWs(data, i + 1);
      if (i < data.size() && data[i] == '{') {
        has_object = true;
        break;
      }
    }
    pos += 7;
  }
  if (!has_object) return std::nullopt;
  boost::system::error_code ec;
  unsigned char arena[2048];
  json::monotonic_resource mr(arena, sizeof arena);
  auto v = json::parse(data, ec, &mr);
  if (ec || !v.is_object()) return std::nullopt;
  ChunkUsage c;
  c.usage = ExtractUsage(v);
  if (!c.usage.known) return std::nullopt;
  auto* choices = v.get_object().if_contains("choices");
  c.usage_only = !choices || (choices->is_array() && choices->get_array().empty());
  return c;
}

}  // namespace ap::api
