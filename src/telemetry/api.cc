// telemetry/api.cc — HTTP plumbing for telemetry's endpoints (see api.h): routing, Basic auth
// with project keys, the Langfuse ingestion endpoint (207 multi-status, acknowledging only what
// the writer committed), and hand-off of reads to the query pool.
#include "telemetry/api.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "base/strings.h"
#include "telemetry/internal/async.h"
#include "telemetry/internal/queries.h"
#include "telemetry/langfuse.h"
#include "telemetry/otlp.h"

namespace ap::telemetry {
namespace json = boost::json;
namespace net = boost::asio;
using internal::Reply;

namespace {

std::string Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // '=' padding and whitespace
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

http::Response MakeResponse(int status, std::string body, unsigned version, bool keep_alive,
                            const char* content_type = "application/json") {
  http::Response res{static_cast<http::Status>(status), version};
  res.set(http::bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

TelemetryApi::TelemetryApi(std::shared_ptr<Writer> writer, std::shared_ptr<Metrics> metrics, ApiOptions options)
    : writer_(std::move(writer)),
      metrics_(std::move(metrics)),
      options_(std::move(options)),
      pool_(static_cast<size_t>(std::max(1, options_.query_threads))) {}

TelemetryApi::~TelemetryApi() {
  pool_.stop();
  pool_.join();
}

http::Response TelemetryApi::ProtocolError(http::Status status, std::string_view message) {
  auto r = internal::JsonError(static_cast<int>(status), std::string(message));
  return MakeResponse(r.status, r.body, 11, false);
}

std::optional<Tenant> TelemetryApi::Authenticate(const http::Request& req, const http::Responder& responder) const {
  auto auth = req[http::bhttp::field::authorization];
  if (auth.size() > 6 && EqualsIgnoreCase(auth.substr(0, 6), "basic ")) {
    std::string decoded = Base64Decode(auth.substr(6));
    auto colon = decoded.find(':');
    if (colon != std::string::npos) {
      std::string_view pk(decoded.data(), colon), sk(decoded.data() + colon + 1, decoded.size() - colon - 1);
      for (const auto& p : options_.projects)
        if (p.public_key == pk && ConstantTimeEquals(p.secret_key, sk)) return Tenant{p.name, false};
      // Langfuse SDKs only speak Basic auth: a virtual key may stand in as the secret key.
      if (options_.resolve_bearer && !sk.empty()) return options_.resolve_bearer(sk);
    }
    return std::nullopt;
  }
  std::string_view bearer;
  if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "bearer ")) bearer = Trim(auth.substr(7));
  else if (auth.empty()) bearer = Trim(req["x-api-key"]);
  if (!bearer.empty()) {
    if (options_.resolve_bearer) return options_.resolve_bearer(bearer);
    return std::nullopt;
  }
  if (auth.empty() && options_.loopback_without_key && http::TrustedLocalRequest(req, responder.peer()))
    return Tenant{options_.local_project, true};
  return std::nullopt;
}

net::awaitable<void> TelemetryApi::Handle(http::Request& req, http::Responder& responder) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  std::string target(req.target());
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    auto r = internal::JsonError(400, "malformed request target");
    co_await responder.Send(MakeResponse(r.status, r.body, version, keep_alive));
    co_return;
  }
  std::string path = parsed->path();
  internal::Params params;
  for (auto param : parsed->params()) params[std::string(param.key)] = std::string(param.value);

  auto tenant = Authenticate(req, responder);
  if (!tenant) {
    auto r = internal::JsonError(401, "Invalid credentials: use Basic auth with a project's public and secret key, "
                                      "or Authorization: Bearer with a virtual key");
    auto res = MakeResponse(r.status, r.body, version, keep_alive);
    res.set(http::bhttp::field::www_authenticate, "Basic realm=\"agentplane\"");
    co_await responder.Send(std::move(res));
    co_return;
  }
  const auto method = req.method();
  if (path == "/api/public/ingestion" && method == http::bhttp::verb::post) {
    co_await Ingest(req, responder, tenant->project);
    co_return;
  }
  if (path == "/v1/traces" && method == http::bhttp::verb::post) {
    co_await IngestOtlp(req, responder, tenant->project);
    co_return;
  }
  if (path == "/api/public/health" || path == "/api/public/health/") {
    co_await responder.Send(MakeResponse(200, R"({"status":"OK","version":"agentplane"})", version, keep_alive));
    co_return;
  }
  Reply reply;
  if (method != http::bhttp::verb::get) {
    reply = internal::JsonError(405, "method not allowed");
  } else if (path.starts_with("/api/public/") || path.starts_with("/api/telemetry/")) {
    bool lf = path.starts_with("/api/public/");
    std::string rest = path.substr(lf ? 12 : 15);
    Writer* writer = writer_.get();
    // Empty: every project. Who sees every project may narrow to one with ?project= (the
    // dashboard does, so a trace opened from a list is found through the (project, id) index).
    std::string project = tenant->all ? (params.contains("project") ? params["project"] : std::string())
                                      : tenant->project;
    std::function<Reply()> work = [writer, project, rest, params, lf] {
      try {  // a query's bug must answer 500, never end the process on a pool thread
        return lf ? internal::LangfuseGet(writer->store(), project, rest, params)
                  : internal::TelemetryGet(writer->store(), project, rest, params);
      } catch (const std::exception& e) {
        return internal::JsonError(500, std::string("query failed: ") + e.what());
      }
    };
    reply = co_await internal::Offload(pool_, work);
  } else {
    reply = internal::JsonError(404, "not found");
  }
  co_await responder.Send(MakeResponse(reply.status, std::move(reply.body), version, keep_alive));
}

