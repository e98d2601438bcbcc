// config/config.h — the gateway's configuration as plain structs with documented defaults.
//
// A config file is YAML (see docs/configuration.md). Scalars may use ${ENV} or ${ENV:-default};
// validation errors name the file, line and field. Routes are written the way a Gateway API
// HTTPRoute writes its rules (matches: path/headers, backendRefs: name/weight), and a file may
// also hold whole `kind: HTTPRoute` documents, whose rules become routes. Loading never touches
// the network; it only reads the file and any api_key_file it names.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/result.hpp>

namespace ap::config {

using std::chrono::milliseconds;

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error is not tied to a line
  std::string field;
  std::string message;
  std::string ToString() const;
};

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string base_path;  // without trailing slash, e.g. "/v1"
  std::string HostHeader() const;
};
boost::system::result<Url, std::string> ParseUrl(std::string_view text);

struct Timeouts {
  milliseconds connect{5'000};
  milliseconds first_byte{120'000};  // until the upstream's response headers arrive
  milliseconds total{600'000};       // whole upstream exchange, streams included
};

struct RetryPolicy {
  int max_attempts = 3;  // per backend, first try included
  milliseconds base_backoff{100};
  milliseconds max_backoff{5'000};
  bool on_429 = true;
  bool on_5xx = true;
};

struct CircuitBreakerConfig {
  int failure_threshold = 5;  // consecutive failures that open the breaker; 0 disables it
  milliseconds cooldown{30'000};
};

struct BackendConfig {
  std::string name;
  Url url;
  std::string model;    // model name sent upstream; empty: the client's model as sent
  std::string api_key;  // resolved value (never logged)
  std::vector<std::pair<std::string, std::string>> headers;
  Timeouts timeouts;
  RetryPolicy retry;
  CircuitBreakerConfig breaker;
  std::string ca_file;  // extra CA bundle; empty: the system store
  bool tls_verify = true;
};

struct WeightedRef {
  std::string backend;
  uint32_t weight = 1;
};

struct HeaderMatch {
  std::string name;
  std::string value;
  bool regex = false;
};

struct RouteMatch {
  enum class PathType { kPrefix, kExact };
  PathType path_type = PathType::kPrefix;
  std::string path = "/";
  std::vector<HeaderMatch> headers;
};

struct RouteConfig {
  std::string name;
  std::vector<RouteMatch> matches;  // any may match; empty: matches every request
  std::vector<WeightedRef> backends;
  std::vector<std::string> fallbacks;  // model or backend names, tried in order
};

struct ModelConfig {
  std::string name;  // the public name clients send
  std::vector<WeightedRef> backends;
  std::vector<std::string> fallbacks;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 0;  // 0: one per core
  uint64_t max_body_bytes = 32ull << 20;
  uint64_t max_header_bytes = 64ull << 10;
  milliseconds read_timeout{30'000};  // a client must send its whole request within this
  milliseconds idle_timeout{60'000};  // keep-alive connections idle longer are closed
  milliseconds drain_timeout{30'000};
  std::string access_log = "text";  // text | json | off
};

// A simulated model deployment that `agentplane up` starts in-process (see docs/sim.md): each
// replica is a vLLM-compatible simulator on its own loopback port, added as a backend of the
// public model `model`.
struct FleetEntry {
  std::string model;         // the public model name
  std::string served_model;  // the name the replicas serve; empty: `model`
  std::string gpu = "H100";
  int replicas = 1;
  int tensor_parallel = 0;   // 0: the usual degree for the model on this GPU
  double time_scale = 1.0;   // real seconds per simulated second
};

struct Config {
  std::string source;  // the file it came from, or "<flags>"
  ServerConfig server;
  std::vector<FleetEntry> fleet;  // used by `agentplane up` only
  std::vector<std::string> api_keys;  // static client keys; empty: no auth
  std::vector<BackendConfig> backends;
  std::vector<ModelConfig> models;
  std::vector<RouteConfig> routes;

  const BackendConfig* FindBackend(std::string_view name) const;
  const ModelConfig* FindModel(std::string_view name) const;
};

using ConfigResult = boost::system::result<Config, ConfigError>;

// Parses YAML text; `source` names it in errors.
ConfigResult ParseConfig(std::string_view yaml, std::string_view source);
ConfigResult LoadConfigFile(const std::string& path);
// The quick-start config: every model goes to one OpenAI-compatible backend.
ConfigResult SingleBackendConfig(std::string_view url, std::string_view api_key_env);

// Expands ${VAR} and ${VAR:-default}; nullopt names the first unset variable in `missing`.
std::optional<std::string> ExpandEnv(std::string_view text, std::string* missing);

}  // namespace ap::config
