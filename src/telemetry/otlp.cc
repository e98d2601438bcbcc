// telemetry/otlp.cc — see otlp.h. Both encodings decode into the same intermediate SpanData,
// which one function maps onto traces and observations.
#include "telemetry/otlp.h"

#include <zlib.h>

#include <boost/json.hpp>

namespace ap::telemetry::otlp {
namespace json = boost::json;
namespace {

struct SpanData {
  std::string trace_id, span_id, parent_id, name;
  uint64_t start_ns = 0, end_ns = 0;
  json::object attrs;
  int status_code = 0;
  std::string status_message;
};

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool AllZero(const std::string& hex) { return hex.find_first_not_of('0') == std::string::npos; }

// ---- protobuf wire format ----

class Wire {
 public:
  explicit Wire(std::string_view d) : d_(d) {}
  bool done() const { return p_ >= d_.size(); }
  bool ok() const { return ok_; }
  // Next field: number and wire type; false at the end or on error.
  bool Next(uint32_t* field, uint32_t* type) {
    if (done() || !ok_) return false;
    uint64_t key;
    if (!Varint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *type = static_cast<uint32_t>(key & 7);
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= d_.size()) return ok_ = false;
      uint8_t b = static_cast<uint8_t>(d_[p_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return ok_ = false;
  }
  bool Fixed64(uint64_t* v) {
    if (p_ + 8 > d_.size()) return ok_ = false;
    std::memcpy(v, d_.data() + p_, 8);
    p_ += 8;
    return true;
  }
  bool Bytes(std::string_view* v) {
    uint64_t n;
    if (!Varint(&n) || n > d_.size() - p_) return ok_ = false;
    *v = d_.substr(p_, n);
    p_ += n;
    return true;
  }
  bool Skip(uint32_t type) {
    uint64_t v;
    std::string_view s;
    switch (type) {
      case 0: return Varint(&v);
      case 1: return Fixed64(&v);
      case 2: return Bytes(&s);
      case 5:
        if (p_ + 4 > d_.size()) return ok_ = false;
        p_ += 4;
        return true;
      default: return ok_ = false;
    }
  }

 private:
  std::string_view d_;
  size_t p_ = 0;
  bool ok_ = true;
};

bool PbAnyValue(std::string_view d, json::value* out, int depth);

bool PbKeyValue(std::string_view d, json::object* into, int depth) {
  Wire w(d);
  uint32_t f, t;
  std::string key;
  json::value value;
  while (w.Next(&f, &t)) {
    std::string_view s;
    if (f == 1 && t == 2 && w.Bytes(&s)) key = std::string(s);
    else if (f == 2 && t == 2 && w.Bytes(&s)) {
      if (!PbAnyValue(s, &value, depth + 1)) return false;
    } else if (!w.Skip(t)) return false;
  }
  if (!w.ok()) return false;
  (*into)[key] = std::move(value);
  return true;
}

bool PbAnyValue(std::string_view d, json::value* out, int depth) {
  if (depth > 16) return false;
  Wire w(d);
  uint32_t f, t;
  *out = nullptr;
  while (w.Next(&f, &t)) {
    std::string_view s;
    uint64_t v;
    if (f == 1 && t == 2 && w.Bytes(&s)) *out = json::string(s);
    else if (f == 2 && t == 0 && w.Varint(&v)) *out = v != 0;
    else if (f == 3 && t == 0 && w.Varint(&v)) *out = static_cast<int64_t>(v);
    else if (f == 4 && t == 1 && w.Fixed64(&v)) {
      double dv;
      std::memcpy(&dv, &v, 8);
      *out = dv;
    } else if (f == 5 && t == 2 && w.Bytes(&s)) {  // ArrayValue { repeated AnyValue values = 1; }
      json::array arr;
      Wire a(s);
      uint32_t af, at;
      while (a.Next(&af, &at)) {
        std::string_view e;
        if (af == 1 && at == 2 && a.Bytes(&e)) {
          json::value ev;
          if (!PbAnyValue(e, &ev, depth + 1)) return false;
          arr.push_back(std::move(ev));
        } else if (!a.Skip(at)) return false;
      }
      if (!a.ok()) return false;
      *out = std::move(arr);
    } else if (f == 6 && t == 2 && w.Bytes(&s)) {  // KeyValueList { repeated KeyValue values = 1; }
      json::object obj;
      Wire k(s);
      uint32_t kf, kt;
      while (k.Next(&kf, &kt)) {
        std::string_view e;
        if (kf == 1 && kt == 2 && k.Bytes(&e)) {
          if (!PbKeyValue(e, &obj, depth + 1)) return false;
        } else if (!k.Skip(kt)) return false;
      }
      if (!k.ok()) return false;
      *out = std::move(obj);
    } else if (f == 7 && t == 2 && w.Bytes(&s)) *out = json::string(Hex(s));
    else if (!w.Skip(t)) return false;
  }
  return w.ok();
}

bool PbSpan(std::string_view d, SpanData* span) {
  Wire w(d);
  uint32_t f, t;
  while (w.Next(&f, &t)) {
    std::string_view s;
    uint64_t v;
    if (f == 1 && t == 2 && w.Bytes(&s)) span->trace_id = Hex(s);
    else if (f == 2 && t == 2 && w.Bytes(&s)) span->span_id = Hex(s);
    else if (f == 4 && t == 2 && w.Bytes(&s)) span->parent_id = Hex(s);
    else if (f == 5 && t == 2 && w.Bytes(&s)) span->name = std::string(s);
    else if (f == 7 && t == 1 && w.Fixed64(&v)) span->start_ns = v;
    else if (f == 8 && t == 1 && w.Fixed64(&v)) span->end_ns = v;
    else if (f == 9 && t == 2 && w.Bytes(&s)) {
      if (!PbKeyValue(s, &span->attrs, 0)) return false;
    } else if (f == 15 && t == 2 && w.Bytes(&s)) {
      Wire st(s);
      uint32_t sf, stt;
      while (st.Next(&sf, &stt)) {
        std::string_view m;
        uint64_t c;
        if (sf == 2 && stt == 2 && st.Bytes(&m)) span->status_message = std::string(m);
        else if (sf == 3 && stt == 0 && st.Varint(&c)) span->status_code = static_cast<int>(c);
        else if (!st.Skip(stt)) return false;
      }
      if (!st.ok()) return false;
    } else if (!w.Skip(t)) return false;
  }
  return w.ok();
}

// Calls `emit(resource attributes, span)` for every span of an ExportTraceServiceRequest.
template <typename Emit>
bool PbRequest(std::string_view d, Emit emit) {
  Wire req(d);
  uint32_t f, t;
  while (req.Next(&f, &t)) {
    std::string_view rs;
    if (!(f == 1 && t == 2 && req.Bytes(&rs))) {
      if (!req.Skip(t)) return false;
      continue;
    }
    json::object resource;
    std::vector<std::string_view> scopes;
    Wire r(rs);
    uint32_t rf, rt;
    while (r.Next(&rf, &rt)) {
      std::string_view s;
      if (rf == 1 && rt == 2 && r.Bytes(&s)) {
        Wire res(s);
        uint32_t xf, xt;
        while (res.Next(&xf, &xt)) {
          std::string_view kv;
          if (xf == 1 && xt == 2 && res.Bytes(&kv)) {
            if (!PbKeyValue(kv, &resource, 0)) return false;
          } else if (!res.Skip(xt)) return false;
        }
        if (!res.ok()) return false;
      } else if (rf == 2 && rt == 2 && r.Bytes(&s)) {
        scopes.push_back(s);
      } else if (!r.Skip(rt)) return false;
    }
    if (!r.ok()) return false;
    for (auto scope : scopes) {
      Wire sc(scope);
      uint32_t sf, st;
      while (sc.Next(&sf, &st)) {
        std::string_view sp;
        if (sf == 2 && st == 2 && sc.Bytes(&sp)) {
          SpanData span;
          if (!PbSpan(sp, &span)) return false;
          emit(resource, span);
        } else if (!sc.Skip(st)) return false;
      }
      if (!sc.ok()) return false;
    }
  }
  return req.ok();
}

// ---- JSON encoding ----

json::value JsonAny(const json::value& v) {
  if (!v.is_object()) return nullptr;
  const auto& o = v.as_object();
  if (auto* s = o.if_contains("stringValue")) return *s;
  if (auto* b = o.if_contains("boolValue")) return *b;
  if (auto* i = o.if_contains("intValue")) {  // int64 is a string in OTLP JSON
    if (i->is_string()) return static_cast<int64_t>(std::strtoll(i->as_string().c_str(), nullptr, 10));
    return *i;
  }
  if (auto* d = o.if_contains("doubleValue")) return *d;
  if (auto* a = o.if_contains("arrayValue"); a && a->is_object()) {
    json::array arr;
    if (auto* vals = a->as_object().if_contains("values"); vals && vals->is_array())
      for (const auto& e : vals->as_array()) arr.push_back(JsonAny(e));
    return arr;
  }
  if (auto* kv = o.if_contains("kvlistValue"); kv && kv->is_object()) {
    json::object obj;
    if (auto* vals = kv->as_object().if_contains("values"); vals && vals->is_array())
      for (const auto& e : vals->as_array())
        if (e.is_object() && e.as_object().if_contains("key"))
          obj[e.as_object().at("key").as_string()] = JsonAny(e.as_object().if_contains("value") ? e.as_object().at("value") : json::value());
    return obj;
  }
  if (auto* b = o.if_contains("bytesValue")) return *b;
  return nullptr;
}

void JsonAttrs(const json::value* list, json::object* into) {
  if (!list || !list->is_array()) return;
  for (const auto& kv : list->as_array()) {
    if (!kv.is_object()) continue;
    auto* key = kv.as_object().if_contains("key");
    auto* value = kv.as_object().if_contains("value");
    if (key && key->is_string()) (*into)[key->as_string()] = value ? JsonAny(*value) : json::value();
  }
}

uint64_t JsonNanos(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_string()) return std::strtoull(v->as_string().c_str(), nullptr, 10);
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(v->as_int64());
  return 0;
}

std::string JsonStr(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

template <typename Emit>
bool JsonRequest(const json::value& root, Emit emit) {
  if (!root.is_object()) return false;
  auto* rss = root.as_object().if_contains("resourceSpans");
  if (!rss) return true;
  if (!rss->is_array()) return false;
  for (const auto& rs : rss->as_array()) {
    if (!rs.is_object()) return false;
    json::object resource;
    if (auto* r = rs.as_object().if_contains("resource"); r && r->is_object())
      JsonAttrs(r->as_object().if_contains("attributes"), &resource);
    auto* scopes = rs.as_object().if_contains("scopeSpans");
    if (!scopes || !scopes->is_array()) continue;
    for (const auto& sc : scopes->as_array()) {
      auto* spans = sc.is_object() ? sc.as_object().if_contains("spans") : nullptr;
      if (!spans || !spans->is_array()) continue;
      for (const auto& sp : spans->as_array()) {
        if (!sp.is_object()) return false;
        const auto& o = sp.as_object();
        SpanData span;
        span.trace_id = JsonStr(o, "traceId");
        span.span_id = JsonStr(o, "spanId");
        span.parent_id = JsonStr(o, "parentSpanId");
        span.name = JsonStr(o, "name");
        span.start_ns = JsonNanos(o, "startTimeUnixNano");
        span.end_ns = JsonNanos(o, "endTimeUnixNano");
        JsonAttrs(o.if_contains("attributes"), &span.attrs);
        if (auto* st = o.if_contains("status"); st && st->is_object()) {
          span.status_message = JsonStr(st->as_object(), "message");
          if (auto* c = st->as_object().if_contains("code"); c && c->is_int64()) span.status_code = static_cast<int>(c->as_int64());
          else if (c && c->is_string() && c->as_string() == "STATUS_CODE_ERROR") span.status_code = 2;
        }
        emit(resource, span);
      }
    }
  }
  return true;
}

// ---- mapping ----

std::optional<std::string> AttrStr(const json::object& a, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (auto* v = a.if_contains(k); v && !v->is_null()) return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
  return std::nullopt;
}

std::optional<int64_t> AttrInt(const json::object& a, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto* v = a.if_contains(k);
    if (!v) continue;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    if (v->is_double()) return static_cast<int64_t>(v->as_double());
    if (v->is_string()) return std::strtoll(v->as_string().c_str(), nullptr, 10);
  }
  return std::nullopt;
}

bool Map(const json::object& resource, const SpanData& s, const std::string& project, std::vector<Item>* out,
         std::string* error) {
  if (s.trace_id.size() != 32 || s.span_id.size() != 16 || AllZero(s.trace_id) || AllZero(s.span_id)) {
    *error = "span '" + s.name + "' has an invalid traceId/spanId";
    return false;
  }
  const auto& a = s.attrs;
  Observation o;
  o.id = s.span_id;
  o.trace_id = s.trace_id;
  o.project = project;
  if (!s.parent_id.empty() && !AllZero(s.parent_id)) o.parent_id = s.parent_id;
  o.name = s.name;
  o.start_us = static_cast<int64_t>(s.start_ns / 1000);
  o.end_us = static_cast<int64_t>(s.end_ns / 1000);
  o.model = AttrStr(a, {"gen_ai.response.model", "gen_ai.request.model"});
  o.input_tokens = AttrInt(a, {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"});
  o.output_tokens = AttrInt(a, {"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"});
  if (auto cached = AttrInt(a, {"gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cached_tokens"})) o.cached_tokens = cached;
  if (o.input_tokens || o.output_tokens) o.total_tokens = o.input_tokens.value_or(0) + o.output_tokens.value_or(0);
  bool genai = o.model || o.input_tokens || o.output_tokens || a.contains("gen_ai.operation.name");
  o.type = genai ? ObservationType::kGeneration : ObservationType::kSpan;
  json::object params;
  for (const auto& kv : a) {
    std::string_view k = kv.key();
    if (k.starts_with("gen_ai.request.") && k != "gen_ai.request.model") params[k.substr(15)] = kv.value();
  }
  if (!params.empty()) o.model_parameters = json::serialize(params);
  o.input = AttrStr(a, {"gen_ai.prompt", "input.value", "langfuse.observation.input"});
  o.output = AttrStr(a, {"gen_ai.completion", "output.value", "langfuse.observation.output"});
  if (o.input) o.input = json::serialize(json::value(json::string(*o.input)));
  if (o.output) o.output = json::serialize(json::value(json::string(*o.output)));
  if (!a.empty()) o.metadata = json::serialize(a);
  if (s.status_code == 2) {
    o.level = Level::kError;
    o.status_message = s.status_message.empty() ? "error" : s.status_message;
  }
  auto user = AttrStr(a, {"user.id", "enduser.id", "langfuse.user.id"});
  auto session = AttrStr(a, {"session.id", "gen_ai.conversation.id", "langfuse.session.id"});
  auto env = AttrStr(resource, {"deployment.environment.name", "deployment.environment"});
  if (env) o.environment = env;
  if (genai) o.user_id = user;
  if (!o.parent_id || user || session) {
    Trace t;
    t.id = s.trace_id;
    t.project = project;
    if (!o.parent_id) {
      t.timestamp_us = o.start_us;
      t.name = s.name;
      if (auto svc = AttrStr(resource, {"service.name"})) t.metadata = json::serialize(json::object{{"service.name", *svc}});
    }
    t.user_id = user;
    t.session_id = session;
    t.environment = env;
    out->push_back(Item{{}, false, std::move(t)});
  }
  out->push_back(Item{{}, false, std::move(o)});
  return true;
}

}  // namespace

bool Gunzip(std::string_view data, size_t limit, std::string* out, std::string* error) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {  // 32: gzip or zlib header
    *error = "zlib init failed";
    return false;
  }
  out->clear();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  char buf[65536];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) *error = "corrupt gzip body";
    else if (out->append(buf, sizeof buf - zs.avail_out).size() > limit) *error = "decompressed body exceeds the limit";
    else if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) *error = "truncated gzip body";
    if (!error->empty()) {
      inflateEnd(&zs);
      return false;
    }
  }
  inflateEnd(&zs);
  return true;
}

