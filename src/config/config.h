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

// The inference scheduler of a model's replica pool (docs/scheduler.md). Absent: the model's
// backends are balanced by weight alone.
struct SchedulerConfig {
  std::string mode = "default";  // default | round-robin | random | load | prefix
  struct Weights {
    double queue = 2, kv_cache = 2, prefix = 3, session = 0, lora = 0, in_flight = 0;
  } scorers;
  milliseconds scrape_interval{50};
  milliseconds stale_after{500};   // metrics older than this are ignored
  int max_waiting = 5;             // saturation: vllm:num_requests_waiting at or above
  double max_kv_cache = 0.9;       // saturation: KV-cache usage at or above
  int queue_max = 1000;            // requests waiting at the gateway when all are saturated
  milliseconds queue_timeout{30'000};
  std::string priority_header = "x-priority";  // integer; higher is served first
  std::map<std::string, int> priorities;        // tenant (x-tenant or API key) → priority
  int prefix_block_chars = 64;     // prefix index block, in characters of prompt text
  bool debug_header = false;       // x-agentplane-pick: chosen replica and its scores
};

struct ModelConfig {
  std::string name;  // the public name clients send
  std::vector<WeightedRef> backends;
  std::vector<std::string> fallbacks;
  std::optional<SchedulerConfig> scheduler;
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
  // pack: connections on the fewest event loops that keep up (http/placement.h); spread: where
  // the kernel's SO_REUSEPORT hash puts them.
  std::string connection_placement = "pack";
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

// Telemetry (see docs/telemetry.md): where traces and usage are stored, what is captured, prices.
struct TelemetryPriceConfig {
  std::string match;     // regex over the model name
  std::string start_date;  // ISO 8601 date; empty: always
  double input_per_million = 0, output_per_million = 0;
  double cached_input_per_million = -1;  // < 0: same as input
};

struct TelemetryGpuPriceConfig {
  std::string match;  // regex over the backend name
  double usd_per_hour = 0;
  double tokens_per_second = 0;  // until measured; 0: none
};

struct TelemetryProjectConfig {
  std::string name, public_key, secret_key;
};

// Optional OTLP/HTTP export of the gateway's own spans to an external collector.
struct TelemetryExportConfig {
  std::string endpoint;  // e.g. http://otel-collector:4318/v1/traces (no path: /v1/traces); empty: off
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every export (${ENV} allowed)
  std::string protocol = "json";  // http/json (OTLP JSON encoding)
  uint64_t batch_size = 512;      // spans per request
  milliseconds interval{1000};    // longest a span waits for its batch
  uint64_t queue = 8192;          // spans waiting; when full, new spans are dropped and counted
  milliseconds timeout{10'000};   // per export request
  int max_retries = 5;            // on 429/5xx/transport errors, with exponential backoff
};

struct TelemetryConfig {
  // `agentplane gateway` records telemetry when the file has a telemetry: block (enabled unless it
  // says `enabled: false`); `agentplane up` always does unless the block disables it.
  bool configured = false;  // the file had a telemetry: block
  bool enabled = false;
  std::string store = "sqlite";
  std::string data_dir = "data";   // `agentplane up --data-dir` overrides it
  std::string project = "default"; // project of the gateway's own traces
  uint64_t queue = 65536;          // items the writer queue holds before dropping
  milliseconds retention{0};       // 0: keep everything
  std::string capture = "off";     // off | metadata | full
  uint64_t capture_limit = 32 << 10;
  std::vector<std::string> redact;  // RE2 patterns replaced by [REDACTED] in captured payloads
  bool synchronous_full = false;
  // writer_priority: background (idle CPU priority, boosted under backlog, off the event loops' cores;
  // telemetry/writer.h) or normal
  bool writer_background = true;
  std::vector<TelemetryPriceConfig> prices;
  std::vector<TelemetryGpuPriceConfig> gpu_prices;
  std::vector<TelemetryProjectConfig> projects;
  TelemetryExportConfig otlp_export;  // the `export:` block
};

// Teams, virtual keys, budgets and rate limits (see docs/limits.md).
struct LimitsConfig {
  bool configured = false;         // the file had a limits: block
  std::string admin_key;           // the admin API's key; empty: no admin API
  std::string redis;               // redis://host:port[/db]; empty: counters in this process
  bool fail_open = true;           // Redis unreachable: local limits (open) or 503 (closed)
  milliseconds redis_timeout{50};  // per limit check
  std::string data_dir;            // keys.db in local mode; empty: telemetry's data_dir
  uint64_t reserve_completion_tokens = 256;  // reserved when a request sends no max_tokens
  milliseconds settle_interval{20};  // batching of usage/spend reconciliation

  bool operator==(const LimitsConfig&) const = default;
};

struct Config {
  std::string source;  // the file it came from, or "<flags>"
  ServerConfig server;
  std::vector<FleetEntry> fleet;  // used by `agentplane up` only
  std::vector<std::string> api_keys;  // static client keys; empty: no auth
  std::vector<BackendConfig> backends;
  std::vector<ModelConfig> models;
  std::vector<RouteConfig> routes;
  TelemetryConfig telemetry;
  LimitsConfig limits;

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
