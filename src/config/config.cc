// config/config.cc — YAML → Config, with strict validation (unknown fields are errors, so a typo
// never silently falls back to a default) and every error pointing at file:line and field path.
#include "config/config.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "base/strings.h"

namespace ap::config {
namespace {

// Carries the file name and turns yaml-cpp nodes into typed values or a ConfigError.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  bool failed() const { return error_.has_value(); }
  ConfigError error() const { return *error_; }

  void Fail(const YAML::Node& node, const std::string& field, const std::string& message) {
    if (error_) return;
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    if (line < 0) line = 0;
    error_ = ConfigError{file_, line, field, message};
  }

  // Rejects keys not in `allowed`.
  void CheckKeys(const YAML::Node& map, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    if (!map.IsMap()) {
      Fail(map, path, "must be a mapping");
      return;
    }
    for (const auto& kv : map) {
      auto key = kv.first.as<std::string>();
      bool ok = false;
      for (auto a : allowed) ok |= (a == key);
      if (!ok) Fail(kv.first, Join(path, key), "unknown field");
    }
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  std::string String(const YAML::Node& node, const std::string& field) {
    if (!node.IsScalar()) {
      Fail(node, field, "must be a string");
      return {};
    }
    std::string missing;
    auto expanded = ExpandEnv(node.Scalar(), &missing);
    if (!expanded) {
      Fail(node, field, "environment variable " + missing + " is not set");
      return {};
    }
    return *expanded;
  }

  std::optional<std::string> OptString(const YAML::Node& map, std::string_view key,
                                       const std::string& path) {
    auto n = map[std::string(key)];
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    return String(n, Join(path, key));
  }

  template <typename T>
  void Duration(const YAML::Node& map, std::string_view key, const std::string& path, T* out) {
    auto s = OptString(map, key, path);
    if (!s) return;
    auto d = ParseDuration(*s);
    if (!d) return Fail(map[std::string(key)], Join(path, key), "not a duration: '" + *s + "'");
    *out = *d;
  }

  void Uint(const YAML::Node& map, std::string_view key, const std::string& path, uint64_t max,
            uint64_t* out) {
    auto s = OptString(map, key, path);
    if (!s) return;
    auto v = ParseUint(*s);
    if (!v || *v > max)
      return Fail(map[std::string(key)], Join(path, key),
                  "must be a whole number from 0 to " + std::to_string(max));
    *out = *v;
  }

  void Int(const YAML::Node& map, std::string_view key, const std::string& path, int max, int* out) {
    uint64_t v = *out;
    Uint(map, key, path, max, &v);
    *out = static_cast<int>(v);
  }

  void Bytes(const YAML::Node& map, std::string_view key, const std::string& path, uint64_t* out) {
    auto s = OptString(map, key, path);
    if (!s) return;
    auto v = ParseByteSize(*s);
    if (!v) return Fail(map[std::string(key)], Join(path, key), "not a size: '" + *s + "'");
    *out = *v;
  }

  void Bool(const YAML::Node& map, std::string_view key, const std::string& path, bool* out) {
    auto s = OptString(map, key, path);
    if (!s) return;
    if (*s == "true") *out = true;
    else if (*s == "false") *out = false;
    else Fail(map[std::string(key)], Join(path, key), "must be true or false");
  }

  std::vector<std::string> StringList(const YAML::Node& map, std::string_view key,
                                      const std::string& path) {
    std::vector<std::string> out;
    auto n = map[std::string(key)];
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) {
      Fail(n, Join(path, key), "must be a list");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i)
      out.push_back(String(n[i], Join(path, key) + "[" + std::to_string(i) + "]"));
    return out;
  }

