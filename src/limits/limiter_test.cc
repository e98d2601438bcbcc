// limits/limiter_test.cc — the Limiter as the gateway sees it: authentication outcomes, model
// allowlists, OpenAI's rate-limit headers, refusals that say which limit and when it resets,
// budgets bound by team and key together, and settlement with real usage.
#include "limits/limiter.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace ap::limits {
namespace {

class LimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ap-limiter-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = std::shared_ptr<AdminStore>(std::move(*OpenSqliteAdminStore((dir_ / "keys.db").string())));
    directory_ = std::make_shared<Directory>(store_, std::chrono::milliseconds(50));
    ASSERT_TRUE(directory_->Start());
    local_ = std::make_shared<LocalCounters>(store_, nullptr, [this] { return now_ms_; });
    LimiterOptions o;
    o.admin_key = "admin-key-0123456789";
    o.reserve_completion_tokens = 100;
    o.price = [](const std::string& model, int64_t in, int64_t out) -> std::optional<double> {
      if (model != "priced") return std::nullopt;
      return (in + out) * 0.001;  // $1 per 1000 tokens
    };
    o.now_s = [this] { return now_ms_ / 1000; };
    limiter_ = std::make_shared<Limiter>(directory_, local_, local_, o);
  }
  void TearDown() override {
    directory_->Stop();
    std::filesystem::remove_all(dir_);
  }

  std::string AddKey(Limits key_limits, const std::string& team = "", Limits team_limits = {}) {
    if (!team.empty()) {
      Principal t;
      t.name = team;
      t.limits = team_limits;
      t.created_at = now_ms_ / 1000;
      EXPECT_TRUE(store_->PutPrincipal(t));
    }
    std::string plaintext = GenerateKey();
    VirtualKey k;
    k.hash = HashKey(plaintext);
    k.id = KeyIdFromHash(k.hash);
    k.team = team;
    k.limits = key_limits;
    k.created_at = now_ms_ / 1000;
    EXPECT_TRUE(store_->PutKey(k));
    EXPECT_TRUE(directory_->Refresh());
    return plaintext;
  }

  gateway::Admission Admit(const gateway::Caller& caller, int64_t prompt = 10, int64_t max_tokens = -1,
                           std::string model = "m") {
    boost::asio::io_context io;
    auto f = boost::asio::co_spawn(io, limiter_->Admit(caller, {model, "", prompt, max_tokens}), boost::asio::use_future);
    io.run();
    return f.get();
  }

  static std::string Header(const gateway::Admission& a, const std::string& name) { return a.headers.Find(name); }

  std::filesystem::path dir_;
  int64_t now_ms_ = 1'700'000'000'000;
  std::shared_ptr<AdminStore> store_;
  std::shared_ptr<Directory> directory_;
  std::shared_ptr<LocalCounters> local_;
  std::shared_ptr<Limiter> limiter_;
};

TEST_F(LimiterTest, AuthenticatesKeysAndSaysWhyNot) {
  gateway::Caller c;
  auto missing = limiter_->Authenticate("", false, &c);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->kind, api::ErrorKind::kAuthentication);
  EXPECT_FALSE(limiter_->Authenticate("", true, &c));  // local mode: loopback needs no key
  EXPECT_EQ(limiter_->Authenticate("sk-ap-nope", false, &c)->code, "invalid_api_key");
  EXPECT_FALSE(limiter_->Authenticate("admin-key-0123456789", false, &c));
  EXPECT_EQ(c.key_id, "admin");

  std::string key = AddKey({}, "ml");
  gateway::Caller ok;
  ASSERT_FALSE(limiter_->Authenticate(key, false, &ok));
  EXPECT_EQ(ok.team, "ml");
  EXPECT_EQ(ok.project, "team:ml");  // a namespace of its own: no team can be named like a project
  EXPECT_EQ(ok.key_id, KeyIdFromHash(HashKey(key)));

  Limits expiring;
  expiring.expires_at = now_ms_ / 1000 + 60;
  std::string soon = AddKey(expiring);
  gateway::Caller e;
  EXPECT_FALSE(limiter_->Authenticate(soon, false, &e));
  EXPECT_EQ(e.project, "key:" + e.key_id);  // a key without a team is its own tenant
  now_ms_ += 61'000;
  EXPECT_EQ(limiter_->Authenticate(soon, false, &e)->code, "key_expired");

  VirtualKey revoked = directory_->snapshot()->keys.at(HashKey(key)).key;
  revoked.revoked = true;
  ASSERT_TRUE(store_->PutKey(revoked));
  ASSERT_TRUE(directory_->Refresh());
  EXPECT_EQ(limiter_->Authenticate(key, false, &ok)->code, "key_revoked");
  EXPECT_EQ(limiter_->Authenticate(key, true, &ok)->code, "key_revoked");  // even on loopback
}

TEST_F(LimiterTest, AllowlistsOfKeyAndTeamBothApply) {
  Limits key_limits;
  key_limits.models = {"a", "b"};
  Limits team_limits;
  team_limits.models = {"b", "c"};
  std::string key = AddKey(key_limits, "ml", team_limits);
  gateway::Caller c;
  ASSERT_FALSE(limiter_->Authenticate(key, false, &c));
  EXPECT_FALSE(limiter_->AllowsModel(c, "a"));
  EXPECT_TRUE(limiter_->AllowsModel(c, "b"));
  EXPECT_FALSE(limiter_->AllowsModel(c, "c"));
}

