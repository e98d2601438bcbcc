// api/token_estimate.cc — see token_estimate.h.
#include "api/token_estimate.h"

#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace ap::api {
namespace {

enum class Class { kSpace, kLetter, kDigit, kNewline, kOther };

constexpr Class ClassOf(unsigned char c) {
  if (c == '\n' || c == '\r') return Class::kNewline;
  if (c == ' ' || c == '\t') return Class::kSpace;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Class::kLetter;
  if (c >= 0x80) return Class::kLetter;  // UTF-8 bytes: charged per character below
  if (c >= '0' && c <= '9') return Class::kDigit;
  return Class::kOther;
}

// Every request with limits on is estimated: one table load per byte instead of the tests above.
constexpr auto kClasses = [] {
  std::array<Class, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = ClassOf(static_cast<unsigned char>(c));
  return t;
}();

inline Class Classify(unsigned char c) { return kClasses[c]; }

constexpr bool IsLower(int c) { return c >= 'a' && c <= 'z'; }
constexpr bool IsUpper(int c) { return c >= 'A' && c <= 'Z'; }

// Tunables, fitted to cl100k on tests/telemetry_sdk/token_corpus.mjs (see docs/telemetry.md).
constexpr size_t kWholeWord = 9;     // ASCII subwords up to this long are one token
constexpr size_t kLongWordStep = 2;  // beyond it, one more token per this many letters
constexpr size_t kPunctStep = 3;     // a punctuation run is one token per this many characters
// Non-ASCII characters, in twentieths of a token: 2-byte (accented Latin, Cyrillic, Greek,
// Arabic, Hebrew), 3-byte (CJK, Hangul, kana), 3-byte with lead byte 0xE0 (Indic scripts, Thai),
// and 4-byte (emoji, rare CJK) or stray continuation bytes.
constexpr int64_t kTwoByte = 10, kThreeByte = 22, kIndic = 30, kOtherUtf8 = 15;

// Tokens of one letter run text[s, e): ASCII letters in camel-case subwords, each one token
// up to kWholeWord letters; non-ASCII characters by their script's weight.
int64_t WordTokens(std::string_view text, size_t s, size_t e) {
  int64_t tokens = 0, twentieths = 0;
  size_t sub = 0;  // letters in the current ASCII subword
  auto flush = [&] {
    if (sub > 0) tokens += sub <= kWholeWord ? 1 : 1 + static_cast<int64_t>((sub - kWholeWord + kLongWordStep - 1) / kLongWordStep);
    sub = 0;
  };
  for (size_t i = s; i < e;) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (IsUpper(c) && i > s && IsLower(static_cast<unsigned char>(text[i - 1]))) flush();
      ++sub;
      ++i;
      continue;
    }
    flush();
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    twentieths += len == 2 ? kTwoByte : len == 3 ? (c == 0xe0 ? kIndic : kThreeByte) : kOtherUtf8;
    i += len;
  }
  flush();
  return tokens + (twentieths + 19) / 20;
}

size_t RunEnd(std::string_view text, size_t i, Class c) {
  while (i < text.size() && Classify(static_cast<unsigned char>(text[i])) == c) ++i;
  return i;
}

// Letters for the one-pass word scan: not a letter, ASCII lower, ASCII upper, non-ASCII.
enum class LetterKind : unsigned char { kNone, kLower, kUpper, kUtf8 };
constexpr auto kLetterKinds = [] {
  std::array<LetterKind, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = c >= 0x80 ? LetterKind::kUtf8 : IsLower(c) ? LetterKind::kLower : IsUpper(c) ? LetterKind::kUpper : LetterKind::kNone;
  return t;
}();

// Tokens of an ASCII subword of `letters` letters (see WordTokens).
int64_t SubwordTokens(size_t letters) {
  if (letters == 0) return 0;
  return letters <= kWholeWord ? 1 : 1 + static_cast<int64_t>((letters - kWholeWord + kLongWordStep - 1) / kLongWordStep);
}

// The letter run starting at `i`: its end in *end and its tokens. ASCII words (nearly all of
// them) are charged in the same pass that finds their end, a subword at a time (capitals, then
// lower-case letters: "HTTPServer" is one, "poolSize" two); a run with non-ASCII bytes is handed
// to WordTokens whole.
int64_t LetterRun(std::string_view text, size_t i, size_t* end) {
  const char* p = text.data();
  const size_t n = text.size();
  auto kind_at = [&](size_t k) { return kLetterKinds[static_cast<unsigned char>(p[k])]; };
  int64_t tokens = 0;
  size_t k = i, subword = i;
  for (;;) {
    while (k < n && kind_at(k) == LetterKind::kUpper) ++k;
    while (k < n && kind_at(k) == LetterKind::kLower) ++k;
    if (k == n) break;
    const LetterKind kind = kind_at(k);
    if (kind == LetterKind::kNone) break;
    if (kind == LetterKind::kUtf8) {
      *end = RunEnd(text, k, Class::kLetter);
      return WordTokens(text, i, *end);
    }
    // A capital after lower-case letters (the capitals' loop took any before them): camel case.
    tokens += SubwordTokens(k - subword);
    subword = k;
  }
  *end = k;
  return tokens + SubwordTokens(k - subword);
}

}  // namespace

// Follows cl100k's pre-tokenizer: a word takes the space or punctuation character before it,
// digits go in groups of up to three, a run of spaces leaves its last space to the next piece,
// newline runs are one piece. Each piece is then charged what BPE merges typically leave of it.
int64_t EstimateTokens(std::string_view text) {
  int64_t tokens = 0;
  size_t i = 0;
  const size_t n = text.size();
  auto class_at = [&](size_t k) { return Classify(static_cast<unsigned char>(text[k])); };
  while (i < n) {
    const Class c = class_at(i);
    if (c == Class::kLetter) {
      tokens += LetterRun(text, i, &i);
      continue;
    }
    const size_t j = RunEnd(text, i, c);
    switch (c) {
      case Class::kLetter:  // handled above
        break;
      case Class::kDigit:
        tokens += static_cast<int64_t>((j - i + 2) / 3);
        break;
      case Class::kNewline:
        ++tokens;
        break;
      case Class::kSpace:
        if (j == n || class_at(j) == Class::kNewline) {
          ++tokens;  // trailing spaces
        } else {
          if (j - i > 1) ++tokens;               // indentation: all but the last space
          if (class_at(j) == Class::kDigit) ++tokens;  // " 42": the space stays alone
        }
        break;
      case Class::kOther: {
        // The last punctuation character before a word belongs to the word (".bar", "(x").
        size_t len = j - i;
        if (j < n && class_at(j) == Class::kLetter) --len;
        if (len > 0) tokens += 1 + static_cast<int64_t>((len - 1) / kPunctStep);
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