 private:
  std::string file_;
  std::optional<ConfigError> error_;
};

std::string Idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

void ParseServer(Reader& r, const YAML::Node& n, ServerConfig* s) {
  const std::string p = "server";
  r.CheckKeys(n, p, {"host", "port", "threads", "max_body_size", "max_header_size", "read_timeout",
                     "idle_timeout", "drain_timeout", "access_log", "connection_placement"});
  if (auto h = r.OptString(n, "host", p)) s->host = *h;
  uint64_t port = s->port;
  r.Uint(n, "port", p, 65535, &port);
  s->port = static_cast<uint16_t>(port);
  r.Int(n, "threads", p, 256, &s->threads);
  r.Bytes(n, "max_body_size", p, &s->max_body_bytes);
  r.Bytes(n, "max_header_size", p, &s->max_header_bytes);
  r.Duration(n, "read_timeout", p, &s->read_timeout);
  r.Duration(n, "idle_timeout", p, &s->idle_timeout);
  r.Duration(n, "drain_timeout", p, &s->drain_timeout);
  if (auto a = r.OptString(n, "access_log", p)) {
    if (*a != "text" && *a != "json" && *a != "off")
      r.Fail(n["access_log"], p + ".access_log", "must be text, json or off");
    s->access_log = *a;
  }
  if (auto c = r.OptString(n, "connection_placement", p)) {
    if (*c != "pack" && *c != "spread")
      r.Fail(n["connection_placement"], p + ".connection_placement", "must be pack or spread");
    s->connection_placement = *c;
  }
}

std::vector<WeightedRef> ParseRefs(Reader& r, const YAML::Node& n, const std::string& path) {
  std::vector<WeightedRef> out;
  if (!n.IsSequence() || n.size() == 0) {
    r.Fail(n, path, "must be a non-empty list of {name, weight}");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    auto item = n[i];
    auto p = Idx(path, i);
    WeightedRef ref;
    if (item.IsScalar()) {
      ref.backend = r.String(item, p);
    } else {
      r.CheckKeys(item, p, {"name", "backend", "weight", "port", "kind", "group", "namespace"});
      auto name = r.OptString(item, "name", p);
      if (!name) name = r.OptString(item, "backend", p);
      if (!name) r.Fail(item, p + ".name", "is required");
      else ref.backend = *name;
      uint64_t w = 1;
      r.Uint(item, "weight", p, 1'000'000, &w);
      ref.weight = static_cast<uint32_t>(w);
    }
    out.push_back(ref);
  }
  return out;
}

void ParseBackend(Reader& r, const YAML::Node& n, const std::string& p, BackendConfig* b) {
  r.CheckKeys(n, p, {"name", "url", "model", "api_key", "api_key_env", "api_key_file", "headers",
                     "timeouts", "retries", "circuit_breaker", "ca_file", "tls_verify"});
  if (auto v = r.OptString(n, "name", p)) b->name = *v;
  else r.Fail(n, p + ".name", "is required");
  if (auto v = r.OptString(n, "url", p)) {
    auto u = ParseUrl(*v);
    if (!u) r.Fail(n["url"], p + ".url", u.error());
    else b->url = *u;
  } else {
    r.Fail(n, p + ".url", "is required");
  }
  if (auto v = r.OptString(n, "model", p)) b->model = *v;
  if (auto v = r.OptString(n, "api_key", p)) b->api_key = *v;
  if (auto v = r.OptString(n, "api_key_env", p)) {
    const char* e = std::getenv(v->c_str());
    if (!e) r.Fail(n["api_key_env"], p + ".api_key_env", "environment variable " + *v + " is not set");
    else b->api_key = e;
  }
  if (auto v = r.OptString(n, "api_key_file", p)) {
    std::ifstream f(*v);
    if (!f) {
      r.Fail(n["api_key_file"], p + ".api_key_file", "cannot read " + *v);
    } else {
      std::stringstream ss;
      ss << f.rdbuf();
      b->api_key = std::string(Trim(ss.str()));
    }
  }
  if (auto h = n["headers"]; h.IsDefined()) {
    if (!h.IsMap()) r.Fail(h, p + ".headers", "must be a mapping of header: value");
    else
      for (const auto& kv : h)
        b->headers.emplace_back(kv.first.as<std::string>(),
                                r.String(kv.second, p + ".headers." + kv.first.as<std::string>()));
  }
  if (auto t = n["timeouts"]; t.IsDefined()) {
    auto tp = p + ".timeouts";
    r.CheckKeys(t, tp, {"connect", "first_byte", "total"});
    r.Duration(t, "connect", tp, &b->timeouts.connect);
    r.Duration(t, "first_byte", tp, &b->timeouts.first_byte);
    r.Duration(t, "total", tp, &b->timeouts.total);
  }
  if (auto t = n["retries"]; t.IsDefined()) {
    auto tp = p + ".retries";
    r.CheckKeys(t, tp, {"attempts", "backoff", "max_backoff", "on_429", "on_5xx"});
    r.Int(t, "attempts", tp, 20, &b->retry.max_attempts);
    if (b->retry.max_attempts < 1) r.Fail(t["attempts"], tp + ".attempts", "must be at least 1");
    r.Duration(t, "backoff", tp, &b->retry.base_backoff);
    r.Duration(t, "max_backoff", tp, &b->retry.max_backoff);
    r.Bool(t, "on_429", tp, &b->retry.on_429);
    r.Bool(t, "on_5xx", tp, &b->retry.on_5xx);
  }
  if (auto t = n["circuit_breaker"]; t.IsDefined()) {
    auto tp = p + ".circuit_breaker";
    r.CheckKeys(t, tp, {"failures", "cooldown"});
    r.Int(t, "failures", tp, 1000, &b->breaker.failure_threshold);
    r.Duration(t, "cooldown", tp, &b->breaker.cooldown);
  }
  if (auto v = r.OptString(n, "ca_file", p)) b->ca_file = *v;
  r.Bool(n, "tls_verify", p, &b->tls_verify);
}

std::vector<RouteMatch> ParseMatches(Reader& r, const YAML::Node& n, const std::string& path) {
  std::vector<RouteMatch> out;
  if (!n.IsDefined()) return out;
  if (!n.IsSequence()) {
    r.Fail(n, path, "must be a list");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    auto m = n[i];
    auto p = Idx(path, i);
    r.CheckKeys(m, p, {"path", "headers"});
    RouteMatch rm;
    if (auto pn = m["path"]; pn.IsDefined()) {
      if (pn.IsScalar()) {
        rm.path = r.String(pn, p + ".path");
      } else {
        r.CheckKeys(pn, p + ".path", {"type", "value"});
        auto type = r.OptString(pn, "type", p + ".path").value_or("PathPrefix");
        if (type == "Exact") rm.path_type = RouteMatch::PathType::kExact;
        else if (type != "PathPrefix") r.Fail(pn["type"], p + ".path.type", "must be PathPrefix or Exact");
        rm.path = r.OptString(pn, "value", p + ".path").value_or("/");
      }
    }
    if (auto hn = m["headers"]; hn.IsDefined()) {
      if (!hn.IsSequence()) r.Fail(hn, p + ".headers", "must be a list of {name, value}");
      else
        for (size_t j = 0; j < hn.size(); ++j) {
          auto hp = Idx(p + ".headers", j);
          r.CheckKeys(hn[j], hp, {"name", "value", "type"});
          HeaderMatch hm;
          hm.name = r.OptString(hn[j], "name", hp).value_or("");
          hm.value = r.OptString(hn[j], "value", hp).value_or("");
          auto type = r.OptString(hn[j], "type", hp).value_or("Exact");
          if (type == "RegularExpression") hm.regex = true;
          else if (type != "Exact") r.Fail(hn[j]["type"], hp + ".type", "must be Exact or RegularExpression");
          if (hm.name.empty()) r.Fail(hn[j], hp + ".name", "is required");
          rm.headers.push_back(hm);
        }
    }
    out.push_back(rm);
  }
  return out;
}

void ParseRoute(Reader& r, const YAML::Node& n, const std::string& p, RouteConfig* route) {
  r.CheckKeys(n, p, {"name", "matches", "backendRefs", "backends", "fallbacks", "filters"});
  route->name = r.OptString(n, "name", p).value_or(p);
  route->matches = ParseMatches(r, n["matches"], p + ".matches");
  auto refs = n["backendRefs"].IsDefined() ? n["backendRefs"] : n["backends"];
  route->backends = ParseRefs(r, refs, p + ".backendRefs");
  route->fallbacks = r.StringList(n, "fallbacks", p);
}

// A Gateway API HTTPRoute document: each rule becomes a route named "<metadata.name>/<index>".
void ParseHttpRoute(Reader& r, const YAML::Node& doc, Config* cfg) {
  auto name = doc["metadata"]["name"].IsDefined() ? doc["metadata"]["name"].as<std::string>()
                                                  : std::string("httproute");
  auto rules = doc["spec"]["rules"];
  if (!rules.IsSequence()) return r.Fail(doc, "spec.rules", "must be a list");
  for (size_t i = 0; i < rules.size(); ++i) {
    RouteConfig route;
    auto p = Idx("spec.rules", i);
    r.CheckKeys(rules[i], p, {"matches", "backendRefs", "filters", "name", "timeouts"});
    route.name = name + "/" + std::to_string(i);
    route.matches = ParseMatches(r, rules[i]["matches"], p + ".matches");
    route.backends = ParseRefs(r, rules[i]["backendRefs"], p + ".backendRefs");
    cfg->routes.push_back(std::move(route));
  }
}

// A non-negative decimal number (weights, fractions); fails on anything else.
void Number(Reader& r, const YAML::Node& map, std::string_view key, const std::string& path, double max,
            double* out) {
  auto s = r.OptString(map, key, path);
  if (!s) return;
  char* end = nullptr;
  double v = std::strtod(s->c_str(), &end);
  if (s->empty() || !end || *end != '\0' || !(v >= 0) || v > max) {
    std::string limit = max == 1.0 ? "1" : std::to_string(static_cast<int64_t>(max));
    return r.Fail(map[std::string(key)], Reader::Join(path, key), "must be a number from 0 to " + limit);
  }
  *out = v;
}

void ParseScheduler(Reader& r, const YAML::Node& n, const std::string& p, SchedulerConfig* s) {
  r.CheckKeys(n, p, {"mode", "scorers", "scrape_interval", "stale_after", "saturation", "queue", "prefix",
                     "debug_header"});
  if (r.failed()) return;
  if (auto v = r.OptString(n, "mode", p)) {
    s->mode = *v;
    if (*v != "default" && *v != "round-robin" && *v != "random" && *v != "load" && *v != "prefix")
      r.Fail(n["mode"], p + ".mode", "must be default, round-robin, random, load or prefix");
  }
  if (auto w = n["scorers"]; w.IsDefined()) {
    auto wp = p + ".scorers";
    r.CheckKeys(w, wp, {"queue", "kv_cache", "prefix", "session", "lora", "in_flight"});
    if (!r.failed()) {
      Number(r, w, "queue", wp, 100, &s->scorers.queue);
      Number(r, w, "kv_cache", wp, 100, &s->scorers.kv_cache);
      Number(r, w, "prefix", wp, 100, &s->scorers.prefix);
      Number(r, w, "session", wp, 100, &s->scorers.session);
      Number(r, w, "lora", wp, 100, &s->scorers.lora);
      Number(r, w, "in_flight", wp, 100, &s->scorers.in_flight);
    }
  }
  r.Duration(n, "scrape_interval", p, &s->scrape_interval);
  r.Duration(n, "stale_after", p, &s->stale_after);
  if (s->scrape_interval.count() < 1) r.Fail(n["scrape_interval"], p + ".scrape_interval", "must be at least 1ms");
  if (s->stale_after < s->scrape_interval)
    r.Fail(n["stale_after"], p + ".stale_after", "must be at least scrape_interval");
  if (auto sat = n["saturation"]; sat.IsDefined()) {
    auto sp = p + ".saturation";
    r.CheckKeys(sat, sp, {"max_waiting", "max_kv_cache"});
    if (!r.failed()) {
      r.Int(sat, "max_waiting", sp, 1'000'000, &s->max_waiting);
      Number(r, sat, "max_kv_cache", sp, 1.0, &s->max_kv_cache);
    }
  }
  if (auto q = n["queue"]; q.IsDefined()) {
    auto qp = p + ".queue";
    r.CheckKeys(q, qp, {"max", "timeout", "priority_header", "priorities"});
    if (!r.failed()) {
      r.Int(q, "max", qp, 1'000'000, &s->queue_max);
      r.Duration(q, "timeout", qp, &s->queue_timeout);
      if (auto h = r.OptString(q, "priority_header", qp)) s->priority_header = *h;
      if (auto pr = q["priorities"]; pr.IsDefined()) {
        if (!pr.IsMap()) r.Fail(pr, qp + ".priorities", "must be a mapping of tenant to priority");
        else
          for (const auto& kv : pr) {
            auto tenant = kv.first.as<std::string>();
            auto v = kv.second.IsScalar() ? kv.second.Scalar() : std::string();
            char* end = nullptr;
            long prio = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || prio < -1000 || prio > 1000)
              r.Fail(kv.second, qp + ".priorities." + tenant, "must be a whole number from -1000 to 1000");
            else s->priorities[tenant] = static_cast<int>(prio);
          }
      }
    }
  }
  if (auto px = n["prefix"]; px.IsDefined()) {
    auto pp = p + ".prefix";
    r.CheckKeys(px, pp, {"block_chars"});
    if (!r.failed()) {
      r.Int(px, "block_chars", pp, 4096, &s->prefix_block_chars);
      if (s->prefix_block_chars < 8) r.Fail(px["block_chars"], pp + ".block_chars", "must be at least 8");
    }
  }
  r.Bool(n, "debug_header", p, &s->debug_header);
}

