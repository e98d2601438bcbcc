// bench/telemetry/token_estimate_eval.cc — runs api::EstimateTokens over texts given on stdin
// as a JSON array of strings and prints a JSON array of the estimates, in order.
//
// Used by tests/telemetry_sdk/token_estimate.test.mjs, which counts the same texts with
// js-tiktoken (cl100k_base) and reports the estimate's error (docs/telemetry.md). It only reads
// stdin and writes stdout.
#include <iostream>
#include <iterator>
#include <string>

#include <boost/json.hpp>

#include "api/token_estimate.h"

int main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  auto texts = boost::json::parse(input, ec);
  if (ec || !texts.is_array()) {
    std::cerr << "stdin must be a JSON array of strings\n";
    return 2;
  }
  boost::json::array out;
  for (const auto& t : texts.as_array()) {
    if (!t.is_string()) {
      std::cerr << "stdin must be a JSON array of strings\n";
      return 2;
    }
    out.emplace_back(ap::api::EstimateTokens(std::string_view(t.as_string())));
  }
  std::cout << boost::json::serialize(out) << "\n";
  return 0;
}
