// loadgen/workload.cc — synthetic text and the three workload shapes.
#include "loadgen/workload.h"

#include <algorithm>
#include <array>

namespace ap::loadgen {
namespace {

// Lowercase words of at most four letters: each is one token for the simulator's tokenizer
// (a run of up to four letters with its leading space) and a single token in common BPE vocabs.
constexpr std::array<std::string_view, 64> kVocabulary = {
    "the",  "cat",  "sat",  "on",   "a",    "mat",  "and",  "dog",  "ran",  "to",   "see",
    "what", "was",  "new",  "in",   "town", "we",   "can",  "make", "it",   "work", "fast",
    "with", "less", "code", "data", "flow", "from", "one",  "node", "into", "many", "more",
    "time", "than", "you",  "may",  "need", "for",  "each", "day",  "all",  "but",  "not",
    "only", "when", "they", "are",  "here", "read", "this", "line", "then", "keep", "open",
    "mind", "over", "long", "runs", "next", "good", "plan", "will", "hold"};

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t s = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
  return SplitMix(s);
}

}  // namespace

const char* WorkloadKindName(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::kRandom: return "random";
    case WorkloadKind::kSharedPrefix: return "shared-prefix";
    case WorkloadKind::kMultiTurn: return "multi-turn";
  }
  return "unknown";
}

std::string SyntheticText(uint64_t seed, int tokens) {
  std::string out;
  if (tokens <= 0) return out;
  out.reserve(static_cast<size_t>(tokens) * 5);
  uint64_t state = seed;
  uint64_t bits = 0;
  int left = 0;
  for (int i = 0; i < tokens; ++i) {
    if (left == 0) {
      bits = SplitMix(state);
      left = 10;  // ten 6-bit draws per 64-bit value
    }
    if (i > 0) out.push_back(' ');
    out.append(kVocabulary[bits & 63]);
    bits >>= 6;
    --left;
  }
  return out;
}

std::string PromptText(const RequestSpec& spec) {
  std::string out;
  for (size_t i = 0; i < spec.messages.size(); ++i) {
    if (i > 0) out.push_back('\n');
    out.append(spec.messages[i].content);
  }
  return out;
}

Workload::Workload(WorkloadOptions options, int shard, int shards)
    : options_(options), shard_(shard), shards_(std::max(1, shards)) {
  rng_state_ = MixSeed(options_.seed, 0x5eed0000ull + static_cast<uint64_t>(shard_));
  if (options_.kind == WorkloadKind::kSharedPrefix) {
    options_.groups = std::max(1, options_.groups);
    options_.users = std::max(1, options_.users);
    for (int g = 0; g < options_.groups; ++g)
      group_prefixes_.push_back(
          SyntheticText(MixSeed(options_.seed, 0x9000 + static_cast<uint64_t>(g)), options_.prefix_tokens));
  } else if (options_.kind == WorkloadKind::kMultiTurn) {
    options_.turns = std::max(1, options_.turns);
    const int users = std::max(1, options_.users);
    for (int u = shard_; u < users; u += shards_) {
      sessions_.emplace_back();
      StartConversation(sessions_.back(), u);
    }
    if (sessions_.empty()) {  // more shards than users: still one conversation per shard
      sessions_.emplace_back();
      StartConversation(sessions_.back(), users + shard_);
    }
  }
}

uint64_t Workload::NextRandom() { return SplitMix(rng_state_); }

int Workload::Draw(LengthRange r) {
  if (r.max <= r.min) return std::max(0, r.min);
  const uint64_t span = static_cast<uint64_t>(r.max - r.min) + 1;
  return r.min + static_cast<int>(NextRandom() % span);
}

RequestSpec Workload::Next() {
  ++counter_;
  switch (options_.kind) {
    case WorkloadKind::kRandom: return NextRandomWorkload();
    case WorkloadKind::kSharedPrefix: return NextSharedPrefix();
    case WorkloadKind::kMultiTurn: return NextMultiTurn();
  }
  return NextRandomWorkload();
}