// Parses a non-negative number ("0.5", "3") for a price; false when it is not one.
bool ParseMoney(Reader& r, const YAML::Node& map, const char* key, const std::string& path, double* out) {
  auto v = r.OptString(map, key, path);
  if (!v) return false;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || !end || *end != '\0' || d < 0) {
    r.Fail(map[key], path + "." + key, "must be a non-negative number");
    return false;
  }
  *out = d;
  return true;
}

void ParseTelemetryExport(Reader& r, const YAML::Node& e, const std::string& p, TelemetryExportConfig* x) {
  r.CheckKeys(e, p, {"endpoint", "headers", "protocol", "batch_size", "interval", "queue", "timeout", "max_retries"});
  if (r.failed()) return;
  if (auto v = r.OptString(e, "endpoint", p)) {
    if (auto u = ParseUrl(*v); !u) r.Fail(e["endpoint"], p + ".endpoint", u.error());
    x->endpoint = *v;
  } else {
    r.Fail(e, p + ".endpoint", "is required");
  }
  if (auto h = e["headers"]; h.IsDefined() && !h.IsNull()) {
    if (!h.IsMap()) {
      r.Fail(h, p + ".headers", "must be a mapping of header names to values");
    } else {
      for (const auto& kv : h) {
        auto name = kv.first.as<std::string>();
        x->headers.emplace_back(name, r.String(kv.second, p + ".headers." + name));
      }
    }
  }
  if (auto v = r.OptString(e, "protocol", p)) {
    if (*v != "json" && *v != "http/json") r.Fail(e["protocol"], p + ".protocol", "must be json (http/json)");
    x->protocol = "json";
  }
  r.Uint(e, "batch_size", p, 1 << 16, &x->batch_size);
  if (x->batch_size == 0) r.Fail(e["batch_size"], p + ".batch_size", "must be at least 1");
  r.Uint(e, "queue", p, 1ull << 24, &x->queue);
  if (x->queue == 0) r.Fail(e["queue"], p + ".queue", "must be at least 1");
  r.Duration(e, "interval", p, &x->interval);
  r.Duration(e, "timeout", p, &x->timeout);
  r.Int(e, "max_retries", p, 100, &x->max_retries);
}

