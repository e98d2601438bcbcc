// api/openai.h — what the gateway needs to know about an OpenAI request body, and the few edits
// it makes to it.
//
// The body is parsed once to validate it and read `model`, `stream`, `stream_options` and `user`.
// Edits splice bytes instead of re-serialising, so every other field (tools, response_format,
// numbers as the client wrote them, key order) reaches the backend exactly as sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include "api/errors.h"

namespace ap::api {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
  int64_t cached_tokens = 0;  // prompt_tokens_details.cached_tokens when present
  bool known = false;
  bool estimated = false;     // the backend reported none: counted by api/token_estimate.h
};

struct InferenceRequest {
  std::string model;
  bool stream = false;
  bool client_wants_usage = false;  // stream_options.include_usage as the client sent it
  std::string user;
  int64_t max_tokens = -1;          // max_tokens / max_completion_tokens; -1: not sent
  int64_t prompt_tokens_estimate = -1;  // -1: not estimated yet; read it through PromptTokens()
  std::string body;  // the raw body
};

// Validates a JSON body of /v1/chat/completions, /v1/completions or /v1/embeddings.
// `estimate_prompt`: estimate the prompt's tokens in the same pass (api/token_estimate.h) — the
// larger part of the pass's cost, so callers that may not need it leave it to PromptTokens().
boost::system::result<InferenceRequest, ApiError> ParseInferenceRequest(std::string body,
                                                                         bool estimate_prompt = true);

// The prompt's estimated tokens: from the parse, or by scanning the body again.
int64_t PromptTokens(const InferenceRequest& request);

// The body to send upstream: `model` replaced by `backend_model` (when not empty) and, for
// streams, stream_options.include_usage forced on.
std::string BodyForBackend(const InferenceRequest& request, std::string_view backend_model);

// Sets a top-level key of a JSON object text to `value_json`, splicing: replaces the value when
// the key is present, inserts it first otherwise. `json` must be a valid JSON object.
std::string SetTopLevelField(std::string_view json, std::string_view key, std::string_view value_json);

// Reads `usage` from a response body or stream chunk object.
Usage ExtractUsage(const boost::json::value& v);
// The same from a response body's text, parsing only the `usage` object (a body can be large:
// this avoids building the whole document). Unknown when there is none or it is malformed.
Usage ExtractUsageFromText(std::string_view body);

// For one SSE data payload of a chat/completions stream: whether it carries a usage object, and
// whether it is the usage-only chunk (`choices` empty) that include_usage adds at the end.
struct ChunkUsage {
  Usage usage;
  bool usage_only = false;
};
std::optional<ChunkUsage> InspectStreamChunk(std::string_view data);

}  // namespace ap::api