net::awaitable<void> TelemetryApi::Ingest(http::Request& req, http::Responder& responder, std::string project) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  const json::value* batch = nullptr;
  if (!ec && body.is_object())
    if (auto it = body.as_object().find("batch"); it != body.as_object().end() && it->value().is_array())
      batch = &it->value();
  if (!batch) {
    auto r = internal::JsonError(400, "body must be {\"batch\": [events]}");
    co_await responder.Send(MakeResponse(r.status, r.body, version, keep_alive));
    co_return;
  }
  json::array successes, errors;
  std::vector<Item> items;
  std::vector<std::string> pending_ids;
  for (const auto& event : batch->as_array()) {
    std::string id;
    if (event.is_object())
      if (auto it = event.as_object().find("id"); it != event.as_object().end() && it->value().is_string())
        id = std::string(it->value().as_string());
    langfuse::Parsed parsed = langfuse::ParseEvent(event, project);
    if (!parsed.error.empty()) {
      errors.push_back(json::object{{"id", id}, {"status", 400}, {"message", parsed.error}});
    } else if (parsed.item) {
      items.push_back(std::move(*parsed.item));
      pending_ids.push_back(id);
    } else {
      successes.push_back(json::object{{"id", id}, {"status", 201}});
    }
  }
  if (!items.empty()) {
    const int64_t n = static_cast<int64_t>(items.size());
    internal::CommitResult result = co_await internal::Commit(*writer_, items);
    int status = result == internal::CommitResult::kCommitted ? 201
                 : result == internal::CommitResult::kQueueFull ? 429 : 500;
    for (const auto& id : pending_ids) {
      if (status == 201) {
        successes.push_back(json::object{{"id", id}, {"status", 201}});
      } else {
        errors.push_back(json::object{{"id", id}, {"status", status},
                                      {"message", status == 429 ? "ingestion queue full, retry" : "store write failed"}});
      }
    }
    if (status == 201 && metrics_) metrics_->CountIngested("langfuse", n);
  }
  json::object reply{{"successes", std::move(successes)}, {"errors", std::move(errors)}};
  co_await responder.Send(MakeResponse(207, json::serialize(reply), version, keep_alive));
}

net::awaitable<void> TelemetryApi::IngestOtlp(http::Request& req, http::Responder& responder, std::string project) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  std::string content_type(req[http::bhttp::field::content_type]);
  std::string encoding(req[http::bhttp::field::content_encoding]);
  auto items = otlp::DecodeTraces(req.body(), content_type, encoding, project);
  if (!items) {
    auto r = internal::JsonError(400, items.error());
    co_await responder.Send(MakeResponse(r.status, r.body, version, keep_alive));
    co_return;
  }
  const int64_t n = static_cast<int64_t>(items->size());
  internal::CommitResult result = internal::CommitResult::kCommitted;
  if (!items->empty()) result = co_await internal::Commit(*writer_, *items);
  bool proto = content_type.find("protobuf") != std::string::npos;
  if (result == internal::CommitResult::kCommitted) {
    if (metrics_) metrics_->CountIngested("otlp", n);
    // ExportTraceServiceResponse with no partial_success: empty message / empty JSON object.
    co_await responder.Send(MakeResponse(200, proto ? "" : "{}", version, keep_alive,
                                         proto ? "application/x-protobuf" : "application/json"));
    co_return;
  }
  int status = result == internal::CommitResult::kQueueFull ? 429 : 503;
  auto r = internal::JsonError(status, status == 429 ? "ingestion queue full, retry" : "store write failed");
  auto res = MakeResponse(r.status, r.body, version, keep_alive);
  res.set(http::bhttp::field::retry_after, "1");
  co_await responder.Send(std::move(res));
}

net::awaitable<void> MetricsHandler::Handle(http::Request& req, http::Responder& responder) {
  std::string text = metrics_->Render();
  co_await responder.Send(
      MakeResponse(200, std::move(text), req.version(), req.keep_alive(), "text/plain; version=0.0.4; charset=utf-8"));
}

http::Response MetricsHandler::ProtocolError(http::Status status, std::string_view message) {
  return MakeResponse(static_cast<int>(status), std::string(message), 11, false, "text/plain");
}

}  // namespace ap::telemetry