TEST_F(LimiterTest, SendsOpenAiHeadersAndRefusesWithTheLimitAndItsReset) {
  Limits key_limits;
  key_limits.rpm = 3;
  key_limits.tpm = 1000;
  Limits team_limits;
  team_limits.rpm = 2;  // tighter: the team answers
  std::string key = AddKey(key_limits, "ml", team_limits);
  gateway::Caller c;
  ASSERT_FALSE(limiter_->Authenticate(key, false, &c));
  auto a = Admit(c, 10, 90);
  ASSERT_FALSE(a.error);
  EXPECT_EQ(Header(a, "x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(Header(a, "x-ratelimit-remaining-requests"), "1");
  EXPECT_EQ(Header(a, "x-ratelimit-reset-requests"), "30s");
  EXPECT_EQ(Header(a, "x-ratelimit-limit-tokens"), "1000");
  // Reserved: the prompt estimate plus a quarter (10 + 3) and max_tokens (90).
  EXPECT_EQ(Header(a, "x-ratelimit-remaining-tokens"), "897");
  EXPECT_EQ(Header(a, "x-ratelimit-reset-tokens"), "7s");
  gateway::CompletionRecord rec;
  limiter_->Settle(a, rec, std::nullopt);
  ASSERT_FALSE(Admit(c).error);
  auto refused = Admit(c);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->kind, api::ErrorKind::kRateLimited);
  EXPECT_EQ(refused.error->code, "rate_limit_exceeded");
  EXPECT_NE(refused.error->message.find("team 'ml'"), std::string::npos) << refused.error->message;
  EXPECT_NE(refused.error->message.find("limit 2"), std::string::npos);
  EXPECT_EQ(Header(refused, "retry-after"), "30");
}

TEST_F(LimiterTest, TokensReserveAtAdmissionAndReconcileWithUsage) {
  Limits l;
  l.tpm = 1000;
  std::string key = AddKey(l);
  gateway::Caller c;
  ASSERT_FALSE(limiter_->Authenticate(key, false, &c));
  auto a = Admit(c, 200, 600);  // reserves 250 + 600
  ASSERT_FALSE(a.error);
  auto b = Admit(c, 200, 600);
  ASSERT_TRUE(b.error);
  EXPECT_EQ(b.error->code, "tokens_rate_limit_exceeded");
  gateway::CompletionRecord rec;
  rec.usage = {200, 50, 250, 0, true};  // used 250 of 800
  limiter_->Settle(a, rec, std::nullopt);
  EXPECT_FALSE(Admit(c, 200, 500).error);  // 750 left
}

TEST_F(LimiterTest, BudgetOfTeamBindsItsKeysAndStopsWithinOneRequest) {
  Limits team_limits;
  team_limits.budget_usd = 1.0;
  std::string a = AddKey({}, "ml", team_limits);
  std::string b = AddKey({});
  VirtualKey kb = directory_->snapshot()->keys.at(HashKey(b)).key;
  kb.team = "ml";
  ASSERT_TRUE(store_->PutKey(kb));
  ASSERT_TRUE(directory_->Refresh());
  double spent = 0;
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    gateway::Caller c;
    ASSERT_FALSE(limiter_->Authenticate(i % 2 ? a : b, false, &c));
    auto adm = Admit(c, 100, 200, "priced");  // reserves (125 + 200) tokens: $0.325
    if (adm.error) {
      EXPECT_EQ(adm.error->code, "budget_exceeded");
      EXPECT_NE(adm.error->message.find("team 'ml'"), std::string::npos);
      break;
    }
    ++admitted;
    gateway::CompletionRecord rec;
    rec.usage = {100, 150, 250, 0, true};
    limiter_->Settle(adm, rec, 0.25);  // actual cost
    spent += 0.25;
  }
  EXPECT_EQ(admitted, 3);  // a fourth's $0.325 reservation would not fit under $1.00
  EXPECT_GE(spent, 1.0 - 0.325);
  EXPECT_LE(spent, 1.0);
  local_->Flush();  // the ledger is durable
  EXPECT_DOUBLE_EQ(limiter_->SpendOf("team:ml", directory_->snapshot()->teams.at("ml").limits,
                                     directory_->snapshot()->teams.at("ml").created_at).spent_usd, 0.75);
  EXPECT_FALSE(store_->LoadSpend()->empty());
}

TEST_F(LimiterTest, ParallelLimitReleasesOnSettle) {
  Limits l;
  l.max_parallel = 1;
  std::string key = AddKey(l);
  gateway::Caller c;
  ASSERT_FALSE(limiter_->Authenticate(key, false, &c));
  auto first = Admit(c);
  ASSERT_FALSE(first.error);
  auto second = Admit(c);
  ASSERT_TRUE(second.error);
  EXPECT_EQ(second.error->code, "parallel_limit_exceeded");
  limiter_->Settle(first, gateway::CompletionRecord{}, std::nullopt);
  EXPECT_FALSE(Admit(c).error);
}

TEST(Limiter, ResetsAreFormattedLikeOpenAi) {
  EXPECT_EQ(FormatReset(0.25), "250ms");
  EXPECT_EQ(FormatReset(1), "1s");
  EXPECT_EQ(FormatReset(360), "6m0s");
  EXPECT_EQ(FormatReset(3723), "1h2m3s");
  auto [start, end] = BudgetWindow(1000, std::chrono::seconds(100), 1250);
  EXPECT_EQ(start, 1200);
  EXPECT_EQ(end, 1300);
}

}  // namespace
}  // namespace ap::limits
