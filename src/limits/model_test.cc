// limits/model_test.cc — periods, key generation and hashing, and the strict JSON of limits.
#include "limits/model.h"

#include <gtest/gtest.h>

#include <set>

#include <boost/json/parse.hpp>

namespace ap::limits {
namespace {

TEST(Model, ParsesAndFormatsPeriods) {
  EXPECT_EQ(ParsePeriod("30d"), std::chrono::seconds(30 * 86400));
  EXPECT_EQ(ParsePeriod("12h"), std::chrono::seconds(12 * 3600));
  EXPECT_EQ(ParsePeriod("90m"), std::chrono::seconds(5400));
  EXPECT_FALSE(ParsePeriod("30"));
  EXPECT_FALSE(ParsePeriod("0d"));
  EXPECT_FALSE(ParsePeriod("-1d"));
  EXPECT_FALSE(ParsePeriod("1w"));
  EXPECT_EQ(FormatPeriod(std::chrono::seconds(30 * 86400)), "30d");
  EXPECT_EQ(FormatPeriod(std::chrono::seconds(5400)), "90m");
}

TEST(Model, KeysAreRandomAndOnlyTheirHashIsKept) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string k = GenerateKey();
    ASSERT_EQ(k.size(), 38u);
    ASSERT_EQ(k.substr(0, 6), "sk-ap-");
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 1000u);
  std::string h = HashKey("sk-ap-example");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, HashKey("sk-ap-example"));
  EXPECT_EQ(KeyIdFromHash(h), "key-" + h.substr(0, 12));
  VirtualKey k;
  k.hash = h;
  k.id = KeyIdFromHash(h);
  auto json = ToJson(k);
  EXPECT_FALSE(json.contains("key"));
}

TEST(Model, LimitsRejectUnknownFieldsAndBadValues) {
  auto parse = [](const char* text) { return ParseLimits(boost::json::parse(text).as_object(), {}); };
  auto ok = parse(R"({"models":["a","b"],"rpm":60,"tpm":1000,"max_parallel":2,"budget_usd":5.5,"soft_budget_usd":4,"budget_period":"7d"})");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(*ok->rpm, 60);
  EXPECT_EQ(ok->budget_period, std::chrono::seconds(7 * 86400));
  EXPECT_TRUE(ok->AllowsModel("a"));
  EXPECT_FALSE(ok->AllowsModel("c"));
  EXPECT_NE(parse(R"({"budget":5})").error().find("unknown field 'budget'"), std::string::npos);
  EXPECT_FALSE(parse(R"({"rpm":-1})"));
  EXPECT_FALSE(parse(R"({"rpm":"60"})"));
  EXPECT_FALSE(parse(R"({"budget_period":"monthly"})"));
  EXPECT_FALSE(parse(R"({"models":[1]})"));
  auto expiring = parse(R"({"expires_in":"1h"})");
  ASSERT_TRUE(expiring);
  EXPECT_GT(expiring->expires_at, 0);
}

TEST(Model, PrincipalsAndKeysRoundTripThroughJson) {
  Principal p;
  p.name = "ml";
  p.limits.rpm = 10;
  p.limits.budget_usd = 2.5;
  p.created_at = 1700000000;
  auto back = ParsePrincipal(ToJson(p));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->name, "ml");
  EXPECT_EQ(*back->limits.rpm, 10);
  EXPECT_EQ(back->created_at, 1700000000);
  VirtualKey k;
  k.id = "key-abc";
  k.hash = std::string(64, 'a');
  k.team = "ml";
  k.revoked = true;
  auto kb = ParseKey(ToJson(k));
  ASSERT_TRUE(kb) << kb.error();
  EXPECT_TRUE(kb->revoked);
  EXPECT_EQ(kb->team, "ml");
}

}  // namespace
}  // namespace ap::limits
