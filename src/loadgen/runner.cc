// loadgen/runner.cc — the event loops, the request coroutine and SSE timing.
//
// GCC 12 destroys a braced-init or operator+ temporary passed straight into a co_await'ed call
// twice: every argument of a co_await'ed call here is a named local.
#include "loadgen/runner.h"

#include <cmath>
#include <memory>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "config/config.h"
#include "http/client.h"
#include "http/sse.h"

namespace ap::loadgen {
namespace {

namespace net = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMaxBody = 64ull << 20;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Sec(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What every shard reads; the atomics are the only shared mutable state.
struct Shared {
  const RunOptions* options = nullptr;
  http::Endpoint endpoint;
  std::string target;
  std::string host_header;
  std::string authorization;
  Clock::time_point start;
  Clock::time_point measure_from;  // start + warmup
  Clock::time_point stop_at;       // duration mode: measure_from + duration
  bool by_count = false;
  std::atomic<int64_t> budget{0};  // count mode: measured requests still to send
  Progress* progress = nullptr;
};

std::string BuildBody(const RunOptions& o, const RequestSpec& spec) {
  json::object body;
  body["model"] = o.model;
  if (o.api == Api::kChat) {
    json::array messages;
    for (const auto& m : spec.messages) messages.push_back(json::object{{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(messages);
  } else {
    body["prompt"] = PromptText(spec);
  }
  body["max_tokens"] = spec.output_tokens;
  if (o.ignore_eos) body["ignore_eos"] = true;
  if (o.stream) {
    body["stream"] = true;
    body["stream_options"] = json::object{{"include_usage", true}};
  }
  if (!spec.user.empty()) body["user"] = spec.user;
  return json::serialize(body);
}

// Token-bearing text of one streamed choice (content, reasoning, tool-call arguments) or of a
// non-streamed one; sets *has_tokens when the choice carries any.
void ChoiceText(const json::object& choice, bool chat, bool streamed, std::string* text, bool* has_tokens) {
  auto take = [&](const json::value* v) {
    if (v && v->is_string() && !v->as_string().empty()) {
      *has_tokens = true;
      if (text) text->append(v->as_string().data(), v->as_string().size());
    }
  };
  if (!chat) {
    take(choice.if_contains("text"));
    return;
  }
  const json::value* holder = choice.if_contains(streamed ? "delta" : "message");
  if (!holder || !holder->is_object()) return;
  const auto& d = holder->as_object();
  take(d.if_contains("content"));
  take(d.if_contains("reasoning_content"));
  if (const auto* calls = d.if_contains("tool_calls"); calls && calls->is_array() && !calls->as_array().empty())
    *has_tokens = true;
}

void ReadUsage(const json::object& o, RequestRecord* rec) {
  const auto* u = o.if_contains("usage");
  if (!u || !u->is_object()) return;
  const auto& uo = u->as_object();
  if (const auto* c = uo.if_contains("completion_tokens"); c && c->is_int64()) {
    rec->output_tokens = c->as_int64();
    rec->usage = true;
  }
  if (const auto* p = uo.if_contains("prompt_tokens"); p && p->is_int64()) rec->prompt_tokens = p->as_int64();
}

// One stream's parse state, updated event by event.
struct StreamState {
  RequestRecord* rec;
  std::vector<float>* gaps;
  std::string* answer;  // null unless the answer text is needed (multi-turn)
  bool done = false;
  bool stream_error = false;
  bool bad = false;
  Clock::time_point last{};
  double gap_sum = 0;
};

// Handles one SSE event that arrived at `now`. Not a coroutine: its parse arena lives on the
// thread's stack, not in every request's coroutine frame.
void OnEvent(const http::SseEvent& ev, Clock::time_point now, Clock::time_point t0, bool chat,
             StreamState& st) {
  if (st.done || ev.data.empty()) return;
  if (ev.data == "[DONE]") {
    st.done = true;
    return;
  }
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  json::value v = json::parse(ev.data, ec, &mr);
  if (ec || !v.is_object()) {
    st.bad = true;
    return;
  }
  const auto& obj = v.as_object();
  if (obj.contains("error")) st.stream_error = true;
  RequestRecord& rec = *st.rec;
  ReadUsage(obj, &rec);
  const auto* choices = obj.if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty() || !choices->as_array()[0].is_object())
    return;
  bool tokens = false;
  ChoiceText(choices->as_array()[0].as_object(), chat, true, st.answer, &tokens);
  if (!tokens) return;
  if (rec.chunks == 0) {
    rec.ttft_ms = Ms(now - t0);
  } else {
    const double gap = Ms(now - st.last);
    st.gap_sum += gap;
    st.gaps->push_back(static_cast<float>(gap));
  }
  st.last = now;
  ++rec.chunks;
}

const char* ErrorKind(http::ExchangeError e) {
  switch (e) {
    case http::ExchangeError::kConnect: return "connect";
    case http::ExchangeError::kFirstByteTimeout:
    case http::ExchangeError::kTotalTimeout: return "timeout";
    case http::ExchangeError::kBodyTooLarge: return "bad_response";
    default: return "broken_stream";
  }
}

class Shard {
 public:
  Shard(Shared& shared, int index, int shards)
      : shared_(shared), o_(*shared.options), workload_(o_.workload, index, shards),
        rng_(0x10adull * 7919 + static_cast<uint64_t>(index) * 104729 + o_.workload.seed) {
    if (o_.qps > 0) {
      rate_ = o_.qps / shards;
    } else {
      workers_ = o_.concurrency / shards + (index < o_.concurrency % shards ? 1 : 0);
    }
  }

  void Run() {
    if (rate_ > 0) {
      net::co_spawn(ioc_, Dispatch(), net::detached);
    } else {
      for (int i = 0; i < workers_; ++i) net::co_spawn(ioc_, Worker(), net::detached);
    }
    ioc_.run();
    http::ConnectionPool::Local().Clear();
  }

  std::vector<RequestRecord> records;
  std::vector<float> itl_ms;

 private:
  // True (and the budget taken) when another request may start now; `measured` says whether it
  // is recorded. False once the run is over.
  // `now` is the arrival's scheduled time (Poisson) so a late timer neither drops nor shifts it.
  bool Claim(bool* measured, Clock::time_point now = Clock::now()) {
    *measured = now >= shared_.measure_from;
    if (!*measured) return true;
    if (shared_.by_count) return shared_.budget.fetch_sub(1, std::memory_order_relaxed) > 0;
    return now < shared_.stop_at;
  }

  double NextGapSeconds() {
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
    return -std::log1p(-u) / rate_;
  }

  net::awaitable<void> Dispatch() {
    net::steady_timer timer(ioc_);
    auto next = Clock::now();
    while (true) {
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(NextGapSeconds()));
      timer.expires_at(next);
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      bool measured = false;
      if (!Claim(&measured, next)) break;
      net::co_spawn(ioc_, OneRequest(measured), net::detached);
    }
  }

  net::awaitable<void> Worker() {
    while (true) {
      bool measured = false;
      if (!Claim(&measured)) break;
      co_await OneRequest(measured);
    }
  }

  net::awaitable<void> OneRequest(bool measured) {
    Progress* progress = shared_.progress;
    if (progress) {
      progress->started.fetch_add(1, std::memory_order_relaxed);
      progress->in_flight.fetch_add(1, std::memory_order_relaxed);
    }
    RequestSpec spec = workload_.Next();
    RequestRecord rec;
    rec.measured = measured;
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, shared_.target, 11};
    req.set(bhttp::field::host, shared_.host_header);
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::accept, o_.stream ? "text/event-stream" : "application/json");
    if (!shared_.authorization.empty()) req.set(bhttp::field::authorization, shared_.authorization);
    if (!spec.session_id.empty()) req.set("x-session-id", spec.session_id);
    for (const auto& [k, v] : o_.headers) req.set(k, v);
    req.body() = BuildBody(o_, spec);

    const bool multi_turn = o_.workload.kind == WorkloadKind::kMultiTurn;
    std::string answer;
    std::vector<float> gaps;
    const auto t0 = Clock::now();
    rec.start_s = Sec(t0 - shared_.start);
    http::ExchangeTimeouts timeouts{o_.connect_timeout, o_.timeout, o_.timeout};
    http::Exchange ex(shared_.endpoint, timeouts);
    auto e = co_await ex.Start(req);
    if (e != http::ExchangeError::kNone) {
      rec.error = ErrorKind(e);
    } else if (rec.status = ex.status(); rec.status != 200) {
      std::string ignored;
      co_await ex.ReadAll(ignored, 1 << 16);
      rec.error = "http_" + std::to_string(rec.status);
    } else if (o_.stream) {
      gaps.reserve(static_cast<size_t>(spec.output_tokens));
      http::SseSplitter splitter;
      std::string piece;
      StreamState st{&rec, &gaps, multi_turn ? &answer : nullptr};
      const bool chat = o_.api == Api::kChat;
      while (!st.done) {
        e = co_await ex.ReadSome(piece);
        if (e != http::ExchangeError::kNone || piece.empty()) break;
        const auto now = Clock::now();
        bool fits = splitter.Feed(piece, [&](const http::SseEvent& ev) { OnEvent(ev, now, t0, chat, st); });
        if (!fits) {
          st.bad = true;
          break;
        }
      }
      if (st.done && !ex.done()) {  // drain the terminating chunk so the connection is pooled
        std::string rest;
        co_await ex.ReadAll(rest, 1 << 16);
      }
      if (e != http::ExchangeError::kNone) rec.error = e == http::ExchangeError::kBroken ? "broken_stream" : ErrorKind(e);
      else if (st.stream_error) rec.error = "stream_error";
      else if (st.bad) rec.error = "bad_response";
      else if (!st.done) rec.error = "broken_stream";
      if (!gaps.empty()) rec.itl_mean_ms = st.gap_sum / static_cast<double>(gaps.size());
      if (!rec.usage) rec.output_tokens = rec.chunks;
    } else {
      std::string body;
      e = co_await ex.ReadAll(body, kMaxBody);
      if (e != http::ExchangeError::kNone) {
        rec.error = ErrorKind(e);
      } else {
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        if (ec || !v.is_object()) {
          rec.error = "bad_response";
        } else {
          const auto& obj = v.as_object();
          ReadUsage(obj, &rec);
          const auto* choices = obj.if_contains("choices");
          bool tokens = false;
          if (choices && choices->is_array() && !choices->as_array().empty() && choices->as_array()[0].is_object())
            ChoiceText(choices->as_array()[0].as_object(), o_.api == Api::kChat, false, &answer, &tokens);
          if (!rec.usage) rec.output_tokens = tokens ? 1 : 0;  // no usage: only "some output" is known
        }
      }
    }
    const auto t1 = Clock::now();
    rec.e2e_ms = Ms(t1 - t0);
    rec.end_s = Sec(t1 - shared_.start);
    rec.ok = rec.error.empty();
    if (rec.ok && rec.ttft_ms >= 0 && rec.output_tokens > 1)
      rec.tpot_ms = (rec.e2e_ms - rec.ttft_ms) / static_cast<double>(rec.output_tokens - 1);
    if (rec.ok && measured) itl_ms.insert(itl_ms.end(), gaps.begin(), gaps.end());
    workload_.Complete(spec, answer, rec.ok);
    if (progress) {
      progress->done.fetch_add(1, std::memory_order_relaxed);
      progress->in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (!rec.ok) progress->errors.fetch_add(1, std::memory_order_relaxed);
    }
    records.push_back(std::move(rec));
  }

  Shared& shared_;
  const RunOptions& o_;
  Workload workload_;
  uint64_t rng_;
  double rate_ = 0;
  int workers_ = 0;
  net::io_context ioc_{1};
};

}  // namespace

boost::system::result<RunResult, std::string> Run(const RunOptions& o, Progress* progress) {
  if (o.model.empty()) return std::string("a model name is required (--model)");
  if ((o.qps > 0) == (o.concurrency > 0)) return std::string("give exactly one of a rate (qps) or a concurrency");
  if ((o.duration.count() > 0) == (o.requests > 0)) return std::string("give exactly one of a duration or a request count");
  auto url = config::ParseUrl(o.url);
  if (!url) return "url " + o.url + ": " + url.error();
  Shared shared;
  shared.options = &o;
  shared.progress = progress;
  shared.endpoint.host = url->host;
  shared.endpoint.port = url->port;
  shared.endpoint.key = std::string(url->tls ? "https://" : "http://") + url->host + ":" + std::to_string(url->port);
  if (url->tls) {
    std::string error;
    shared.endpoint.tls = http::MakeClientTlsContext("", o.tls_verify, &error);
    if (!shared.endpoint.tls) return error;
  }
  const std::string base = url->base_path.empty() ? "/v1" : url->base_path;
  shared.target = base + (o.api == Api::kChat ? "/chat/completions" : "/completions");
  shared.host_header = url->HostHeader();
  if (!o.api_key.empty()) shared.authorization = "Bearer " + o.api_key;
  shared.by_count = o.requests > 0;
  shared.budget = o.requests;

  const int threads = std::max(1, std::min(o.threads, o.qps > 0 ? 64 : std::max(1, o.concurrency)));
  std::vector<std::unique_ptr<Shard>> shards;
  for (int i = 0; i < threads; ++i) shards.push_back(std::make_unique<Shard>(shared, i, threads));
  shared.start = Clock::now();
  shared.measure_from = shared.start + o.warmup;
  shared.stop_at = shared.measure_from + o.duration;
  std::vector<std::thread> running;
  for (auto& s : shards) running.emplace_back([&s] { s->Run(); });
  for (auto& t : running) t.join();

  RunResult result;
  result.elapsed_s = Sec(Clock::now() - shared.start);
  double last_end = 0;
  for (auto& s : shards) {
    for (auto& r : s->records) {
      if (r.measured) last_end = std::max(last_end, r.end_s);
      result.records.push_back(std::move(r));
    }
    result.itl_ms.insert(result.itl_ms.end(), s->itl_ms.begin(), s->itl_ms.end());
  }
  result.window_s = std::max(0.0, last_end - Sec(o.warmup));
  return result;
}

}  // namespace ap::loadgen
