// sim/tokenizer.h — the simulator's stand-in for a BPE tokenizer, and its filler-text generator.
//
// Text splits into pieces: a run of letters/digits (with the spaces before it) cut into pieces of
// at most 4 characters, or one punctuation character. A piece's token id is a hash of its bytes,
// so the same text always yields the same ids (prefix caching depends on it) and concatenating
// the pieces gives back the text exactly (streaming depends on it). It must never depend on
// process state: no random seeds, no global tables that change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ap::sim {

struct Piece {
  uint32_t id;
  std::string_view text;  // into the tokenized string
};

// Splits `text`; the pieces' text views point into `text`.
std::vector<Piece> TokenizePieces(std::string_view text);
// Appends the token ids of `text` to `ids`.
void AppendTokenIds(std::string_view text, std::vector<uint32_t>* ids);
size_t CountTokens(std::string_view text);

// 64-bit hashing helpers shared by the simulator (FNV-1a and a splitmix finaliser).
uint64_t HashBytes(std::string_view bytes, uint64_t seed = 0);
uint64_t Mix(uint64_t a, uint64_t b);

// A small deterministic PRNG (splitmix64) for anything a seed must reproduce.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }

 private:
  uint64_t state_;
};

// About `approx_tokens` tokens of plausible filler prose (sentences of common words), chosen by
// `seed`. The result tokenizes to at least approx_tokens tokens.
std::string FillerText(uint64_t seed, size_t approx_tokens);
// A single lowercase word chosen by `seed` (for tool-call string arguments).
std::string_view FillerWord(uint64_t seed);

}  // namespace ap::sim
