// limits/admin_store_test.cc — one conformance suite for every AdminStore (SQLite and Redis):
// what a store keeps, that every change moves the version, and the spend ledger.
#include "limits/admin_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "limits/testing/redis_server.h"

namespace ap::limits {
namespace {

struct StoreCase {
  std::string name;
};

class AdminStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("ap-keys-" + std::to_string(getpid()) + "-" +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      auto s = OpenSqliteAdminStore((dir_ / "keys.db").string());
      ASSERT_TRUE(s) << s.error();
      store_ = std::move(*s);
    } else {
      redis_ = std::make_unique<testing::RedisServer>();
      if (!redis_->ok()) GTEST_SKIP() << "redis-server is not installed";
      auto s = OpenRedisAdminStore(redis_->url(), std::chrono::milliseconds(500));
      ASSERT_TRUE(s) << s.error();
      store_ = std::move(*s);
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<AdminStore> store_;
};

TEST_P(AdminStoreTest, KeepsTeamsUsersAndKeysAndMovesTheVersion) {
  int64_t v0 = *store_->Version();
  Principal team;
  team.name = "ml";
  team.limits.rpm = 100;
  ASSERT_TRUE(store_->PutPrincipal(team));
  Principal user;
  user.kind = PrincipalKind::kUser;
  user.name = "ada";
  user.team = "ml";
  ASSERT_TRUE(store_->PutPrincipal(user));
  VirtualKey key;
  key.hash = HashKey("sk-ap-test");
  key.id = KeyIdFromHash(key.hash);
  key.team = "ml";
  ASSERT_TRUE(store_->PutKey(key));
  int64_t v1 = *store_->Version();
  EXPECT_GE(v1, v0 + 3);

  auto state = store_->Load();
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(state->version, v1);
  ASSERT_EQ(state->principals.size(), 2u);
  ASSERT_EQ(state->keys.size(), 1u);
  EXPECT_EQ(state->keys[0].id, key.id);

  key.revoked = true;  // revocation is a replace
  ASSERT_TRUE(store_->PutKey(key));
  EXPECT_GT(*store_->Version(), v1);
  EXPECT_TRUE(store_->Load()->keys[0].revoked);

  EXPECT_TRUE(*store_->DeletePrincipal(PrincipalKind::kUser, "ada"));
  EXPECT_FALSE(*store_->DeletePrincipal(PrincipalKind::kUser, "ada"));
  EXPECT_EQ(store_->Load()->principals.size(), 1u);
}

TEST_P(AdminStoreTest, SpendLedgerAccumulatesBatches) {
  ASSERT_TRUE(store_->AddSpend({{"team:ml@0", 1.5}, {"key:k@0", 0.25}}));
  ASSERT_TRUE(store_->AddSpend({{"team:ml@0", 0.5}}));
  auto spend = store_->LoadSpend();
  ASSERT_TRUE(spend);
  if (GetParam() == "redis") {
    EXPECT_TRUE(spend->empty());  // Redis keeps spend in its counters instead
  } else {
    EXPECT_DOUBLE_EQ((*spend)["team:ml@0"], 2.0);
    EXPECT_DOUBLE_EQ((*spend)["key:k@0"], 0.25);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, AdminStoreTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

TEST(AdminStore, RedisWithAPasswordNeedsItInTheUrl) {
  testing::RedisServer redis("s3cret-pass");
  if (!redis.ok()) GTEST_SKIP() << "redis-server is not installed";
  auto port = std::to_string(redis.port());
  auto without = OpenRedisAdminStore("redis://127.0.0.1:" + port, std::chrono::milliseconds(500));
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().find("NOAUTH"), std::string::npos) << without.error();
  auto wrong = OpenRedisAdminStore("redis://:nope@127.0.0.1:" + port, std::chrono::milliseconds(500));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().find("AUTH failed"), std::string::npos) << wrong.error();
  auto with = OpenRedisAdminStore("redis://:s3cret-pass@127.0.0.1:" + port, std::chrono::milliseconds(500));
  ASSERT_TRUE(with) << with.error();
  Principal team;
  team.name = "ml";
  EXPECT_TRUE((*with)->PutPrincipal(team));
}

TEST(AdminStore, RedisUrlErrorsAreClear) {
  auto bad = OpenRedisAdminStore("http://x", std::chrono::milliseconds(100));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("redis://"), std::string::npos);
  auto down = OpenRedisAdminStore("redis://127.0.0.1:" + std::to_string(testing::RedisServer::FreePort()),
                                  std::chrono::milliseconds(100));
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().find("127.0.0.1"), std::string::npos);
}

}  // namespace
}  // namespace ap::limits
