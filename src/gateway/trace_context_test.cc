// gateway/trace_context_test.cc — W3C traceparent parsing (gateway.h ParseTraceparent).
#include <gtest/gtest.h>

#include "gateway/gateway.h"

namespace ap::gateway {
namespace {

TEST(Traceparent, TakesTheTraceAndParentSpanOfAValidHeader) {
  std::string trace, span;
  ASSERT_TRUE(ParseTraceparent(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ", &trace, &span));
  EXPECT_EQ(trace, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(span, "b7ad6b7169203331");
  // A later version may append fields.
  EXPECT_TRUE(ParseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", &trace, &span));
}

TEST(Traceparent, RefusesWhatTheSpecRefuses) {
  std::string trace = "kept", span = "kept";
  for (const char* bad : {
           "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  // uppercase
           "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  // not hex
           "00-00000000000000000000000000000000-b7ad6b7169203331-01",  // all-zero trace
           "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // all-zero span
           "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // version ff
           "0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // version not hex
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",   // short span
           "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // separator
           ""}) {
    EXPECT_FALSE(ParseTraceparent(bad, &trace, &span)) << bad;
  }
  EXPECT_EQ(trace, "kept");
  EXPECT_EQ(span, "kept");
}

}  // namespace
}  // namespace ap::gateway
