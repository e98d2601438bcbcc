// api/internal/request_fields.h — validates a JSON request body and picks out the few top-level
// fields the gateway needs (model, stream, stream_options.include_usage, user, max_tokens) and
// estimates the prompt's tokens (for rate limits and missing usage), in one pass of
// Boost.JSON's SAX parser and without building a document: the gateway does this for every
// request. Same rules as a DOM parse (max depth 256, duplicate keys: the last one counts).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace ap::api::internal {

enum class Kind { kAbsent, kNull, kString, kBool, kNumber, kObject, kArray };

struct RequestFields {
  bool top_is_object = false;
  Kind model = Kind::kAbsent;
  std::string model_value;
  Kind stream = Kind::kAbsent;
  bool stream_value = false;
  Kind stream_options = Kind::kAbsent;
  Kind include_usage = Kind::kAbsent;
  bool include_usage_value = false;
  Kind user = Kind::kAbsent;
  std::string user_value;
  int64_t max_tokens = -1;  // max_tokens or max_completion_tokens when a non-negative integer
  // api::EstimateTokens over the text of messages/prompt/input, plus chat framing per message;
  // counted only when `estimate_prompt` is set (it is most of the scan's cost).
  bool estimate_prompt = true;
  int64_t prompt_tokens_estimate = 0;
};

// False with `ec` set when `body` is not valid JSON (or nests deeper than 256).
bool ScanRequestFields(std::string_view body, RequestFields* out, boost::system::error_code* ec);

}  // namespace ap::api::internal
