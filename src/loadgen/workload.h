// loadgen/workload.h — what the load generator sends: synthetic prompts and their shapes.
//
// Three workloads: `random` (one user message per request, prompt and output lengths fixed or
// uniform within a range), `shared-prefix` (G groups × U users; every prompt of a group starts
// with the group's P-token system prefix and ends with its user's Q-token question, the shape of
// llm-d's "KV-cache wins" benchmark) and `multi-turn` (U conversations that grow turn by turn:
// each request carries the whole history, the previous answer included).
//
// Text is synthetic and deterministic for a seed: words of at most four lowercase letters from a
// fixed vocabulary, separated by single spaces, so one word is exactly one token for the
// simulator's tokenizer (src/sim/tokenizer.h) and about one token for real BPE vocabularies.
// A Workload is used by one event-loop thread only (one instance per thread, `shard` apart);
// it never does I/O and never blocks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ap::loadgen {

enum class WorkloadKind { kRandom, kSharedPrefix, kMultiTurn };
const char* WorkloadKindName(WorkloadKind k);

// A length: fixed when min == max, else uniform in [min, max].
struct LengthRange {
  int min = 0;
  int max = 0;
};

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::kRandom;
  LengthRange prompt_tokens{256, 256};  // random: the user message
  LengthRange output_tokens{128, 128};  // every workload: max_tokens
  int groups = 8;                       // shared-prefix
  int users = 16;                       // shared-prefix: users per group; multi-turn: conversations
  int prefix_tokens = 2000;             // shared-prefix: group prefix; multi-turn: system prompt
  int question_tokens = 100;            // shared-prefix question; multi-turn: each user turn
  int turns = 5;                        // multi-turn: user turns per conversation
  uint64_t seed = 1;
};

struct Message {
  std::string role;
  std::string content;
};

struct RequestSpec {
  std::vector<Message> messages;  // the chat form; completions join them (see PromptText)
  int output_tokens = 0;
  int approx_prompt_tokens = 0;   // words of synthetic text (template tokens not counted)
  std::string session_id;         // multi-turn: the `x-session-id` header
  std::string user;               // multi-turn: the `user` field
  int session = -1;               // multi-turn: which conversation to hand the answer back to
  int group = -1;                 // shared-prefix: the group
};

// `tokens` words of synthetic text chosen by `seed` (no leading or trailing space).
std::string SyntheticText(uint64_t seed, int tokens);
// The completions prompt of a spec: message contents joined by "\n".
std::string PromptText(const RequestSpec& spec);

class Workload {
 public:
  // `shard` of `shards`: sessions and users are split between per-thread instances.
  Workload(WorkloadOptions options, int shard = 0, int shards = 1);

  RequestSpec Next();
  // Reports how a request ended (multi-turn appends the answer and frees the conversation).
  void Complete(const RequestSpec& spec, std::string_view answer, bool ok);

  const WorkloadOptions& options() const { return options_; }

 private:
  struct Session {
    std::string id;
    std::string user;
    std::vector<Message> history;
    int turn = 0;
    int index = 0;
    int conversation = 0;
    bool busy = false;
  };
  int Draw(LengthRange r);
  uint64_t NextRandom();
  RequestSpec NextRandomWorkload();
  RequestSpec NextSharedPrefix();
  RequestSpec NextMultiTurn();
  void StartConversation(Session& s, int index);

  WorkloadOptions options_;
  int shard_;
  int shards_;
  uint64_t rng_state_;
  uint64_t counter_ = 0;
  std::vector<std::string> group_prefixes_;
  std::vector<Session> sessions_;
  size_t cursor_ = 0;
};

}  // namespace ap::loadgen
