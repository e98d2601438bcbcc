// gateway/gateway.cc — endpoint dispatch, auth and request ids; inference goes to proxy.cc.
#include "gateway/gateway.h"

#include <openssl/sha.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "base/random.h"
#include "base/strings.h"
#include "gateway/proxy.h"

namespace ap::gateway {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

bool IsInferencePath(std::string_view path) {
  return path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings" ||
         path == "/chat/completions" || path == "/completions" || path == "/embeddings";
}

std::string_view BearerToken(const http::Request& req) {
  if (auto it = req.find(bhttp::field::authorization); it != req.end()) {
    std::string_view v = it->value();
    if (v.size() > 7 && EqualsIgnoreCase(v.substr(0, 7), "Bearer ")) return Trim(v.substr(7));
    return {};
  }
  if (auto it = req.find("x-api-key"); it != req.end()) return Trim(it->value());
  return {};
}

http::Response JsonResponse(http::Status status, std::string body, const std::string& request_id) {
  http::Response res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set("x-request-id", request_id);
  res.body() = std::move(body);
  return res;
}

}  // namespace

bool ParseTraceparent(std::string_view v, std::string* trace_id, std::string* span_id) {
  v = Trim(v);
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), span = v.substr(36, 16);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(span)) return false;
  if (trace == std::string(32, '0') || span == std::string(16, '0')) return false;
  *trace_id = std::string(trace);
  *span_id = std::string(span);
  return true;
}

namespace {
std::string_view Header(const http::Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string_view() : std::string_view(it->value());
}

// Trace, session, user and tags from the request's headers (W3C traceparent first).
void ReadTraceContext(const http::Request& req, CompletionRecord& rec) {
  if (auto tp = Header(req, "traceparent"); tp.empty() || !ParseTraceparent(tp, &rec.trace_id, &rec.parent_span_id)) {
    auto t = Trim(Header(req, "x-trace-id"));
    rec.trace_minted = t.empty() || t.size() > 128;
    rec.trace_id = rec.trace_minted ? TimeOrderedHexId() : RequestIdFor(t);
  }
  rec.span_id = RandomHexId(8);
  auto session = Trim(Header(req, "x-session-id"));
  if (session.size() <= 256) rec.session_id = std::string(session);
  auto user = Trim(Header(req, "x-user-id"));
  if (user.size() <= 256) rec.user = std::string(user);
  if (auto tags = Header(req, "x-tags"); !tags.empty() && tags.size() <= 1024)
    for (auto t : Split(tags, ','))
      if (auto tag = Trim(t); !tag.empty()) rec.tags.emplace_back(tag);
}
// A virtual key's requests are scheduled as its team (or key), whatever the client claims: the
// scheduler's tenant (fair queueing, `priorities` by tenant) becomes the authenticated identity
// and a client-sent priority header is dropped, so a team cannot promote itself.
void BindSchedulingIdentity(http::Request& req, const RouteTable& table, const std::string& model,
                            const Caller& caller) {
  req.set("x-tenant", caller.team.empty() ? caller.key_id : caller.team);
  const config::ModelConfig* m = table.config().FindModel(model);
  const std::string& header = m && m->scheduler ? m->scheduler->priority_header : config::SchedulerConfig{}.priority_header;
  if (!header.empty()) req.erase(header);
}

}  // namespace

std::string KeyIdFor(std::string_view key) {
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "key-";
  for (int i = 0; i < 6; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 15]);
  }
  return id;
}

std::string RequestIdFor(std::string_view incoming) {
  if (!incoming.empty() && incoming.size() <= 128) {
    bool ok = true;
    for (char c : incoming)
      ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    if (ok) return std::string(incoming);
  }
  return RandomHexId(16);
}

Gateway::Gateway(std::shared_ptr<const RouteTable> table, std::shared_ptr<CompletionSink> sink,
                 GatewayOptions options)
    : table_(std::move(table)), sink_(std::move(sink)), options_(options) {}

bool Gateway::Reload(const config::Config& config, std::string* error) {
  auto old = table_.load();
  auto built = RouteTable::Build(config, old.get(), options_.pickers.get());
  if (!built) {
    *error = built.error();
    return false;
  }
  table_.store(*built);
  return true;
}

std::optional<api::ApiError> Gateway::Authenticate(const http::Request& request, const http::Responder& responder,
                                                   const RouteTable& table, Caller* caller) const {
  const auto& keys = table.config().api_keys;
  std::string_view token = BearerToken(request);
  if (!token.empty() && !keys.empty()) {
    bool match = false;
    for (const auto& k : keys) match |= ConstantTimeEquals(k, token);  // no early exit: constant time
    if (match) {
      caller->key_id = KeyIdFor(token);
      return std::nullopt;
    }
  }
  bool loopback = options_.loopback_without_key && http::TrustedLocalRequest(request, responder.peer());
  if (options_.admitter) return options_.admitter->Authenticate(token, loopback, caller);
  if (keys.empty() || (token.empty() && loopback)) return std::nullopt;
  if (!token.empty()) caller->key_id = KeyIdFor(token);
  return api::ApiError{api::ErrorKind::kAuthentication,
                       "invalid or missing API key (send Authorization: Bearer <key>)", "", "invalid_api_key"};
}

http::Response Gateway::ProtocolError(http::Status status, std::string_view message) {
  api::ApiError e{api::KindForStatus(static_cast<int>(status)), std::string(message), "", ""};
  auto res = JsonResponse(status, api::ErrorBody(e), RandomHexId(16));
  return res;
}

