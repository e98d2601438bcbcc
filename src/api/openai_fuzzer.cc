// api/openai_fuzzer.cc — libFuzzer target: request validation, the byte-splicing edits and the
// stream-chunk inspection must never crash, hang or read out of bounds on any input, and every
// edit of a valid body must stay valid JSON with the intended fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/json/parse.hpp>

#include "api/openai.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  ap::api::InspectStreamChunk(body);
  ap::api::ExtractUsageFromText(body);
  auto parsed = ap::api::ParseInferenceRequest(body);
  if (!parsed) return 0;
  std::string out = ap::api::BodyForBackend(*parsed, "fuzz/model-\"quoted\"");
  boost::system::error_code ec;
  auto v = boost::json::parse(out, ec);
  if (ec || !v.is_object()) std::abort();  // an edit broke a valid body
  if (v.as_object().at("model").as_string() != "fuzz/model-\"quoted\"") std::abort();
  if (parsed->stream && !v.as_object().at("stream_options").at("include_usage").as_bool()) std::abort();
  return 0;
}