void ParseTelemetry(Reader& r, const YAML::Node& n, TelemetryConfig* t) {
  const std::string p = "telemetry";
  r.CheckKeys(n, p, {"enabled", "store", "data_dir", "project", "queue", "retention", "capture", "capture_limit",
                     "redact", "synchronous", "writer_priority", "prices", "gpu_prices", "projects", "export"});
  if (r.failed()) return;
  t->configured = true;
  t->enabled = true;
  r.Bool(n, "enabled", p, &t->enabled);
  if (auto v = r.OptString(n, "store", p)) {
    if (*v != "sqlite") r.Fail(n["store"], p + ".store", "must be sqlite (postgres is not implemented yet)");
    t->store = *v;
  }
  if (auto v = r.OptString(n, "data_dir", p)) t->data_dir = *v;
  if (auto v = r.OptString(n, "project", p)) t->project = *v;
  r.Uint(n, "queue", p, 1ull << 24, &t->queue);
  if (t->queue == 0) r.Fail(n["queue"], p + ".queue", "must be at least 1");
  if (auto v = r.OptString(n, "retention", p)) {
    // Days are the usual unit for retention: "30d".
    if (!v->empty() && v->back() == 'd' && ParseUint(v->substr(0, v->size() - 1)))
      t->retention = std::chrono::hours(24 * *ParseUint(v->substr(0, v->size() - 1)));
    else r.Duration(n, "retention", p, &t->retention);
  }
  if (auto v = r.OptString(n, "capture", p)) {
    if (*v != "off" && *v != "metadata" && *v != "full") r.Fail(n["capture"], p + ".capture", "must be off, metadata or full");
    t->capture = *v;
  }
  r.Bytes(n, "capture_limit", p, &t->capture_limit);
  t->redact = r.StringList(n, "redact", p);
  if (auto v = r.OptString(n, "synchronous", p)) {
    if (*v != "normal" && *v != "full") r.Fail(n["synchronous"], p + ".synchronous", "must be normal or full");
    t->synchronous_full = *v == "full";
  }
  if (auto v = r.OptString(n, "writer_priority", p)) {
    if (*v != "background" && *v != "normal")
      r.Fail(n["writer_priority"], p + ".writer_priority", "must be background or normal");
    t->writer_background = *v == "background";
  }
  auto list = [&](const char* key, auto each) {
    auto l = n[key];
    if (!l.IsDefined() || l.IsNull()) return;
    if (!l.IsSequence()) return r.Fail(l, p + "." + key, "must be a list");
    for (size_t i = 0; i < l.size(); ++i) each(l[i], Idx(p + "." + key, i));
  };
  list("prices", [&](const YAML::Node& e, const std::string& ep) {
    r.CheckKeys(e, ep, {"match", "start_date", "input", "output", "cached_input"});
    TelemetryPriceConfig pc;
    if (auto v = r.OptString(e, "match", ep)) pc.match = *v;
    else r.Fail(e, ep + ".match", "is required");
    if (auto v = r.OptString(e, "start_date", ep)) pc.start_date = *v;
    ParseMoney(r, e, "input", ep, &pc.input_per_million);
    ParseMoney(r, e, "output", ep, &pc.output_per_million);
    ParseMoney(r, e, "cached_input", ep, &pc.cached_input_per_million);
    t->prices.push_back(pc);
  });
  list("gpu_prices", [&](const YAML::Node& e, const std::string& ep) {
    r.CheckKeys(e, ep, {"match", "usd_per_hour", "tokens_per_second"});
    TelemetryGpuPriceConfig g;
    if (auto v = r.OptString(e, "match", ep)) g.match = *v;
    else r.Fail(e, ep + ".match", "is required");
    if (!ParseMoney(r, e, "usd_per_hour", ep, &g.usd_per_hour)) r.Fail(e, ep + ".usd_per_hour", "is required");
    ParseMoney(r, e, "tokens_per_second", ep, &g.tokens_per_second);
    t->gpu_prices.push_back(g);
  });
  list("projects", [&](const YAML::Node& e, const std::string& ep) {
    r.CheckKeys(e, ep, {"name", "public_key", "secret_key"});
    TelemetryProjectConfig pc;
    if (auto v = r.OptString(e, "name", ep)) pc.name = *v;
    else r.Fail(e, ep + ".name", "is required");
    if (auto v = r.OptString(e, "public_key", ep)) pc.public_key = *v;
    else r.Fail(e, ep + ".public_key", "is required");
    if (auto v = r.OptString(e, "secret_key", ep)) pc.secret_key = *v;
    else r.Fail(e, ep + ".secret_key", "is required");
    t->projects.push_back(pc);
  });
  if (auto e = n["export"]; e.IsDefined() && !e.IsNull()) ParseTelemetryExport(r, e, p + ".export", &t->otlp_export);
}

