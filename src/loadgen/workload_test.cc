// The workload generator: deterministic synthetic text with known token counts, shared
// prefixes that are really shared, multi-turn conversations that grow.
#include <gtest/gtest.h>

#include <set>

#include "loadgen/workload.h"
#include "sim/tokenizer.h"

namespace ap::loadgen {
namespace {

TEST(SyntheticText, DeterministicAndOneSimTokenPerWord) {
  EXPECT_EQ(SyntheticText(7, 50), SyntheticText(7, 50));
  EXPECT_NE(SyntheticText(7, 50), SyntheticText(8, 50));
  for (int n : {1, 2, 10, 100, 2000}) {
    std::string t = SyntheticText(42 + n, n);
    EXPECT_EQ(sim::CountTokens(t), static_cast<size_t>(n)) << n;
  }
  EXPECT_EQ(SyntheticText(1, 0), "");
}

TEST(Workload, RandomLengthsStayInRange) {
  WorkloadOptions o;
  o.prompt_tokens = {10, 20};
  o.output_tokens = {5, 9};
  Workload w(o);
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) {
    RequestSpec s = w.Next();
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_GE(s.approx_prompt_tokens, 10);
    EXPECT_LE(s.approx_prompt_tokens, 20);
    EXPECT_EQ(sim::CountTokens(s.messages[0].content), static_cast<size_t>(s.approx_prompt_tokens));
    EXPECT_GE(s.output_tokens, 5);
    EXPECT_LE(s.output_tokens, 9);
    seen.insert(s.output_tokens);
  }
  EXPECT_EQ(seen.size(), 5u);  // uniform: every value shows up
}

TEST(Workload, SharedPrefixGroupsShareTheirPrefix) {
  WorkloadOptions o;
  o.kind = WorkloadKind::kSharedPrefix;
  o.groups = 3;
  o.users = 4;
  o.prefix_tokens = 200;
  o.question_tokens = 20;
  o.output_tokens = {10, 10};
  Workload w(o);
  std::map<int, std::string> prefix_of_group;
  std::set<std::string> prefixes, questions;
  for (int i = 0; i < 120; ++i) {
    RequestSpec s = w.Next();
    ASSERT_EQ(s.messages.size(), 2u);
    EXPECT_EQ(s.messages[0].role, "system");
    EXPECT_EQ(sim::CountTokens(s.messages[0].content), 200u);
    EXPECT_EQ(sim::CountTokens(s.messages[1].content), 20u);
    EXPECT_EQ(s.approx_prompt_tokens, 220);
    auto [it, fresh] = prefix_of_group.emplace(s.group, s.messages[0].content);
    EXPECT_EQ(it->second, s.messages[0].content) << "group " << s.group;
    prefixes.insert(s.messages[0].content);
    questions.insert(s.messages[1].content);
    // The completions prompt starts with the same prefix too.
    EXPECT_EQ(PromptText(s).rfind(s.messages[0].content, 0), 0u);
  }
  EXPECT_EQ(prefixes.size(), 3u);   // one per group, all different
  EXPECT_EQ(questions.size(), 12u); // one per (group, user)
  // Another instance with the same seed (another thread) uses the same prefixes.
  Workload w2(o, 1, 2);
  RequestSpec s2 = w2.Next();
  EXPECT_EQ(s2.messages[0].content, prefix_of_group[s2.group]);
}

TEST(Workload, MultiTurnConversationsGrow) {
  WorkloadOptions o;
  o.kind = WorkloadKind::kMultiTurn;
  o.users = 2;
  o.turns = 3;
  o.prefix_tokens = 30;
  o.question_tokens = 10;
  o.output_tokens = {5, 5};
  Workload w(o);
  std::map<std::string, size_t> last_size;
  for (int i = 0; i < 6; ++i) {
    RequestSpec s = w.Next();
    ASSERT_FALSE(s.session_id.empty());
    ASSERT_FALSE(s.user.empty());
    EXPECT_EQ(s.messages.back().role, "user");
    EXPECT_EQ(s.messages.front().role, "system");
    if (auto it = last_size.find(s.session_id); it != last_size.end()) {
      // previous messages + the answer + the new question
      EXPECT_EQ(s.messages.size(), it->second + 2);
      EXPECT_EQ(s.messages[s.messages.size() - 2].role, "assistant");
      EXPECT_EQ(s.messages[s.messages.size() - 2].content, "answer " + std::to_string(i - 2));
    } else {
      EXPECT_EQ(s.messages.size(), 2u);
    }
    last_size[s.session_id] = s.messages.size();
    const std::string answer = "answer " + std::to_string(i);
    w.Complete(s, answer, true);
  }
  EXPECT_EQ(last_size.size(), 2u);
  for (const auto& [id, n] : last_size) EXPECT_EQ(n, 6u);  // system + 3 questions + 2 answers
  // Turn 4 of a conversation starts a new conversation (new session id).
  RequestSpec next = w.Next();
  EXPECT_EQ(last_size.count(next.session_id), 0u);
  EXPECT_EQ(next.messages.size(), 2u);
}

TEST(Workload, MultiTurnBusyConversationsAreNotReused) {
  WorkloadOptions o;
  o.kind = WorkloadKind::kMultiTurn;
  o.users = 2;
  o.prefix_tokens = 0;
  Workload w(o);
  RequestSpec a = w.Next(), b = w.Next(), c = w.Next();
  EXPECT_NE(a.session_id, b.session_id);
  EXPECT_NE(c.session_id, a.session_id);  // both busy: a third conversation opens
  EXPECT_NE(c.session_id, b.session_id);
  w.Complete(a, "x", true);
  RequestSpec d = w.Next();
  EXPECT_EQ(d.session_id, a.session_id);
  EXPECT_EQ(d.messages.size(), 3u);
}

}  // namespace
}  // namespace ap::loadgen
