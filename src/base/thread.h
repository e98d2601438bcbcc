// base/thread.h — naming the calling thread (for top -H, ps -L, perf and gdb).
#pragma once

#include <string_view>

namespace ap::base {

// Names the calling thread as `top -H`, `ps -L` and perf show it (first 15 bytes).
void NameThisThread(std::string_view name);

}  // namespace ap::base