void ParseLimits(Reader& r, const YAML::Node& n, LimitsConfig* l) {
  const std::string p = "limits";
  r.CheckKeys(n, p, {"admin_key", "redis", "redis_failure", "redis_timeout", "data_dir",
                     "reserve_completion_tokens", "settle_interval"});
  if (r.failed()) return;
  l->configured = true;
  if (auto v = r.OptString(n, "admin_key", p)) {
    if (!v->empty() && v->size() < 16) r.Fail(n["admin_key"], p + ".admin_key", "must be at least 16 characters");
    l->admin_key = *v;
  }
  if (auto v = r.OptString(n, "redis", p)) {
    if (!v->empty() && !StartsWith(*v, "redis://")) r.Fail(n["redis"], p + ".redis", "must be a redis://host:port[/db] URL");
    l->redis = *v;
  }
  if (auto v = r.OptString(n, "redis_failure", p)) {
    if (*v != "open" && *v != "closed") r.Fail(n["redis_failure"], p + ".redis_failure", "must be open or closed");
    l->fail_open = *v == "open";
  }
  r.Duration(n, "redis_timeout", p, &l->redis_timeout);
  if (auto v = r.OptString(n, "data_dir", p)) l->data_dir = *v;
  r.Uint(n, "reserve_completion_tokens", p, 1ull << 24, &l->reserve_completion_tokens);
  r.Duration(n, "settle_interval", p, &l->settle_interval);
}

