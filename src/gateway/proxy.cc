// gateway/proxy.cc — attempts, retries, fallbacks and the relay of one inference request.
#include "gateway/proxy.h"

#include <charconv>
#include <cstdio>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/token_estimate.h"
#include "base/log.h"
#include "base/random.h"
#include "base/strings.h"
#include "gateway/retry.h"
#include "http/client.h"
#include "http/sse.h"

namespace ap::gateway {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kMaxErrorBody = 64 * 1024;

// Why the last attempt failed, kept to answer the client when every backend has failed.
struct Failure {
  AttemptOutcome outcome = AttemptOutcome::kSuccess;
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
  std::string detail;
};

struct AttemptResult {
  bool delivered = false;  // a response (or part of one) reached the client: no more attempts
  Failure failure;
  std::optional<std::chrono::milliseconds> retry_after;
};

// Appends one stream payload to the captured response, up to `limit` bytes in all.
void CaptureAppend(CompletionRecord& rec, uint64_t limit, std::string_view data) {
  if (rec.response_body.size() >= limit) {
    rec.payload_truncated = true;
    return;
  }
  if (!rec.response_body.empty()) rec.response_body.push_back('\n');
  size_t room = limit - rec.response_body.size();
  if (data.size() > room) rec.payload_truncated = true;
  rec.response_body.append(data.substr(0, room));
}

std::chrono::microseconds Since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

// The upstream request head, written directly (no header container): method and path, the
// backend's fixed lines (Host, User-Agent, its key, its extra headers: BackendState::head_lines),
// the client's key when the gateway has none, the request id and the caller's trace context.
// Values come from the config or from headers the HTTP parser already validated, so none can
// carry a line break.
//
// `emit` is called with the head's pieces in order; UpstreamHead calls it twice, once to size
// the head and once to copy it, so the head costs one allocation and no appends.
template <typename Emit>
void EmitUpstreamHead(Emit&& emit, const BackendState& b, std::string_view head_lines, std::string_view method,
                      std::string_view path, bool stream, std::string_view client_auth,
                      std::string_view traceparent, std::string_view tracestate, std::string_view request_id,
                      std::string_view length) {
  emit(method);
  emit(" ");
  emit(b.config.url.base_path);
  emit(path);
  emit(" HTTP/1.1\r\n");
  emit(head_lines);
  if (method == "POST") emit("Content-Type: application/json\r\n");
  emit(stream ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n");
  if (b.config.api_key.empty() && !client_auth.empty()) {
    emit("Authorization: ");
    emit(client_auth);
    emit("\r\n");
  }
  emit("x-request-id: ");
  emit(request_id);
  if (!traceparent.empty()) {
    emit("\r\ntraceparent: ");
    emit(traceparent);
  }
  if (!tracestate.empty()) {
    emit("\r\ntracestate: ");
    emit(tracestate);
  }
  emit("\r\nContent-Length: ");
  emit(length);
  emit("\r\n\r\n");
}

std::string UpstreamHead(const ProxyRequest& pr, const BackendState& b, std::string_view method,
                         size_t body_size, const std::string& request_id) {
  std::string_view traceparent, tracestate, client_auth;
  if (b.config.api_key.empty() && pr.forward_client_auth) {
    if (auto it = pr.incoming->find(bhttp::field::authorization); it != pr.incoming->end())
      client_auth = it->value();
  }
  if (auto it = pr.incoming->find("traceparent"); it != pr.incoming->end()) traceparent = it->value();
  if (auto it = pr.incoming->find("tracestate"); it != pr.incoming->end()) tracestate = it->value();
  std::string built;  // a BackendState not made by RouteTable::Build (tests) has no lines yet
  std::string_view head_lines = b.head_lines;
  if (head_lines.empty()) head_lines = built = UpstreamLines(b.config);
  char length[24];
  auto r = std::to_chars(length, length + sizeof length, body_size);
  const std::string_view length_text(length, static_cast<size_t>(r.ptr - length));
  const bool stream = pr.body->stream;
  size_t size = 0;
  EmitUpstreamHead([&size](std::string_view piece) { size += piece.size(); }, b, head_lines, method,
                   pr.upstream_path, stream, client_auth, traceparent, tracestate, request_id, length_text);
  std::string h(size, '\0');
  char* p = h.data();
  EmitUpstreamHead([&p](std::string_view piece) { p = std::copy(piece.begin(), piece.end(), p); }, b, head_lines,
                   method, pr.upstream_path, stream, client_auth, traceparent, tracestate, request_id, length_text);
  return h;
}

AttemptOutcome OutcomeForExchangeError(http::ExchangeError e) {
  switch (e) {
    case http::ExchangeError::kConnect: return AttemptOutcome::kConnectError;
    case http::ExchangeError::kFirstByteTimeout:
    case http::ExchangeError::kTotalTimeout: return AttemptOutcome::kTimeout;
    default: return AttemptOutcome::kBroken;
  }
}

constexpr std::string_view kCostHeader = "x-agentplane-cost-usd";

// "x-agentplane-cost-usd: <usd>\r\n", the cost as %.10g, written into `buf`.
std::string_view CostLine(double usd, std::array<char, 64>& buf) {
  char* p = std::copy(kCostHeader.begin(), kCostHeader.end(), buf.data());
  *p++ = ':';
  *p++ = ' ';
  p = AppendDecimal12(p, buf.data() + buf.size() - 2, usd);
  *p++ = '\r';
  *p++ = '\n';
  return std::string_view(buf.data(), static_cast<size_t>(p - buf.data()));
}

// The request's cost from the price table, kept in the record (settlement reuses it).
std::optional<double> PriceReply(const ProxyRequest& pr, CompletionRecord& rec) {
  if (!pr.cost_estimator || !rec.usage.known) return std::nullopt;
  rec.cost_usd = (*pr.cost_estimator)(rec);
  return rec.cost_usd;
}

// "x-agentplane-cost-usd: <usd>\r\n" when the request's cost is known; else empty.
std::string CostTrailer(const ProxyRequest& pr, CompletionRecord& rec) {
  auto cost = PriceReply(pr, rec);
  if (!cost) return {};
  std::array<char, 64> buf;
  return std::string(CostLine(*cost, buf));
}

// The head of a relayed response; the admission's headers (x-ratelimit-*) go to `res` as lines.
bhttp::response_header<> ClientHeader(int status, std::string_view content_type, const CompletionRecord& rec,
                                      const ProxyRequest& pr, http::Responder& res) {
  bhttp::response_header<> h;
  h.result(static_cast<unsigned>(status));
  h.version(11);
  // Head lines, not Beast fields (an allocation and an ordered insert each). The content type
  // is the backend's, which the response parser checked byte by byte (no CR, LF or other
  // control character); the id is one of RequestIdFor's, at most 128 characters of
  // [A-Za-z0-9._:-].
  res.AddHeadLines("Content-Type: ");
  res.AddHeadLines(content_type.empty() ? std::string_view("application/json") : std::string_view(content_type));
  res.AddHeadLines("\r\n");
  char id_line[160];
  if (rec.request_id.size() <= 128) {
    char* p = std::copy_n("x-request-id: ", 14, id_line);
    p = std::copy(rec.request_id.begin(), rec.request_id.end(), p);
    *p++ = '\r';
    *p++ = '\n';
    res.AddHeadLines(std::string_view(id_line, static_cast<size_t>(p - id_line)));
  } else {
    h.set("x-request-id", rec.request_id);
  }
  if (!rec.scheduler_pick.empty()) h.set("x-agentplane-pick", rec.scheduler_pick);
  if (pr.extra_headers && !pr.extra_headers->empty()) res.AddHeadLines(pr.extra_headers->lines());
  return h;
}

// Relays an SSE stream event by event. The first piece of body has been read already (so a
// backend that fails before sending anything can still be retried).
net::awaitable<void> RelayStream(const ProxyRequest& pr, http::Exchange& ex, std::string first,
                                 http::Responder& res, CompletionRecord& rec, Clock::time_point start) {
  auto header = ClientHeader(ex.status(), ex.content_type(), rec, pr, res);
  res.AddHeadLines("Cache-Control: no-cache\r\n");
  // The cost is known only once the usage chunk went by: it follows the last chunk as a trailer.
  const bool cost_trailer = pr.cost_estimator && ex.status() == 200;
  if (cost_trailer) res.AddHeadLines("Trailer: x-agentplane-cost-usd\r\n");
  if (!co_await res.StartStream(std::move(header))) {
    ex.Abort();
    rec.status = 499;
    rec.error = "client disconnected";
    co_return;
  }
  rec.first_byte = Since(start);
  rec.status = ex.status();
  http::SseSplitter splitter;
  std::string kept, joined, piece = std::move(first);
  int64_t content_events = 0;
  std::string trailer;
  // Called once the body is complete: usage (estimated if the backend sent none) and the trailer.
  auto finish = [&] {
    if (!rec.usage.known && ex.status() == 200) {
      const int64_t prompt = api::PromptTokens(*pr.body);
      rec.usage = {prompt, content_events, prompt + content_events, 0, true, true};
    }
    if (cost_trailer) trailer = CostTrailer(pr, rec);
  };
  bool drop_usage = !pr.body->client_wants_usage;
  while (true) {
    // Events go out as the backend sent them (a view of the splitter's buffer, no copy); only
    // after a dropped event (the usage-only chunk the client did not ask for) are the events
    // behind it copied.
    splitter.Append(piece);
    const char* base = splitter.completed(0).data();
    size_t prefix_end = 0;
    bool dropped = false;
    kept.clear();
    size_t scanned = splitter.Scan([&](const http::SseEvent& ev) {
      if (pr.capture_bytes > 0) CaptureAppend(rec, pr.capture_bytes, ev.data);
      auto usage = api::InspectStreamChunk(ev.data);
      if (usage) {
        rec.usage = usage->usage;
        if (usage->usage_only && drop_usage) {
          dropped = true;
          return;
        }
      }
      // Backends stream about one token per chunk: the count stands in when no usage comes.
      if ((!usage || !usage->usage_only) && ev.data != "[DONE]") ++content_events;
      if (!dropped) prefix_end = static_cast<size_t>(ev.raw.data() - base) + ev.raw.size();
      else kept.append(ev.raw);
    });
    std::string_view out = splitter.completed(prefix_end);
    if (!kept.empty()) {
      joined.assign(out);
      joined.append(kept);
      out = joined;
    }
    if (!splitter.within_limit()) {
      ex.Abort();
      rec.status = 502;
      rec.error = "upstream sent an SSE event over the size limit";
      api::ApiError e{api::ErrorKind::kBadGateway, rec.error, "", "upstream_stream_broken"};
      std::string tail = std::string(out) + http::SseData(api::ErrorBody(e));
      co_await res.SendChunk(tail);
      co_await res.EndStream();
      co_return;
    }
    if (ex.done()) {  // the body is complete: last events (and any unterminated tail) and the end in one write
      finish();
      std::string_view rest = splitter.completed(splitter.pending().size()).substr(scanned);
      if (rest.empty()) {
        co_await res.SendFinalChunk(out, trailer);
      } else {
        std::string last = std::string(out) + std::string(rest);
        co_await res.SendFinalChunk(last, trailer);
      }
      co_return;
    }
    if (!out.empty() && !co_await res.SendChunk(out)) {
      ex.Abort();  // the client is gone: cancel the upstream request
      rec.status = 499;
      rec.error = "client disconnected";
      co_return;
    }
    splitter.Consume(scanned);
    auto e = co_await ex.ReadSome(piece);
    if (e != http::ExchangeError::kNone) {
      rec.status = 502;
      rec.error = "upstream stream broke: " + std::string(ex.error_detail());
      log::Warn("gateway", "upstream died mid-stream", {{"request_id", rec.request_id}, {"backend", rec.backend}});
      api::ApiError err{api::ErrorKind::kBadGateway, "the backend's stream ended abruptly", "", "upstream_stream_broken"};
      std::string event = http::SseData(api::ErrorBody(err));
      co_await res.SendChunk(event);
      co_await res.EndStream();
      co_return;
    }
    if (piece.empty()) break;
  }
  std::string tail(splitter.pending());
  finish();
  co_await res.SendFinalChunk(tail, trailer);
}

net::awaitable<AttemptResult> Attempt(const ProxyRequest& pr, const BackendState& b, const std::string& body,
                                      http::Responder& res, CompletionRecord& rec, Clock::time_point start) {
  AttemptResult result;
  const auto& t = b.config.timeouts;
  http::Exchange ex(b.endpoint, http::ExchangeTimeouts{t.connect, t.first_byte, t.total});
  std::string head = UpstreamHead(pr, b, "POST", body.size(), rec.request_id);
  auto e = co_await ex.Start(head, body);
  if (e != http::ExchangeError::kNone) {
    result.failure.outcome = OutcomeForExchangeError(e);
    result.failure.detail = std::string(ex.error_detail());
    co_return result;
  }
  int status = ex.status();
  AttemptOutcome outcome = OutcomeForStatus(status);
  if (outcome != AttemptOutcome::kSuccess && IsRetryable(outcome, b.config.retry)) {
    result.failure.outcome = outcome;
    result.failure.status = status;
    result.failure.content_type = ex.content_type();
    result.failure.retry_after = ex.retry_after();
    if (!result.failure.retry_after.empty())
      result.retry_after = ParseRetryAfter(result.failure.retry_after, std::chrono::system_clock::now());
    co_await ex.ReadAll(result.failure.body, kMaxErrorBody);
    result.failure.detail = "backend answered " + std::to_string(status);
    co_return result;
  }
  const std::string_view content_type = ex.content_type();
  bool is_sse = content_type.find("text/event-stream") != std::string::npos;
  if (pr.body->stream && status == 200 && is_sse) {
    std::string first;
    auto re = co_await ex.ReadSome(first);
    if (re != http::ExchangeError::kNone || (first.empty() && !ex.done())) {
      result.failure.outcome = OutcomeForExchangeError(re);
      result.failure.detail = std::string(ex.error_detail());
      co_return result;  // nothing reached the client yet: retryable
    }
    result.delivered = true;
    co_await RelayStream(pr, ex, std::move(first), res, rec, start);
    co_return result;
  }
  std::string response_body;
  auto re = co_await ex.ReadAll(response_body, pr.max_response_bytes);
  if (re != http::ExchangeError::kNone) {
    result.failure.outcome = re == http::ExchangeError::kBodyTooLarge ? AttemptOutcome::kBroken : OutcomeForExchangeError(re);
    result.failure.detail = std::string(ex.error_detail());
    co_return result;
  }
  if (status == 200 && content_type.find("json") != std::string::npos) {
    rec.usage = api::ExtractUsageFromText(response_body);
    if (!rec.usage.known) {  // the backend reports no usage: estimate it
      int64_t completion = api::EstimateResponseTokens(response_body);
      int64_t prompt = api::PromptTokens(*pr.body);
      rec.usage = {prompt, completion, prompt + completion, 0, true, true};
    }
  }
  if (pr.capture_bytes > 0) CaptureAppend(rec, pr.capture_bytes, response_body);
  http::Response out{static_cast<http::Status>(status), 11};
  out.base() = ClientHeader(status, content_type, rec, pr, res);
  if (auto cost = PriceReply(pr, rec)) {
    std::array<char, 64> buf;
    res.AddHeadLines(CostLine(*cost, buf));
  }
  if (const auto& ra = ex.retry_after(); !ra.empty()) out.set(bhttp::field::retry_after, ra);
  out.body() = std::move(response_body);
  result.delivered = true;
  rec.status = status;
  rec.first_byte = Since(start);
  if (!co_await res.Send(std::move(out))) {
    rec.status = 499;
    rec.error = "client disconnected";
  }
  co_return result;
}

net::awaitable<void> Sleep(std::chrono::milliseconds d) {
  net::steady_timer timer(co_await net::this_coro::executor, d);
  co_await timer.async_wait(net::as_tuple(net::use_awaitable));
}

// The client's answer when no backend delivered.
api::ApiError FinalError(const Failure& f, int attempts, bool any_backend) {
  using api::ErrorKind;
  if (!any_backend)
    return {ErrorKind::kUnavailable, "no backend is available for this model (all are ejected by their circuit breakers)", "", "no_backend_available"};
  std::string after = " after " + std::to_string(attempts) + " attempt" + (attempts == 1 ? "" : "s");
  switch (f.outcome) {
    case AttemptOutcome::kRateLimited:
      return {ErrorKind::kRateLimited, "the backend is rate limiting requests" + after, "", "upstream_rate_limited"};
    case AttemptOutcome::kServerError:
      return {ErrorKind::kBadGateway, "the backend failed with status " + std::to_string(f.status) + after, "", "upstream_error"};
    case AttemptOutcome::kTimeout:
      return {ErrorKind::kGatewayTimeout, "the backend did not answer in time" + after, "", "upstream_timeout"};
    case AttemptOutcome::kConnectError:
      return {ErrorKind::kBadGateway, "could not connect to the backend" + after, "", "upstream_connect_error"};
    default:
      return {ErrorKind::kBadGateway, "the backend connection failed" + after, "", "upstream_error"};
  }
}

}  // namespace

net::awaitable<void> SendApiError(http::Responder& responder, CompletionRecord& record,
                                  const api::ApiError& error,
                                  const ResponseHeaders& headers) {
  int status = api::HttpStatus(error.kind);
  http::Response res{static_cast<http::Status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set("x-request-id", record.request_id);
  if (!headers.empty()) responder.AddHeadLines(headers.lines());
  res.body() = api::ErrorBody(error);
  record.status = status;
  record.error = error.message;
  co_await responder.Send(std::move(res));
}

net::awaitable<void> SendApiError(http::Responder& responder, CompletionRecord& record,
                                  const api::ApiError& error) {
  static const ResponseHeaders kNone;
  return SendApiError(responder, record, error, kNone);
}

net::awaitable<void> ForwardModels(const BackendGroup& group, const http::Request& incoming,
                                   bool forward_client_auth, http::Responder& res, CompletionRecord& rec) {
  const BackendState* b = group.Pick(RandomUnit, {}, Clock::now());
  if (!b) {
    auto error = FinalError({}, 0, false);
    co_await SendApiError(res, rec, error);
    co_return;
  }
  rec.backend = b->config.name;
  api::InferenceRequest none;
  ProxyRequest pr{nullptr, &none, &incoming, "/models", forward_client_auth, kMaxErrorBody * 16};
  std::string head = UpstreamHead(pr, *b, "GET", 0, rec.request_id);
  const auto& t = b->config.timeouts;
  http::Exchange ex(b->endpoint, http::ExchangeTimeouts{t.connect, t.first_byte, t.total});
  std::string body;
  rec.attempts = 1;
  auto e = co_await ex.Start(head, std::string_view());
  if (e == http::ExchangeError::kNone) e = co_await ex.ReadAll(body, pr.max_response_bytes);
  if (e != http::ExchangeError::kNone) {
    Failure f;
    f.outcome = OutcomeForExchangeError(e);
    auto error = FinalError(f, 1, true);
    co_await SendApiError(res, rec, error);
    co_return;
  }
  http::Response out{static_cast<http::Status>(ex.status()), 11};
  out.base() = ClientHeader(ex.status(), ex.content_type(), rec, pr, res);
  out.body() = std::move(body);
  rec.status = ex.status();
  co_await res.Send(std::move(out));
}

net::awaitable<void> ProxyInference(const ProxyRequest& pr, http::Responder& res, CompletionRecord& rec) {
  auto start = Clock::now();
  std::vector<const BackendGroup*> groups{pr.target->group};
  groups.insert(groups.end(), pr.target->fallbacks.begin(), pr.target->fallbacks.end());
  std::vector<const BackendState*> tried;
  Failure last;
  for (const auto* group : groups) {
    PickContext pick_ctx{*pr.body, *pr.incoming, tried};
    while (true) {
      PickResult pick;
      if (group->picker) {
        pick = co_await group->picker->Pick(*group, pick_ctx);
      } else {
        pick.backend = group->Pick(RandomUnit, tried, Clock::now());
      }
      if (pick.error) {
        api::ApiError refusal = *pick.error;
        co_await SendApiError(res, rec, refusal);
        co_return;
      }
      const BackendState* b = pick.backend;
      if (!b) break;
      rec.scheduler_pick = std::move(pick.debug);
      tried.push_back(b);
      rec.backend = b->config.name;
      rec.backend_model = b->config.model.empty() ? pr.body->model : b->config.model;
      std::string body = api::BodyForBackend(*pr.body, b->config.model);
      const auto& policy = b->config.retry;
      for (int attempt = 1; attempt <= policy.max_attempts; ++attempt) {
        ++rec.attempts;
        if (group->picker) group->picker->OnStart(*b, pick_ctx);
        auto result = co_await Attempt(pr, *b, body, res, rec, start);
        if (group->picker)
          group->picker->OnFinish(*b, pick_ctx, result.delivered ? rec.status : result.failure.status);
        if (result.delivered) {
          if (rec.status < 500) b->breaker->RecordSuccess();
          else b->breaker->RecordFailure(Clock::now());
          co_return;
        }
        last = std::move(result.failure);
        if (last.outcome != AttemptOutcome::kRateLimited) b->breaker->RecordFailure(Clock::now());
        log::Debug("gateway", "attempt failed", {{"request_id", rec.request_id}, {"backend", b->config.name},
                                                 {"attempt", attempt}, {"detail", last.detail}});
        if (attempt == policy.max_attempts || !IsRetryable(last.outcome, policy)) break;
        if (!b->breaker->Allow(Clock::now())) break;  // ejected meanwhile: move on
        auto delay = BackoffDelay(policy, attempt + 1, RandomUnit(), result.retry_after);
        if (!delay) break;  // Retry-After longer than we may wait: fall back instead
        co_await Sleep(*delay);
      }
    }
  }
  auto error = FinalError(last, rec.attempts, !tried.empty());
  if (last.outcome == AttemptOutcome::kRateLimited && !last.retry_after.empty()) {
    int status = api::HttpStatus(error.kind);
    http::Response out{static_cast<http::Status>(status), 11};
    out.set(bhttp::field::content_type, "application/json");
    out.set("x-request-id", rec.request_id);
    out.set(bhttp::field::retry_after, last.retry_after);
    out.body() = api::ErrorBody(error);
    rec.status = status;
    rec.error = error.message;
    co_await res.Send(std::move(out));
    co_return;
  }
  if (!last.detail.empty()) rec.error = last.detail;
  co_await SendApiError(res, rec, error);
  rec.error = last.detail.empty() ? error.message : error.message + " (" + last.detail + ")";
}

}  // namespace ap::gateway
