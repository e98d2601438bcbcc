// sim/internal/replica.cc — routing, the non-generation endpoints and the real-time step loop.
#include "sim/internal/replica.h"

#include <unistd.h>

#include <cmath>
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "base/log.h"

namespace ap::sim::internal {
namespace {

constexpr auto kUse = net::as_tuple(net::use_awaitable);

std::string Uuid(uint64_t seed) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t a = Mix(seed, 1), b = Mix(seed, 2);
  std::string out = "GPU-";
  for (int i = 0; i < 32; ++i) {
    uint64_t word = i < 16 ? a : b;
    out.push_back(kHex[(word >> ((i % 16) * 4)) & 15]);
    if (i == 7 || i == 11 || i == 15 || i == 19) out.push_back('-');
  }
  return out;
}

std::string Base64(const unsigned char* data, size_t n) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < n) v |= data[i + 2];
    out.push_back(kTable[(v >> 18) & 63]);
    out.push_back(kTable[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kTable[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kTable[v & 63] : '=');
  }
  return out;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

http::Response JsonResponse(http::Status status, const json::value& body) {
  http::Response r{status, 11};
  r.set(http::bhttp::field::content_type, "application/json");
  r.body() = json::serialize(body);
  return r;
}

http::Response Error(http::Status status, std::string_view message, std::string_view type,
                     std::string_view code) {
  json::object err;
  err["message"] = message;
  err["type"] = type;
  err["param"] = nullptr;
  if (code.empty()) err["code"] = nullptr; else err["code"] = code;
  return JsonResponse(status, json::object{{"error", std::move(err)}});
}

ReplicaHandler::ReplicaHandler(SimOptions options, EngineConfig config, int index)
    : options_(std::move(options)),
      engine_(std::move(config)),
      index_(index),
      start_(std::chrono::steady_clock::now()),
      faults_(Mix(options_.seed, 0x6661756c74ull + static_cast<uint64_t>(index))) {
  hostname_ = options_.hostname;
  if (hostname_.empty()) {
    char buf[256] = {};
    hostname_ = gethostname(buf, sizeof buf - 1) == 0 ? buf : "localhost";
  }
}

ReplicaHandler::~ReplicaHandler() = default;

double ReplicaHandler::Now() const {
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  return d.count() / options_.time_scale;
}

net::awaitable<void> ReplicaHandler::Sleep(double real_seconds) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(std::chrono::microseconds(static_cast<int64_t>(real_seconds * 1e6)));
  co_await t.async_wait(kUse);
}

http::Response ReplicaHandler::ProtocolError(http::Status status, std::string_view message) {
  return Error(status, message);
}

bool ReplicaHandler::ServesModel(std::string_view name, std::string* lora) const {
  if (name == options_.model) return true;
  auto it = loras_.find(std::string(name));
  if (it == loras_.end()) return false;
  if (lora) *lora = it->first;
  return true;
}

net::awaitable<void> ReplicaHandler::Handle(http::Request& request, http::Responder& responder) {
  if (!executor_) executor_ = co_await net::this_coro::executor;
  Route route = Route::kWhole;
  json::value body;
  http::Response response = Dispatch(request, &route, &body);
  if (route == Route::kChat || route == Route::kCompletion) {
    co_await Generate(body, route == Route::kChat, responder);
    co_return;
  }
  if (route == Route::kEmbeddings) {
    double delay = 0;
    response = EmbeddingsResponse(body, &delay);
    if (delay > 0) co_await Sleep(delay);
  }
  co_await responder.Send(std::move(response));
}

http::Response ReplicaHandler::Dispatch(http::Request& request, Route* route, json::value* body) {
  std::string_view target = request.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  const bool get = request.method() == http::bhttp::verb::get;
  const bool post = request.method() == http::bhttp::verb::post;
  if (get && (target == "/health" || target == "/ping")) return http::Response{http::Status::ok, 11};
  if (get && target == "/v1/models") return Models();
  if (get && target == "/metrics") return Metrics();
  if (get && target == "/version")
    return JsonResponse(http::Status::ok, json::object{{"version", "0.8.5-sim"}});
  const bool known_post = target == "/v1/chat/completions" || target == "/v1/completions" ||
                          target == "/v1/embeddings" || target == "/v1/load_lora_adapter" ||
                          target == "/v1/unload_lora_adapter";
  if (!known_post) return Error(http::Status::not_found, "Not Found: " + std::string(target));
  if (!post) return Error(http::Status::method_not_allowed, "Method Not Allowed");
  boost::system::error_code ec;
  *body = json::parse(request.body(), ec);
  if (ec || !body->is_object())
    return Error(http::Status::bad_request, ec ? "Invalid JSON body: " + ec.message()
                                               : std::string("The request body must be a JSON object"));
  if (target == "/v1/load_lora_adapter") return LoadLora(*body);
  if (target == "/v1/unload_lora_adapter") return UnloadLora(*body);
  *route = target == "/v1/embeddings"    ? Route::kEmbeddings
           : target == "/v1/completions" ? Route::kCompletion
                                         : Route::kChat;
  return http::Response{};
}