void ParseMain(Reader& r, const YAML::Node& root, Config* cfg) {
  r.CheckKeys(root, "", {"server", "auth", "backends", "models", "routes", "fleet", "telemetry", "limits"});
  if (r.failed()) return;
  if (auto l = root["limits"]; l.IsDefined() && !l.IsNull()) ParseLimits(r, l, &cfg->limits);
  if (auto s = root["server"]; s.IsDefined()) ParseServer(r, s, &cfg->server);
  if (auto t = root["telemetry"]; t.IsDefined() && !t.IsNull()) ParseTelemetry(r, t, &cfg->telemetry);
  if (auto a = root["auth"]; a.IsDefined()) {
    r.CheckKeys(a, "auth", {"keys"});
    cfg->api_keys = r.StringList(a, "keys", "auth");
  }
  if (auto b = root["backends"]; b.IsDefined()) {
    if (!b.IsSequence()) r.Fail(b, "backends", "must be a list");
    else
      for (size_t i = 0; i < b.size(); ++i) {
        BackendConfig bc;
        ParseBackend(r, b[i], Idx("backends", i), &bc);
        cfg->backends.push_back(std::move(bc));
      }
  }
  if (auto m = root["models"]; m.IsDefined()) {
    if (!m.IsSequence()) r.Fail(m, "models", "must be a list");
    else
      for (size_t i = 0; i < m.size(); ++i) {
        auto p = Idx("models", i);
        r.CheckKeys(m[i], p, {"name", "backends", "fallbacks", "scheduler"});
        ModelConfig mc;
        if (auto v = r.OptString(m[i], "name", p)) mc.name = *v;
        else r.Fail(m[i], p + ".name", "is required");
        mc.backends = ParseRefs(r, m[i]["backends"], p + ".backends");
        mc.fallbacks = r.StringList(m[i], "fallbacks", p);
        if (auto sn = m[i]["scheduler"]; sn.IsDefined() && !sn.IsNull()) {
          mc.scheduler.emplace();
          ParseScheduler(r, sn, p + ".scheduler", &*mc.scheduler);
        }
        cfg->models.push_back(std::move(mc));
      }
  }
  if (auto f = root["fleet"]; f.IsDefined()) {
    if (!f.IsSequence()) r.Fail(f, "fleet", "must be a list");
    else
      for (size_t i = 0; i < f.size(); ++i) {
        auto p = Idx("fleet", i);
        r.CheckKeys(f[i], p, {"model", "served_model", "gpu", "replicas", "tensor_parallel", "time_scale"});
        FleetEntry e;
        if (auto v = r.OptString(f[i], "model", p)) e.model = *v;
        else r.Fail(f[i], p + ".model", "is required");
        if (auto v = r.OptString(f[i], "served_model", p)) e.served_model = *v;
        if (auto v = r.OptString(f[i], "gpu", p)) e.gpu = *v;
        r.Int(f[i], "replicas", p, 256, &e.replicas);
        if (e.replicas < 1) r.Fail(f[i]["replicas"], p + ".replicas", "must be at least 1");
        r.Int(f[i], "tensor_parallel", p, 16, &e.tensor_parallel);
        if (auto v = r.OptString(f[i], "time_scale", p)) {
          char* end = nullptr;
          e.time_scale = std::strtod(v->c_str(), &end);
          if (!end || *end != '\0' || e.time_scale <= 0)
            r.Fail(f[i]["time_scale"], p + ".time_scale", "must be a positive number");
        }
        cfg->fleet.push_back(std::move(e));
      }
  }
  if (auto rt = root["routes"]; rt.IsDefined()) {
    if (!rt.IsSequence()) r.Fail(rt, "routes", "must be a list");
    else
      for (size_t i = 0; i < rt.size(); ++i) {
        RouteConfig rc;
        ParseRoute(r, rt[i], Idx("routes", i), &rc);
        cfg->routes.push_back(std::move(rc));
      }
  }
}