RequestSpec Workload::NextRandomWorkload() {
  RequestSpec spec;
  const int n = std::max(1, Draw(options_.prompt_tokens));
  spec.messages.push_back({"user", SyntheticText(NextRandom(), n)});
  spec.approx_prompt_tokens = n;
  spec.output_tokens = std::max(1, Draw(options_.output_tokens));
  return spec;
}

RequestSpec Workload::NextSharedPrefix() {
  RequestSpec spec;
  const int g = static_cast<int>(NextRandom() % static_cast<uint64_t>(options_.groups));
  const int u = static_cast<int>(NextRandom() % static_cast<uint64_t>(options_.users));
  // The question is fixed per (group, user), as in llm-d's benchmark: a user repeats its prompt.
  const uint64_t qseed = MixSeed(options_.seed, (static_cast<uint64_t>(g) << 32) | static_cast<uint64_t>(u));
  if (options_.prefix_tokens > 0) spec.messages.push_back({"system", group_prefixes_[static_cast<size_t>(g)]});
  spec.messages.push_back({"user", SyntheticText(qseed, std::max(1, options_.question_tokens))});
  spec.approx_prompt_tokens = std::max(0, options_.prefix_tokens) + std::max(1, options_.question_tokens);
  spec.output_tokens = std::max(1, Draw(options_.output_tokens));
  spec.group = g;
  spec.user = "group" + std::to_string(g) + "-user" + std::to_string(u);
  return spec;
}

void Workload::StartConversation(Session& s, int index) {
  s.history.clear();
  s.turn = 0;
  s.index = index;
  s.user = "user-" + std::to_string(index);
  s.id = "s" + std::to_string(options_.seed) + "-u" + std::to_string(index) + "-c" +
         std::to_string(s.conversation);
  ++s.conversation;
  if (options_.prefix_tokens > 0)
    s.history.push_back({"system", SyntheticText(MixSeed(options_.seed, 0xa000 + static_cast<uint64_t>(index)),
                                                 options_.prefix_tokens)});
}

RequestSpec Workload::NextMultiTurn() {
  size_t pick = sessions_.size();
  for (size_t i = 0; i < sessions_.size(); ++i) {
    size_t k = (cursor_ + i) % sessions_.size();
    if (!sessions_[k].busy) {
      pick = k;
      break;
    }
  }
  if (pick == sessions_.size()) {  // every conversation is waiting for its answer: open another
    sessions_.emplace_back();
    const int index = std::max(1, options_.users) + static_cast<int>(sessions_.size()) * shards_ + shard_;
    StartConversation(sessions_.back(), index);
  }
  cursor_ = pick + 1;
  Session& s = sessions_[pick];
  if (s.turn >= options_.turns) StartConversation(s, s.index);
  const uint64_t tseed = MixSeed(NextRandom(), static_cast<uint64_t>(s.turn));
  s.history.push_back({"user", SyntheticText(tseed, std::max(1, options_.question_tokens))});
  ++s.turn;
  s.busy = true;

  RequestSpec spec;
  spec.messages = s.history;
  int words = 0;
  for (const auto& m : spec.messages) words += static_cast<int>(std::count(m.content.begin(), m.content.end(), ' ')) + 1;
  spec.approx_prompt_tokens = words;
  spec.output_tokens = std::max(1, Draw(options_.output_tokens));
  spec.session_id = s.id;
  spec.user = s.user;
  spec.session = static_cast<int>(pick);
  return spec;
}

void Workload::Complete(const RequestSpec& spec, std::string_view answer, bool ok) {
  if (options_.kind != WorkloadKind::kMultiTurn || spec.session < 0 ||
      spec.session >= static_cast<int>(sessions_.size()))
    return;
  Session& s = sessions_[static_cast<size_t>(spec.session)];
  s.busy = false;
  if (s.id != spec.session_id) return;
  if (ok) {
    s.history.push_back({"assistant", std::string(answer)});
  } else {
    s.turn = options_.turns;  // a failed turn ends the conversation; the next one starts fresh
  }
}

}  // namespace ap::loadgen
