#include "http/sse.h"

#include <gtest/gtest.h>

#include <vector>

namespace ap::http {
namespace {

std::vector<std::string> FeedAll(SseSplitter& s, const std::vector<std::string>& pieces) {
  std::vector<std::string> data;
  for (const auto& p : pieces) s.Feed(p, [&](const SseEvent& e) { data.emplace_back(e.data); });
  return data;
}

TEST(Sse, SplitsEventsAcrossArbitraryChunkBoundaries) {
  std::string stream = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    SseSplitter s;
    auto data = FeedAll(s, {stream.substr(0, cut), stream.substr(cut)});
    ASSERT_EQ(data.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(data[0], "{\"a\":1}");
    EXPECT_EQ(data[2], "[DONE]");
    EXPECT_TRUE(s.pending().empty());
  }
}

TEST(Sse, ByteByByte) {
  std::string stream = "event: ping\r\ndata: x\r\n\r\n: comment\n\ndata:y\ndata: z\n\n";
  SseSplitter s;
  std::vector<std::string> data, names;
  for (char c : stream)
    s.Feed(std::string_view(&c, 1), [&](const SseEvent& e) {
      data.emplace_back(e.data);
      names.emplace_back(e.name);
    });
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(names[0], "ping");
  EXPECT_EQ(data[0], "x");
  EXPECT_EQ(data[1], "");
  EXPECT_EQ(data[2], "y\nz");
}

TEST(Sse, RawEventKeepsItsBytes) {
  SseSplitter s;
  std::string raw;
  s.Feed("data: a\n\ndata: partial", [&](const SseEvent& e) { raw = std::string(e.raw); });
  EXPECT_EQ(raw, "data: a\n\n");
  EXPECT_EQ(s.pending(), "data: partial");
}

TEST(Sse, OversizedEventIsAnError) {
  SseSplitter s(16);
  EXPECT_TRUE(s.Feed("data: 0123", [](const SseEvent&) {}));
  EXPECT_FALSE(s.Feed("456789abcdef", [](const SseEvent&) {}));
}

TEST(Sse, Writes) { EXPECT_EQ(SseData("[DONE]"), "data: [DONE]\n\n"); }

}  // namespace
}  // namespace ap::http