// Cross-references: every name a route or model uses must exist.
void Validate(Reader& r, const YAML::Node& root, Config* cfg) {
  std::set<std::string> backends, models;
  for (size_t i = 0; i < cfg->backends.size(); ++i)
    if (!backends.insert(cfg->backends[i].name).second)
      r.Fail(root["backends"][i], Idx("backends", i) + ".name", "duplicate backend '" + cfg->backends[i].name + "'");
  for (size_t i = 0; i < cfg->models.size(); ++i)
    if (!models.insert(cfg->models[i].name).second)
      r.Fail(root["models"][i], Idx("models", i) + ".name", "duplicate model '" + cfg->models[i].name + "'");
  auto check_refs = [&](const YAML::Node& node, const std::string& p,
                        const std::vector<WeightedRef>& refs, const std::vector<std::string>& fb) {
    uint64_t total = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
      total += refs[i].weight;
      if (!backends.count(refs[i].backend))
        r.Fail(node, Idx(p + ".backends", i), "unknown backend '" + refs[i].backend + "'");
    }
    if (!refs.empty() && total == 0) r.Fail(node, p + ".backends", "weights add up to zero");
    for (size_t i = 0; i < fb.size(); ++i)
      if (!backends.count(fb[i]) && !models.count(fb[i]))
        r.Fail(node, Idx(p + ".fallbacks", i), "'" + fb[i] + "' is neither a model nor a backend");
  };
  auto models_node = root["models"];
  for (size_t i = 0; i < cfg->models.size(); ++i)
    check_refs(models_node ? models_node[i] : root, Idx("models", i), cfg->models[i].backends,
               cfg->models[i].fallbacks);
  auto routes_node = root["routes"];
  for (size_t i = 0; i < cfg->routes.size(); ++i) {
    YAML::Node n = routes_node && i < routes_node.size() ? routes_node[i] : root;
    check_refs(n, "routes[" + cfg->routes[i].name + "]", cfg->routes[i].backends,
               cfg->routes[i].fallbacks);
  }
}

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

