// ui/handler_test.cc — UiHandler over a small hand-made asset table: index, assets, redirects,
// 404, content types, ETag/304, gzip negotiation and caching headers. The embedded table itself
// is checked for an index that names bundles that exist.
#include "ui/handler.h"

#include <gtest/gtest.h>

namespace ap::ui {
namespace {

namespace bhttp = http::bhttp;

constexpr Asset kTable[] = {
    {"index.html", "text/html; charset=utf-8", "\"aaaa\"", "<!doctype html><title>x</title>", "",
     false},
    {"app-ABCDEFGH.js", "text/javascript; charset=utf-8", "\"bbbb\"", "console.log(1)", "GZ", true},
};

http::Request Get(std::string target,
                  std::vector<std::pair<bhttp::field, std::string>> headers = {}) {
  http::Request req{bhttp::verb::get, target, 11};
  for (auto& [f, v] : headers) req.set(f, v);
  return req;
}

TEST(UiHandlerTest, ServesIndexAtTheRoot) {
  UiHandler h(kTable);
  auto res = h.Respond(Get("/ui/"));
  EXPECT_EQ(res.result(), http::Status::ok);
  EXPECT_EQ(res[bhttp::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(res.body(), "<!doctype html><title>x</title>");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-cache");
  EXPECT_NE(res["content-security-policy"], "");
  EXPECT_EQ(h.Respond(Get("/ui/?key=1")).body(), res.body());
}

TEST(UiHandlerTest, RedirectsTheBarePrefix) {
  UiHandler h(kTable);
  auto res = h.Respond(Get("/ui"));
  EXPECT_EQ(res.result(), http::Status::permanent_redirect);
  EXPECT_EQ(res[bhttp::field::location], "/ui/");
  EXPECT_EQ(h.Respond(Get("/ui?x=1"))[bhttp::field::location], "/ui/?x=1");
}

TEST(UiHandlerTest, ServesHashedAssetsImmutableWithTheirType) {
  UiHandler h(kTable);
  auto res = h.Respond(Get("/ui/app-ABCDEFGH.js"));
  EXPECT_EQ(res.result(), http::Status::ok);
  EXPECT_EQ(res[bhttp::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(res.body(), "console.log(1)");
  EXPECT_EQ(res[bhttp::field::etag], "\"bbbb\"");
  EXPECT_EQ(res[bhttp::field::cache_control], "public, max-age=31536000, immutable");
}

TEST(UiHandlerTest, GzipOnlyWhenAccepted) {
  UiHandler h(kTable);
  auto z =
      h.Respond(Get("/ui/app-ABCDEFGH.js", {{bhttp::field::accept_encoding, "br, gzip;q=0.8"}}));
  EXPECT_EQ(z[bhttp::field::content_encoding], "gzip");
  EXPECT_EQ(z.body(), "GZ");
  EXPECT_EQ(z[bhttp::field::vary], "Accept-Encoding");
  auto refused =
      h.Respond(Get("/ui/app-ABCDEFGH.js", {{bhttp::field::accept_encoding, "gzip;q=0"}}));
  EXPECT_EQ(refused[bhttp::field::content_encoding], "");
  EXPECT_EQ(refused.body(), "console.log(1)");
  // No gzip copy: the plain body whatever the client accepts.
  EXPECT_EQ(h.Respond(Get("/ui/", {{bhttp::field::accept_encoding, "gzip"}})).body(),
            kTable[0].body);
}

TEST(UiHandlerTest, ConditionalGetAnswers304) {
  UiHandler h(kTable);
  auto res =
      h.Respond(Get("/ui/app-ABCDEFGH.js", {{bhttp::field::if_none_match, "\"zzzz\", \"bbbb\""}}));
  EXPECT_EQ(res.result(), http::Status::not_modified);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(
      h.Respond(Get("/ui/app-ABCDEFGH.js", {{bhttp::field::if_none_match, "\"zzzz\""}})).result(),
      http::Status::ok);
}

TEST(UiHandlerTest, UnknownFilesAndMethodsAreRefused) {
  UiHandler h(kTable);
  auto missing = h.Respond(Get("/ui/nope.js"));
  EXPECT_EQ(missing.result(), http::Status::not_found);
  EXPECT_NE(missing.body().find("nope.js"), std::string::npos);
  EXPECT_EQ(h.Respond(Get("/uix")).result(), http::Status::not_found);
  http::Request post{bhttp::verb::post, "/ui/", 11};
  auto res = h.Respond(post);
  EXPECT_EQ(res.result(), http::Status::method_not_allowed);
  EXPECT_EQ(res[bhttp::field::allow], "GET");
}

TEST(UiHandlerTest, WithoutAssetsExplainsHowToBuildThem) {
  UiHandler h(std::span<const Asset>{});
  auto res = h.Respond(Get("/ui/"));
  EXPECT_EQ(res.result(), http::Status::service_unavailable);
  EXPECT_NE(res.body().find("node"), std::string::npos);
}

TEST(UiHandlerTest, EmbeddedIndexNamesBundlesThatAreEmbedded) {
  auto assets = EmbeddedAssets();
  if (assets.empty()) GTEST_SKIP() << "built without Node.js: no dashboard embedded";
  UiHandler h;
  auto index = h.Respond(Get("/ui/"));
  ASSERT_EQ(index.result(), http::Status::ok);
  int referenced = 0;
  for (const auto& a : assets) {
    if (a.path == "index.html") continue;
    if (index.body().find(std::string(a.path)) != std::string::npos) {
      ++referenced;
      EXPECT_EQ(h.Respond(Get("/ui/" + std::string(a.path))).result(), http::Status::ok) << a.path;
    }
  }
  EXPECT_GE(referenced, 2);  // the script and the stylesheet
}

}  // namespace
}  // namespace ap::ui
