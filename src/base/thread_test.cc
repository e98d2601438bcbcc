#include "base/thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <thread>

namespace ap::base {
namespace {

TEST(NameThisThread, NamesTheCallingThreadCutTo15Bytes) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("ap-a-rather-long-thread-name");
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  });
  t.join();
  EXPECT_EQ(seen, "ap-a-rather-lon");
}

}  // namespace
}  // namespace ap::base
