// config/config_fuzzer.cc — libFuzzer target: any bytes as a config file give a Config or a
// ConfigError, never a crash (yaml-cpp exceptions included).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = ap::config::ParseConfig(text, "fuzz.yaml");
  if (!cfg) (void)cfg.error().ToString();
  return 0;
}
