// http/local_trust_test.cc — which keyless requests local mode trusts: loopback peers naming a
// loopback host, not sent by another site (cross-site POSTs, DNS rebinding).
#include <gtest/gtest.h>

#include "http/server.h"

namespace ap::http {
namespace {

Request With(std::initializer_list<std::pair<const char*, const char*>> headers) {
  Request r{bhttp::verb::post, "/admin/keys", 11};
  for (const auto& [k, v] : headers) r.set(k, v);
  return r;
}

TEST(TrustedLocalRequest, OnlyLoopbackHostsFromTheSameSite) {
  const tcp::endpoint local(net::ip::make_address("127.0.0.1"), 5000);
  const tcp::endpoint remote(net::ip::make_address("10.0.0.7"), 5000);
  EXPECT_TRUE(TrustedLocalRequest(With({{"host", "127.0.0.1:8080"}}), local));
  EXPECT_TRUE(TrustedLocalRequest(With({{"host", "localhost:8080"}, {"origin", "http://localhost:8080"},
                                        {"sec-fetch-site", "same-origin"}}), local));
  EXPECT_TRUE(TrustedLocalRequest(With({{"host", "[::1]:8080"}}), tcp::endpoint(net::ip::make_address("::1"), 1)));
  EXPECT_FALSE(TrustedLocalRequest(With({{"host", "127.0.0.1:8080"}}), remote));
  EXPECT_FALSE(TrustedLocalRequest(With({}), local));                                     // no Host
  EXPECT_FALSE(TrustedLocalRequest(With({{"host", "attacker.example:8080"}}), local));    // DNS rebinding
  EXPECT_FALSE(TrustedLocalRequest(With({{"host", "127.0.0.1.attacker.example"}}), local));
  EXPECT_FALSE(TrustedLocalRequest(With({{"host", "127.0.0.1:8080"}, {"origin", "https://attacker.example"}}), local));
  EXPECT_FALSE(TrustedLocalRequest(With({{"host", "127.0.0.1:8080"}, {"sec-fetch-site", "cross-site"}}), local));
}

}  // namespace
}  // namespace ap::http