Result<std::vector<Item>> DecodeTraces(std::string_view body, std::string_view content_type, std::string_view encoding,
                                       const std::string& project) {
  std::string inflated;
  if (encoding == "gzip" || encoding == "deflate") {
    std::string error;
    if (!Gunzip(body, 64u << 20, &inflated, &error)) return error;
    body = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return "unsupported Content-Encoding '" + std::string(encoding) + "'";
  }
  std::vector<Item> items;
  std::string error;
  auto emit = [&](const json::object& resource, const SpanData& span) {
    if (error.empty()) Map(resource, span, project, &items, &error);
  };
  if (content_type.find("json") != std::string_view::npos) {
    boost::system::error_code ec;
    auto root = json::parse(body, ec);
    if (ec) return "malformed JSON: " + ec.message();
    // OTLP JSON ids are hex; tolerate base64 from protobuf-JSON mappers only when hex fails.
    if (!JsonRequest(root, emit)) return std::string("not an ExportTraceServiceRequest");
  } else if (content_type.find("protobuf") != std::string_view::npos) {
    if (!PbRequest(body, emit)) return std::string("malformed protobuf ExportTraceServiceRequest");
  } else {
    return "unsupported Content-Type '" + std::string(content_type) + "' (application/x-protobuf or application/json)";
  }
  if (!error.empty()) return error;
  return items;
}

}  // namespace ap::telemetry::otlp