std::string Url::HostHeader() const {
  bool default_port = (tls && port == 443) || (!tls && port == 80);
  return default_port ? host : host + ":" + std::to_string(port);
}

boost::system::result<Url, std::string> ParseUrl(std::string_view text) {
  Url u;
  if (StartsWith(text, "http://")) {
    text.remove_prefix(7);
    u.port = 80;
  } else if (StartsWith(text, "https://")) {
    text.remove_prefix(8);
    u.tls = true;
    u.port = 443;
  } else {
    return std::string("must start with http:// or https://");
  }
  auto slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : text.substr(slash);
  if (authority.empty()) return std::string("has no host");
  if (authority.front() == '[') {  // [::1]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("has a malformed IPv6 host");
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return std::string("has a malformed port");
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    authority = colon == std::string_view::npos ? "" : authority.substr(colon);
  }
  if (!authority.empty()) {
    auto port = ParseUint(authority.substr(1));
    if (!port || *port == 0 || *port > 65535) return std::string("has an invalid port");
    u.port = static_cast<uint16_t>(*port);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path = std::string(path);
  return u;
}

const BackendConfig* Config::FindBackend(std::string_view name) const {
  for (const auto& b : backends)
    if (b.name == name) return &b;
  return nullptr;
}

const ModelConfig* Config::FindModel(std::string_view name) const {
  for (const auto& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

std::optional<std::string> ExpandEnv(std::string_view text, std::string* missing) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.append(text.substr(i));
        break;
      }
      std::string_view inner = text.substr(i + 2, close - i - 2);
      std::optional<std::string_view> fallback;
      if (auto d = inner.find(":-"); d != std::string_view::npos) {
        fallback = inner.substr(d + 2);
        inner = inner.substr(0, d);
      }
      const char* v = std::getenv(std::string(inner).c_str());
      if (v) out += v;
      else if (fallback) out += *fallback;
      else {
        if (missing) *missing = std::string(inner);
        return std::nullopt;
      }
      i = close + 1;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

ConfigResult ParseConfig(std::string_view yaml, std::string_view source) {
  Reader r{std::string(source)};
  Config cfg;
  cfg.source = std::string(source);
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return ConfigError{std::string(source), e.mark.line + 1, "", e.msg};
  }
  YAML::Node main_doc;
  bool have_main = false;
  try {
    for (const auto& doc : docs) {
      if (!doc.IsDefined() || doc.IsNull()) continue;
      if (doc.IsMap() && doc["kind"].IsDefined()) {
        auto kind = doc["kind"].as<std::string>();
        if (kind != "HTTPRoute") {
          r.Fail(doc["kind"], "kind", "unsupported kind '" + kind + "' (expected HTTPRoute)");
          break;
        }
        ParseHttpRoute(r, doc, &cfg);
        continue;
      }
      if (have_main) {
        r.Fail(doc, "", "more than one agentplane config document in one file");
        break;
      }
      main_doc = doc;
      have_main = true;
      ParseMain(r, doc, &cfg);
    }
    if (!r.failed()) Validate(r, have_main ? main_doc : YAML::Node(YAML::NodeType::Map), &cfg);
  } catch (const YAML::Exception& e) {
    r.Fail(YAML::Node(), "", e.what());
  }
  if (r.failed()) return r.error();
  return cfg;
}

ConfigResult LoadConfigFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return ConfigError{path, 0, "", "cannot open file"};
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseConfig(ss.str(), path);
}

ConfigResult SingleBackendConfig(std::string_view url, std::string_view api_key_env) {
  Config cfg;
  cfg.source = "<flags>";
  BackendConfig b;
  b.name = "default";
  auto u = ParseUrl(url);
  if (!u) return ConfigError{"--backend", 0, "", std::string(url) + " " + u.error()};
  b.url = *u;
  if (!api_key_env.empty()) {
    const char* e = std::getenv(std::string(api_key_env).c_str());
    if (!e) return ConfigError{"--backend-key-env", 0, "", std::string(api_key_env) + " is not set"};
    b.api_key = e;
  }
  cfg.backends.push_back(b);
  RouteConfig all;
  all.name = "default";
  all.backends.push_back({"default", 1});
  cfg.routes.push_back(all);
  return cfg;
}

}  // namespace ap::config