http::Response ReplicaHandler::Models() const {
  json::array data;
  auto created = static_cast<int64_t>(std::time(nullptr));
  data.push_back(json::object{{"id", options_.model},
                              {"object", "model"},
                              {"created", created},
                              {"owned_by", "vllm"},
                              {"root", options_.model},
                              {"parent", nullptr},
                              {"max_model_len", engine_.config().max_model_len}});
  for (const auto& [name, path] : loras_)
    data.push_back(json::object{{"id", name},
                                {"object", "model"},
                                {"created", created},
                                {"owned_by", "vllm"},
                                {"root", path},
                                {"parent", options_.model},
                                {"max_model_len", engine_.config().max_model_len}});
  return JsonResponse(http::Status::ok, json::object{{"object", "list"}, {"data", std::move(data)}});
}

http::Response ReplicaHandler::Metrics() {
  const EngineConfig& c = engine_.config();
  MetricsView v;
  v.model_name = options_.model;
  v.hostname = hostname_;
  v.running = static_cast<int64_t>(engine_.num_running());
  v.waiting = static_cast<int64_t>(engine_.num_waiting());
  v.kv_usage = engine_.kv_cache().Usage();
  v.block_size = c.block_size;
  v.num_gpu_blocks = c.num_gpu_blocks;
  v.running_loras = engine_.RunningLoras();
  v.waiting_loras = engine_.WaitingLoras();
  v.max_loras = c.max_loras;
  v.gpu_memory_utilization = c.gpu_memory_utilization;
  v.now_unix = static_cast<double>(std::time(nullptr));
  v.stats = &engine_.stats();
  // Utilisation: busy share of simulated time since the previous scrape (at least 1 s window).
  double now = Now();
  double busy = engine_.stats().busy_seconds;
  if (now - last_scrape_time_ >= 1.0 || last_scrape_time_ == 0) {
    double window = now - last_scrape_time_;
    last_util_ = window > 0 ? std::clamp((busy - last_scrape_busy_) / window, 0.0, 1.0) : 0;
    last_scrape_time_ = now;
    last_scrape_busy_ = busy;
  }
  const double mib = 1024.0 * 1024.0;
  double total_mib = std::floor(c.gpu.memory_bytes / mib);
  double used_mib = std::floor(total_mib * c.gpu_memory_utilization) + 420;
  for (int g = 0; g < c.tensor_parallel; ++g) {
    int gpu_index = index_ * c.tensor_parallel + g;
    GpuSample s;
    s.index = gpu_index;
    s.uuid = Uuid(Mix(HashBytes(hostname_), static_cast<uint64_t>(gpu_index)));
    s.model_name = c.gpu.model_name;
    s.util_percent = std::round(last_util_ * 100);
    s.fb_used_mib = used_mib;
    s.fb_free_mib = total_mib - used_mib;
    s.temp_c = std::round(33 + 42 * last_util_);
    s.power_w = std::round((c.gpu.idle_watts + (c.gpu.tdp_watts - c.gpu.idle_watts) * last_util_) * 10) / 10;
    v.gpus.push_back(std::move(s));
  }
  http::Response r{http::Status::ok, 11};
  r.set(http::bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  r.body() = RenderMetrics(v);
  return r;
}

http::Response ReplicaHandler::LoadLora(const json::value& body) {
  const auto* name = body.as_object().if_contains("lora_name");
  const auto* path = body.as_object().if_contains("lora_path");
  if (!name || !name->is_string() || name->as_string().empty() || !path || !path->is_string())
    return Error(http::Status::bad_request, "Both 'lora_name' and 'lora_path' must be provided.");
  std::string n(name->as_string());
  if (n == options_.model || loras_.count(n))
    return Error(http::Status::bad_request,
                 "The lora adapter '" + n + "' has already been loaded.", "InvalidUserInput");
  loras_[n] = std::string(path->as_string());
  http::Response r{http::Status::ok, 11};
  r.set(http::bhttp::field::content_type, "text/plain; charset=utf-8");
  r.body() = "Success: LoRA adapter '" + n + "' added successfully.";
  return r;
}

http::Response ReplicaHandler::UnloadLora(const json::value& body) {
  const auto* name = body.as_object().if_contains("lora_name");
  if (!name || !name->is_string())
    return Error(http::Status::bad_request, "'lora_name' needs to be provided to unload a LoRA adapter.");
  std::string n(name->as_string());
  if (!loras_.erase(n))
    return Error(http::Status::not_found, "The lora adapter '" + n + "' cannot be found.",
                 "NotFoundError");
  http::Response r{http::Status::ok, 11};
  r.set(http::bhttp::field::content_type, "text/plain; charset=utf-8");
  r.body() = "Success: LoRA adapter '" + n + "' removed successfully.";
  return r;
}

http::Response ReplicaHandler::EmbeddingsResponse(const json::value& body, double* delay) {
  const json::object& o = body.as_object();
  std::string model = o.contains("model") && o.at("model").is_string()
                          ? std::string(o.at("model").as_string()) : options_.model;
  if (!ServesModel(model, nullptr))
    return Error(http::Status::not_found, "The model `" + model + "` does not exist.",
                 "invalid_request_error", "model_not_found");
  // Inputs: a string, a list of strings, a list of token ids, or a list of such lists.
  std::vector<std::vector<uint32_t>> inputs;
  const json::value* input = o.if_contains("input");
  auto add = [&](const json::value& v) {
    std::vector<uint32_t> ids;
    if (v.is_string()) {
      AppendTokenIds(v.as_string(), &ids);
    } else if (v.is_array()) {
      for (const auto& t : v.as_array())
        if (t.is_int64() || t.is_uint64()) ids.push_back(static_cast<uint32_t>(t.to_number<int64_t>()));
    } else {
      return false;
    }
    inputs.push_back(std::move(ids));
    return true;
  };
  bool ok = input != nullptr;
  if (ok && input->is_array() && !input->as_array().empty() && !input->as_array()[0].is_number()) {
    for (const auto& v : input->as_array()) ok = ok && add(v);
  } else if (ok) {
    ok = add(*input);
  }
  if (!ok || inputs.empty())
    return Error(http::Status::bad_request,
                 "'input' must be a string, an array of strings, or token arrays");
  int dims = options_.embedding_dim;
  if (const auto* d = o.if_contains("dimensions"); d && d->is_int64() && d->as_int64() > 0)
    dims = static_cast<int>(std::min<int64_t>(d->as_int64(), 8192));
  bool base64 = false;
  if (const auto* f = o.if_contains("encoding_format"); f && f->is_string())
    base64 = f->as_string() == "base64";
  // A bag of per-token pseudo-random vectors, normalised: the same text gives the same vector and
  // texts sharing words point in similar directions.
  json::array data;
  int64_t tokens = 0;
  std::vector<float> vec(static_cast<size_t>(dims));
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::fill(vec.begin(), vec.end(), 0.0f);
    for (uint32_t id : inputs[i]) {
      SeededRandom rng(Mix(id, 0x656d62));
      for (auto& x : vec) x += static_cast<float>(rng.Unit() * 2 - 1);
    }
    if (inputs[i].empty()) vec[0] = 1;
    double norm = 0;
    for (float x : vec) norm += static_cast<double>(x) * x;
    norm = std::sqrt(norm);
    for (auto& x : vec) x = static_cast<float>(x / norm);
    tokens += static_cast<int64_t>(inputs[i].size());
    json::object item{{"object", "embedding"}, {"index", static_cast<int64_t>(i)}};
    if (base64) {
      item["embedding"] = Base64(reinterpret_cast<const unsigned char*>(vec.data()), vec.size() * 4);
    } else {
      json::array a;
      a.reserve(vec.size());
      for (float x : vec) a.push_back(static_cast<double>(x));
      item["embedding"] = std::move(a);
    }
    data.push_back(std::move(item));
  }
  // The forward pass of an encoder over the whole input, unbatched.
  StepLoad load;
  load.prefill_tokens = tokens;
  load.prefill_context = tokens / 2.0;
  *delay = StepSeconds(engine_.config(), load) * options_.time_scale;
  return JsonResponse(
      http::Status::ok,
      json::object{{"object", "list"},
                   {"data", std::move(data)},
                   {"model", model},
                   {"usage", json::object{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

void ReplicaHandler::Kick() {
  if (!loop_running_) {
    loop_running_ = true;
    net::co_spawn(executor_, StepLoop(), net::detached);
  } else if (loop_idle_ && loop_timer_) {
    loop_timer_->cancel();
  }
}

net::awaitable<void> ReplicaHandler::StepLoop() {
  net::steady_timer timer(executor_);
  loop_timer_ = &timer;
  struct Guard {
    ReplicaHandler* h;
    ~Guard() {
      h->loop_timer_ = nullptr;
      h->loop_running_ = false;
    }
  } guard{this};
  while (true) {
    auto step = engine_.BeginStep(Now());
    if (!step) {
      loop_idle_ = true;
      timer.expires_at(net::steady_timer::time_point::max());
      co_await timer.async_wait(kUse);
      loop_idle_ = false;
      continue;
    }
    timer.expires_after(std::chrono::nanoseconds(static_cast<int64_t>(*step * options_.time_scale * 1e9)));
    co_await timer.async_wait(kUse);
    events_.clear();
    engine_.EndStep(Now(), &events_);
    for (const auto& e : events_) {
      auto it = waiters_.find(e.id);
      if (it == waiters_.end()) continue;
      Waiter& w = *it->second;
      if (w.tokens == 0) w.cached_tokens = e.cached_tokens;
      w.tokens += e.new_tokens;
      w.finished = e.finished;
      if (w.timer) w.timer->cancel();
    }
  }
}

}  // namespace ap::sim::internal
