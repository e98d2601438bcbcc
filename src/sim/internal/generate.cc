// sim/internal/generate.cc — /v1/chat/completions and /v1/completions: parse and plan a request,
// hand it to the engine, then answer whole or as an SSE stream shaped exactly like OpenAI's
// (role chunk, content or tool_calls deltas, a finish chunk, the include_usage chunk, [DONE]).
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "base/random.h"
#include "sim/internal/replica.h"
#include "sim/tool_calls.h"

namespace ap::sim::internal {
namespace {

constexpr auto kUse = net::as_tuple(net::use_awaitable);

// The text of a message's content: a string or a list of {"type":"text","text":…} parts.
void AppendContent(std::string& out, const json::value* content) {
  if (!content) return;
  if (content->is_string()) {
    out.append(content->as_string());
  } else if (content->is_array()) {
    for (const auto& part : content->as_array()) {
      if (!part.is_object()) continue;
      if (const auto* t = part.as_object().if_contains("text"); t && t->is_string())
        out.append(t->as_string());
    }
  }
}

int64_t IntField(const json::object& o, std::string_view key, int64_t fallback, bool* bad) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  *bad = true;
  return fallback;
}

bool BoolField(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

json::object Usage(int64_t prompt, int64_t completion, int64_t cached) {
  return json::object{{"prompt_tokens", prompt},
                      {"total_tokens", prompt + completion},
                      {"completion_tokens", completion},
                      {"prompt_tokens_details", json::object{{"cached_tokens", cached}}}};
}

}  // namespace

bool ReplicaHandler::MakePlan(const json::value& body, bool chat, Plan* plan, http::Response* error) {
  const json::object& o = body.as_object();
  plan->chat = chat;
  const auto* model = o.if_contains("model");
  plan->model = model && model->is_string() ? std::string(model->as_string()) : options_.model;
  if (!ServesModel(plan->model, &plan->lora)) {
    *error = Error(http::Status::not_found, "The model `" + plan->model + "` does not exist.",
                   "invalid_request_error", "model_not_found");
    return false;
  }
  plan->stream = BoolField(o, "stream");
  if (const auto* so = o.if_contains("stream_options"); so && so->is_object())
    plan->include_usage = BoolField(so->as_object(), "include_usage");

  // The prompt as a chat template would lay it out: tools, then "role: content" lines.
  std::string prompt;
  const json::value* tools = o.if_contains("tools");
  bool last_is_tool_result = false;
  if (chat) {
    const auto* messages = o.if_contains("messages");
    if (!messages || !messages->is_array() || messages->as_array().empty()) {
      *error = Error(http::Status::bad_request, "'messages' must be a non-empty array");
      return false;
    }
    if (tools && tools->is_array() && !tools->as_array().empty())
      prompt.append("tools: ").append(json::serialize(*tools)).append("\n");
    for (const auto& m : messages->as_array()) {
      if (!m.is_object()) {
        *error = Error(http::Status::bad_request, "each message must be an object");
        return false;
      }
      const auto* role = m.as_object().if_contains("role");
      std::string_view r = role && role->is_string() ? std::string_view(role->as_string()) : "user";
      prompt.append(r).append(": ");
      AppendContent(prompt, m.as_object().if_contains("content"));
      if (const auto* calls = m.as_object().if_contains("tool_calls"))
        prompt.append(json::serialize(*calls));
      prompt.append("\n");
      last_is_tool_result = r == "tool";
    }
    prompt.append("assistant: ");
  } else {
    const auto* p = o.if_contains("prompt");
    if (p && p->is_array() && !p->as_array().empty()) p = &p->as_array()[0];  // first prompt only
    if (!p || !p->is_string()) {
      *error = Error(http::Status::bad_request, "'prompt' must be a string or an array of strings");
      return false;
    }
    prompt = std::string(p->as_string());
  }
  AppendTokenIds(prompt, &plan->prompt);
  const int64_t prompt_tokens = static_cast<int64_t>(plan->prompt.size());
  const int64_t max_len = engine_.config().max_model_len;

  bool bad = false;
  int64_t max_tokens = IntField(o, "max_completion_tokens", -1, &bad);
  if (max_tokens < 0) max_tokens = IntField(o, "max_tokens", -1, &bad);
  const bool explicit_max = max_tokens >= 0;
  if (!explicit_max) max_tokens = std::min<int64_t>(options_.default_max_tokens, max_len - prompt_tokens);
  int64_t seed = IntField(o, "seed", -1, &bad);
  if (bad || (explicit_max && max_tokens < 1)) {
    *error = Error(http::Status::bad_request, "max_tokens, max_completion_tokens and seed must be integers; max_tokens at least 1");
    return false;
  }
  if (prompt_tokens + std::max<int64_t>(max_tokens, 1) > max_len) {
    *error = Error(http::Status::bad_request,
                   "This model's maximum context length is " + std::to_string(max_len) +
                       " tokens. However, you requested " + std::to_string(prompt_tokens + max_tokens) +
                       " tokens (" + std::to_string(prompt_tokens) + " in the messages, " +
                       std::to_string(max_tokens) + " in the completion). Please reduce the length "
                       "of the messages or completion.",
                   "invalid_request_error", "context_length_exceeded");
    return false;
  }
  // Deterministic: the request's seed, else the server's seed mixed with the prompt.
  uint64_t s = seed >= 0 ? Mix(static_cast<uint64_t>(seed), 0x73656564)
                         : Mix(options_.seed, HashBytes(prompt));

  std::optional<ToolCall> call;
  if (chat && tools && !last_is_tool_result) call = PlanToolCall(*tools, o.if_contains("tool_choice"), s);
  int64_t natural;
  if (call) {
    plan->tool_call = true;
    plan->tool_id = call->id;
    plan->tool_name = call->name;
    plan->output_text = std::move(call->arguments);
    plan->finish_reason = "tool_calls";
    natural = INT64_MAX;
  } else {
    SeededRandom rng(s);
    natural = 16 + static_cast<int64_t>(rng.Below(496));
    if (BoolField(o, "ignore_eos")) natural = max_tokens;
    plan->output_text = FillerText(rng.Next(), static_cast<size_t>(std::min(natural, max_tokens)));
    plan->finish_reason = natural > max_tokens ? "length" : "stop";
  }
  plan->pieces = TokenizePieces(plan->output_text);
  if (static_cast<int64_t>(plan->pieces.size()) > max_tokens) {
    plan->pieces.resize(static_cast<size_t>(max_tokens));
    plan->finish_reason = "length";
  } else if (!call && natural <= max_tokens) {
    plan->finish_reason = "stop";
  }
  return true;
}

net::awaitable<void> ReplicaHandler::Generate(const json::value& body, bool chat,
                                              http::Responder& responder) {
  Plan plan;
  http::Response error;
  if (!MakePlan(body, chat, &plan, &error)) {
    co_await responder.Send(std::move(error));
    co_return;
  }
  if (options_.latency_spike_rate > 0 && faults_.Unit() < options_.latency_spike_rate)
    co_await Sleep(options_.latency_spike.count() / 1000.0);
  if (options_.error_rate > 0 && faults_.Unit() < options_.error_rate) {
    http::Response injected = Error(http::Status::internal_server_error,
                                    std::string("Injected failure (--error-rate)"),
                                    std::string("server_error"));
    co_await responder.Send(std::move(injected));
    co_return;
  }
  bool drop = options_.drop_rate > 0 && faults_.Unit() < options_.drop_rate;

  EngineRequest req;
  req.prompt = plan.prompt;
  req.lora = plan.lora;
  req.hits_max_tokens = plan.finish_reason == "length";
  req.output.reserve(plan.pieces.size());
  for (const auto& p : plan.pieces) req.output.push_back(p.id);
  if (req.output.empty()) req.output.push_back(0);  // at least the end-of-sequence token

  net::steady_timer wake(executor_);
  Waiter waiter;
  waiter.timer = &wake;
  uint64_t id = engine_.Add(std::move(req), Now());
  waiters_[id] = &waiter;
  struct Guard {  // on every exit: forget the waiter, abort the request if it is still running
    ReplicaHandler* h;
    uint64_t id;
    Waiter* w;
    ~Guard() {
      h->waiters_.erase(id);
      if (!w->finished) h->engine_.Abort(id);
    }
  } guard{this, id, &waiter};
  Kick();

  if (plan.stream) {
    co_await Stream(plan, id, waiter, drop, responder);
    co_return;
  }
  while (!waiter.finished) {
    wake.expires_at(net::steady_timer::time_point::max());
    co_await wake.async_wait(kUse);
  }
  http::Response whole = Whole(plan, waiter);
  if (drop) {  // cut the body half-way through and close
    http::bhttp::response_header<> h;
    h.result(http::Status::ok);
    h.set(http::bhttp::field::content_type, "application/json");
    std::string_view half = std::string_view(whole.body()).substr(0, whole.body().size() / 2);
    if (co_await responder.StartStream(std::move(h))) co_await responder.SendChunk(half);
    co_return;
  }
  co_await responder.Send(std::move(whole));
}

http::Response ReplicaHandler::Whole(const Plan& plan, const Waiter& waiter) {
  std::string text;
  for (const auto& p : plan.pieces) text.append(p.text);
  int64_t completion = static_cast<int64_t>(plan.pieces.size());
  int64_t prompt = static_cast<int64_t>(plan.prompt.size());
  json::object choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", plan.finish_reason}};
  if (plan.chat) {
    json::object message{{"role", "assistant"}};
    if (plan.tool_call) {
      message["content"] = nullptr;
      message["tool_calls"] = json::array{json::object{
          {"id", plan.tool_id},
          {"type", "function"},
          {"function", json::object{{"name", plan.tool_name}, {"arguments", text}}}}};
    } else {
      message["content"] = text;
      message["tool_calls"] = json::array{};
    }
    choice["message"] = std::move(message);
  } else {
    choice["text"] = text;
  }
  return JsonResponse(
      http::Status::ok,
      json::object{{"id", (plan.chat ? "chatcmpl-" : "cmpl-") + RandomHexId()},
                   {"object", plan.chat ? "chat.completion" : "text_completion"},
                   {"created", static_cast<int64_t>(std::time(nullptr))},
                   {"model", plan.model},
                   {"choices", json::array{std::move(choice)}},
                   {"usage", Usage(prompt, completion, waiter.cached_tokens)}});
}

net::awaitable<void> ReplicaHandler::Stream(Plan& plan, uint64_t id, Waiter& waiter, bool drop,
                                            http::Responder& responder) {
  http::bhttp::response_header<> header;
  header.result(http::Status::ok);
  header.set(http::bhttp::field::content_type, "text/event-stream; charset=utf-8");
  header.set(http::bhttp::field::cache_control, "no-cache");
  if (!co_await responder.StartStream(std::move(header))) co_return;

  // Every chunk starts the same way; only the choice differs.
  std::string head = "data: {\"id\":\"";
  head.append(plan.chat ? "chatcmpl-" : "cmpl-").append(RandomHexId()).append("\",\"object\":\"");
  head.append(plan.chat ? "chat.completion.chunk" : "text_completion");
  head.append("\",\"created\":").append(std::to_string(std::time(nullptr))).append(",\"model\":");
  AppendJsonString(head, plan.model);
  head.append(",\"choices\":[{\"index\":0,");
  const std::string tail = ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";

  const size_t total = plan.pieces.size();
  const size_t cut_after = drop ? total / 2 : SIZE_MAX;
  size_t sent = 0;
  std::string chunk;
  net::steady_timer& wake = *waiter.timer;
  while (true) {
    while (sent < static_cast<size_t>(waiter.tokens) && sent < total) {
      if (sent >= cut_after) co_return;  // injected drop: no EndStream, the server closes
      chunk.assign(head);
      std::string_view text = plan.pieces[sent].text;
      if (!plan.chat) {
        chunk.append("\"text\":");
        AppendJsonString(chunk, text);
      } else if (plan.tool_call) {
        chunk.append("\"delta\":{");
        if (sent == 0) {
          chunk.append("\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":");
          AppendJsonString(chunk, plan.tool_id);
          chunk.append(",\"type\":\"function\",\"function\":{\"name\":");
          AppendJsonString(chunk, plan.tool_name);
          chunk.append(",\"arguments\":");
        } else {
          chunk.append("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
        }
        AppendJsonString(chunk, text);
        chunk.append("}}]}");
      } else {
        chunk.append("\"delta\":{");
        if (sent == 0) chunk.append("\"role\":\"assistant\",");
        chunk.append("\"content\":");
        AppendJsonString(chunk, text);
        chunk.append("}");
      }
      chunk.append(tail);
      ++sent;
      if (!co_await responder.SendChunk(chunk)) co_return;  // client gone: the guard aborts
    }
    if (waiter.finished) break;
    wake.expires_at(net::steady_timer::time_point::max());
    co_await wake.async_wait(kUse);
  }
  if (drop) co_return;
  chunk.assign(head);
  chunk.append(plan.chat ? "\"delta\":{}" : "\"text\":\"\"");
  chunk.append(",\"logprobs\":null,\"finish_reason\":");
  AppendJsonString(chunk, plan.finish_reason);
  chunk.append("}]}\n\n");
  if (plan.include_usage) {
    // The usage chunk: same envelope, empty choices.
    size_t choices = chunk.find("\"choices\":[");
    std::string usage = chunk.substr(0, choices);
    usage.append("\"choices\":[],\"usage\":");
    usage.append(json::serialize(Usage(static_cast<int64_t>(plan.prompt.size()),
                                       static_cast<int64_t>(total), waiter.cached_tokens)));
    usage.append("}\n\n");
    chunk.append(usage);
  }
  chunk.append("data: [DONE]\n\n");
  if (!co_await responder.SendChunk(chunk)) co_return;
  co_await responder.EndStream();
  (void)id;
}

}  // namespace ap::sim::internal
