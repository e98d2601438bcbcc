// api/openai_fuzzer.cc — libFuzzer target: request validation, the byte-splicing edits and the
// stream-chunk inspection must never crash, hang or read out of bounds on any input, and every
// edit of a valid body must stay valid JSON with the intended fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/json/parse.hpp>

#include "api/openai.h"

namespace {
// The reference: the same validation done on a full DOM (what ParseInferenceRequest did before it
// used the SAX scan). Returns the error param ("" for success, "json" for invalid JSON).
std::string Reference(const std::string& body, std::string* model, bool* stream, bool* usage, std::string* user) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 256;
  auto v = boost::json::parse(body, ec, {}, opts);
  if (ec || !v.is_object()) return "json";
  const auto& o = v.get_object();
  auto* m = o.if_contains("model");
  if (!m || m->is_null() || !m->is_string() || m->get_string().empty()) return "model";
  *model = std::string(m->get_string());
  if (auto* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return "stream";
    *stream = s->get_bool();
  }
  if (auto* so = o.if_contains("stream_options"); so && !so->is_null()) {
    if (!so->is_object()) return "stream_options";
    if (auto* iu = so->get_object().if_contains("include_usage"); iu && !iu->is_null()) {
      if (!iu->is_bool()) return "stream_options.include_usage";
      *usage = iu->get_bool();
    }
  }
  if (auto* u = o.if_contains("user"); u && u->is_string()) *user = std::string(u->get_string());
  return "";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  {
    std::string model, user;
    bool stream = false, usage = false;
    std::string expected = Reference(body, &model, &stream, &usage, &user);
    auto got = ap::api::ParseInferenceRequest(body);
    if (expected.empty() != bool(got)) std::abort();  // the SAX scan and the DOM disagree
    if (got && (got->model != model || got->stream != stream || got->client_wants_usage != usage || got->user != user))
      std::abort();
    if (!got && expected != "json" && got.error().param != expected) std::abort();
  }
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