net::awaitable<void> Gateway::Handle(http::Request& request, http::Responder& responder) {
  auto start = Clock::now();
  auto table = table_.load();
  CompletionRecord rec;
  rec.start = std::chrono::system_clock::now();
  rec.method = std::string(request.method_string());
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  rec.path = std::string(path);
  auto rid = request.find("x-request-id");
  rec.request_id = RequestIdFor(rid == request.end() ? std::string_view() : std::string_view(rid->value()));
  ReadTraceContext(request, rec);

  if (path == "/healthz" || path == "/readyz") {
    bool ready = path == "/healthz" || !draining_;
    co_await responder.Send(JsonResponse(ready ? http::Status::ok : http::Status::service_unavailable,
                                         ready ? R"({"status":"ok"})" : R"({"status":"draining"})",
                                         rec.request_id));
    co_return;
  }

  for (const auto& mount : options_.mounts) {
    if (StartsWith(path, mount.path_prefix)) {
      co_await mount.handler->Handle(request, responder);
      co_return;
    }
  }

  auto finish = [&] {
    rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    if (sink_) sink_->Record(rec);
  };

  bool inference = IsInferencePath(path);
  bool models = path == "/v1/models" || path == "/models";
  if (!inference && !models) {
    // Named, not a braced temporary: GCC 12 destroys braced temporaries in co_await
    // arguments twice.
    api::ApiError error{api::ErrorKind::kNotFound, "unknown path " + rec.path, "", "unknown_url"};
    co_await SendApiError(responder, rec, error);
    finish();
    co_return;
  }
  if ((inference && request.method() != bhttp::verb::post) || (models && request.method() != bhttp::verb::get)) {
    http::Response res = JsonResponse(http::Status::method_not_allowed,
                                      api::ErrorBody({api::ErrorKind::kInvalidRequest,
                                                      "method " + rec.method + " is not allowed on " + rec.path, "", "method_not_allowed"}),
                                      rec.request_id);
    res.set(bhttp::field::allow, inference ? "POST" : "GET");
    rec.status = 405;
    co_await responder.Send(std::move(res));
    finish();
    co_return;
  }
  Caller caller;
  if (auto denied = Authenticate(request, responder, *table, &caller)) {
    co_await SendApiError(responder, rec, *denied);
    finish();
    co_return;
  }
  rec.key_id = caller.key_id;
  rec.team = caller.team;
  rec.project = caller.project;
  Admitter* admitter = options_.admitter.get();
  const bool forward_client_auth = table->config().api_keys.empty() && !admitter;

  if (models) {
    auto names = table->ModelNames();
    if (names.empty() && table->catch_all()) {
      // Quick-start mode: the backend knows its models; ask it.
      co_await ForwardModels(*table->catch_all(), request, forward_client_auth, responder, rec);
      finish();
      co_return;
    }
    boost::json::array data;
    for (const auto& n : names) {
      if (admitter && !admitter->AllowsModel(caller, n)) continue;  // a key lists what it may use
      boost::json::object m;
      m["id"] = n;
      m["object"] = "model";
      m["created"] = 0;
      m["owned_by"] = "agentplane";
      data.push_back(std::move(m));
    }
    boost::json::object list;
    list["object"] = "list";
    list["data"] = std::move(data);
    rec.status = 200;
    co_await responder.Send(JsonResponse(http::Status::ok, boost::json::serialize(list), rec.request_id));
    finish();
    co_return;
  }

  if (options_.capture_bytes > 0) {
    rec.request_body = request.body().substr(0, options_.capture_bytes);
    rec.payload_truncated = request.body().size() > options_.capture_bytes;
  }
  // Limits reserve the prompt's tokens at admission; otherwise they are estimated only when a
  // backend reports no usage.
  auto parsed = api::ParseInferenceRequest(std::move(request.body()), admitter != nullptr);
  if (!parsed) {
    co_await SendApiError(responder, rec, parsed.error());
    finish();
    co_return;
  }
  rec.model = parsed->model;
  rec.stream = parsed->stream;
  if (!parsed->user.empty()) rec.user = parsed->user;
  const Target* t = table->Resolve(request, parsed->model);
  if (!t) {
    api::ApiError error{api::ErrorKind::kNotFound, "the model '" + parsed->model + "' does not exist",
                        "model", "model_not_found"};
    co_await SendApiError(responder, rec, error);
    finish();
    co_return;
  }
  rec.route = t->route;
  Admission admission;
  if (admitter) {
    if (!admitter->AllowsModel(caller, parsed->model)) {
      api::ApiError error{api::ErrorKind::kPermission,
                          "this key may not use the model '" + parsed->model + "'", "model", "model_not_allowed"};
      co_await SendApiError(responder, rec, error);
      finish();
      co_return;
    }
    std::string backend_model;
    if (t->group && !t->group->members.empty()) backend_model = t->group->members.front().backend->config.model;
    AdmissionRequest ar{parsed->model, std::move(backend_model), api::PromptTokens(*parsed), parsed->max_tokens};
    admission = co_await admitter->Admit(caller, std::move(ar));
    if (admission.error) {
      co_await SendApiError(responder, rec, *admission.error, admission.headers);
      finish();
      co_return;
    }
    if (caller.state) BindSchedulingIdentity(request, *table, parsed->model, caller);
  }
  ProxyRequest pr{t, &*parsed, &request, std::string(StartsWith(path, "/v1/") ? path.substr(3) : path),
                  forward_client_auth, options_.max_response_bytes, options_.capture_bytes,
                  options_.cost_estimator ? &options_.cost_estimator : nullptr, &admission.headers};
  co_await ProxyInference(pr, responder, rec);
  if (admitter) {
    std::optional<double> cost = rec.cost_usd;  // priced for the client already, when it was
    if (!cost && options_.cost_estimator && rec.usage.known) cost = options_.cost_estimator(rec);
    admitter->Settle(admission, rec, cost);
  }
  finish();
}

}  // namespace ap::gateway
