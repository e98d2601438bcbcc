// api/token_estimate.h — token counts when a backend reports none, and the reservation a rate
// limiter makes before the backend answered.
//
// Not a vocabulary tokenizer: it splits text the way cl100k's pre-tokenizer does (a word with
// the space or punctuation character before it, digits in groups of up to three, indentation,
// newline runs; camel-case words at their humps) and charges each piece what BPE merges
// typically leave of it (an ASCII subword up to 9 letters is one token; non-ASCII characters by
// script). Measured against cl100k in docs/telemetry.md ("Token estimate": about 5 % mean and
// 11 % p90 error); it needs no vocabulary file and costs a few ns per byte. Pure; never throws.
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
