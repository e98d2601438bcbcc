// base/thread.cc — see thread.h.
#include "base/thread.h"

#include <pthread.h>

#include <string>

namespace ap::base {

void NameThisThread(std::string_view name) {
  std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace ap::base
