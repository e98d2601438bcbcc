// api/token_estimate.h — token counts when a backend reports none, and the reservation a rate
// limiter makes before the backend answered.
//
// Not a vocabulary tokenizer: it splits text the way the GPT/Llama BPE pre-tokenizers do (letters
// with their leading space, digits in groups of up to three, each punctuation run, newlines) and
// charges each piece what BPE merges typically leave of it (a common word is one token; long
// words, about one per four characters). Its error against cl100k on real text is measured in
// docs/telemetry.md; it needs no vocabulary file and costs a few ns per byte.
#pragma once

#include <cstdint>
#include <string_view>

namespace ap::api {

// Tokens in plain text.
int64_t EstimateTokens(std::string_view text);

// Completion tokens of a non-streaming response body that reports no usage: the estimate over
// its choices' message content, tool-call arguments and text. 0 when it is not such a body.
int64_t EstimateResponseTokens(std::string_view response_json);

}  // namespace ap::api
