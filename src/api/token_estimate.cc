// api/token_estimate.cc — see token_estimate.h.
#include "api/token_estimate.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace ap::api {
namespace {

enum class Class { kSpace, kLetter, kDigit, kNewline, kOther };

Class Classify(unsigned char c) {
  if (c == '\n' || c == '\r') return Class::kNewline;
  if (c == ' ' || c == '\t') return Class::kSpace;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Class::kLetter;
  if (c >= 0x80) return Class::kLetter;  // UTF-8 bytes: charged by length below
  if (c >= '0' && c <= '9') return Class::kDigit;
  return Class::kOther;
}

// Tokens BPE typically leaves of one letter run of `bytes` bytes (`ascii`: all ASCII).
int64_t LetterRunTokens(size_t bytes, size_t non_ascii) {
  if (non_ascii > 0) {
    // Accented Latin merges well; CJK and other scripts come out near one token per character
    // (2–3 UTF-8 bytes).
    return 1 + static_cast<int64_t>((bytes - non_ascii) / 4 + non_ascii / 2);
  }
  if (bytes <= 6) return 1;
  return 1 + static_cast<int64_t>((bytes - 3) / 4);
}

}  // namespace

int64_t EstimateTokens(std::string_view text) {
  int64_t tokens = 0;
  size_t i = 0, n = text.size();
  while (i < n) {
    Class c = Classify(static_cast<unsigned char>(text[i]));
    size_t j = i + 1;
    switch (c) {
      case Class::kSpace: {
        // Spaces attach to the next word; a run of several is a token of its own.
        while (j < n && Classify(static_cast<unsigned char>(text[j])) == Class::kSpace) ++j;
        if (j - i > 1 || j == n) ++tokens;
        break;
      }
      case Class::kLetter: {
        size_t non_ascii = static_cast<unsigned char>(text[i]) >= 0x80;
        while (j < n && Classify(static_cast<unsigned char>(text[j])) == Class::kLetter) {
          non_ascii += static_cast<unsigned char>(text[j]) >= 0x80;
          ++j;
        }
        tokens += LetterRunTokens(j - i, non_ascii);
        break;
      }
      case Class::kDigit: {
        while (j < n && Classify(static_cast<unsigned char>(text[j])) == Class::kDigit) ++j;
        tokens += static_cast<int64_t>((j - i + 2) / 3);
        break;
      }
      case Class::kNewline: {
        while (j < n && Classify(static_cast<unsigned char>(text[j])) == Class::kNewline) ++j;
        ++tokens;
        break;
      }
      case Class::kOther: {
        // Punctuation runs merge in pairs ("()", "],", "://").
        while (j < n && Classify(static_cast<unsigned char>(text[j])) == Class::kOther) ++j;
        tokens += static_cast<int64_t>((j - i + 1) / 2);
        break;
      }
    }
    i = j;
  }
  return tokens;
}

int64_t EstimateResponseTokens(std::string_view response_json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(response_json, ec);
  if (ec || !v.is_object()) return 0;
  const auto* choices = v.as_object().if_contains("choices");
  if (!choices || !choices->is_array()) return 0;
  int64_t tokens = 0;
  auto text = [&](const boost::json::value* s) {
    if (s && s->is_string()) tokens += EstimateTokens(s->as_string());
  };
  for (const auto& c : choices->as_array()) {
    if (!c.is_object()) continue;
    text(c.as_object().if_contains("text"));
    const auto* m = c.as_object().if_contains("message");
    if (!m || !m->is_object()) continue;
    text(m->as_object().if_contains("content"));
    if (const auto* calls = m->as_object().if_contains("tool_calls"); calls && calls->is_array())
      for (const auto& call : calls->as_array())
        if (const auto* f = call.is_object() ? call.as_object().if_contains("function") : nullptr; f && f->is_object()) {
          text(f->as_object().if_contains("name"));
          text(f->as_object().if_contains("arguments"));
        }
  }
  return tokens;
}

}  // namespace ap::api
