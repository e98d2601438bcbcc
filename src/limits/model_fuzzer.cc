// limits/model_fuzzer.cc — libFuzzer target: any bytes as an admin-API body (or a stored team/key
// record) give limits or a clear error, never a crash; what parses survives a JSON round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json/parse.hpp>

#include "limits/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ap::limits::ParsePeriod(text.substr(0, 16));
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return 0;
  if (v.is_object()) {
    auto limits = ap::limits::ParseLimits(v.as_object(), {"name", "team", "user"});
    if (limits) {
      auto again = ap::limits::ParseLimits(ap::limits::ToJson(*limits), {});
      if (!again || again->rpm != limits->rpm || again->tpm != limits->tpm || again->budget_usd != limits->budget_usd ||
          again->budget_period != limits->budget_period || again->models != limits->models)
        __builtin_trap();  // a limit that does not survive its own JSON
    }
  }
  (void)ap::limits::ParsePrincipal(v);
  (void)ap::limits::ParseKey(v);
  return 0;
}
