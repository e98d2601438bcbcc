// sim/tokenizer.cc — piece splitting, hashing and filler text. Pure functions only.
#include "sim/tokenizer.h"

#include <array>
#include <cctype>

namespace ap::sim {
namespace {

constexpr size_t kMaxPiece = 4;

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

constexpr std::array<std::string_view, 64> kWords = {
    "the",     "model",   "request", "replica", "token",   "cache",   "batch",   "latency",
    "system",  "gateway", "route",   "agent",   "tool",    "result",  "stream",  "answer",
    "prefix",  "memory",  "block",   "queue",   "server",  "engine",  "step",    "decode",
    "prompt",  "context", "value",   "state",   "time",    "first",   "next",    "each",
    "with",    "from",    "into",    "over",    "under",   "after",   "before",  "while",
    "and",     "of",      "to",      "in",      "is",      "a",       "for",     "on",
    "that",    "this",    "which",   "runs",    "keeps",   "serves",  "reads",   "writes",
    "quickly", "simple",  "shared",  "local",   "useful",  "steady",  "careful", "small"};

}  // namespace

uint64_t HashBytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t SeededRandom::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<Piece> TokenizePieces(std::string_view text) {
  std::vector<Piece> out;
  out.reserve(text.size() / 3 + 1);
  size_t i = 0, n = text.size();
  auto emit = [&](size_t start, size_t end) {
    std::string_view p = text.substr(start, end - start);
    out.push_back({static_cast<uint32_t>(HashBytes(p) >> 32), p});
  };
  while (i < n) {
    size_t start = i;
    while (i < n && text[i] == ' ') ++i;  // spaces ride with the word that follows
    if (i < n && IsWordChar(static_cast<unsigned char>(text[i]))) {
      size_t word_end = i;
      while (word_end < n && IsWordChar(static_cast<unsigned char>(text[word_end]))) ++word_end;
      // First piece carries the leading spaces plus up to kMaxPiece word characters.
      size_t cut = std::min(word_end, i + kMaxPiece);
      emit(start, cut);
      for (size_t p = cut; p < word_end; p += kMaxPiece) emit(p, std::min(word_end, p + kMaxPiece));
      i = word_end;
    } else if (i < n) {
      emit(start, i + 1);  // spaces + one punctuation / control character
      ++i;
    } else {
      emit(start, i);  // trailing spaces
    }
  }
  return out;
}

void AppendTokenIds(std::string_view text, std::vector<uint32_t>* ids) {
  for (const auto& p : TokenizePieces(text)) ids->push_back(p.id);
}

size_t CountTokens(std::string_view text) { return TokenizePieces(text).size(); }

std::string_view FillerWord(uint64_t seed) { return kWords[Mix(seed, 7) % kWords.size()]; }

std::string FillerText(uint64_t seed, size_t approx_tokens) {
  SeededRandom rng(seed);
  std::string out;
  size_t tokens = 0;
  bool sentence_start = true;
  int words_in_sentence = 0;
  while (tokens < approx_tokens) {
    std::string_view w = kWords[rng.Below(kWords.size())];
    if (!out.empty()) out.push_back(' ');
    size_t at = out.size();
    out.append(w);
    if (sentence_start) out[at] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[at])));
    sentence_start = false;
    tokens += (w.size() + kMaxPiece - 1) / kMaxPiece;
    ++words_in_sentence;
    if (words_in_sentence >= 6 && rng.Below(4) == 0) {
      out.push_back('.');
      ++tokens;
      sentence_start = true;
      words_in_sentence = 0;
    }
  }
  return out;
}

}  // namespace ap::sim
