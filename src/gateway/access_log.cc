// gateway/access_log.cc
#include "gateway/access_log.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "base/log.h"

namespace ap::gateway {
namespace {
double Ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }
}  // namespace

std::string AccessLog::FormatJson(const CompletionRecord& r) {
  boost::json::object o;
  o["ts"] = log::Iso8601(r.start, 6);
  o["request_id"] = r.request_id;
  o["method"] = r.method;
  o["path"] = r.path;
  o["route"] = r.route;
  o["model"] = r.model;
  o["backend"] = r.backend;
  o["backend_model"] = r.backend_model;
  o["status"] = r.status;
  o["stream"] = r.stream;
  o["attempts"] = r.attempts;
  if (!r.user.empty()) o["user"] = r.user;
  if (r.first_byte.count() >= 0) o["first_byte_ms"] = Ms(r.first_byte);
  o["duration_ms"] = Ms(r.duration);
  if (r.usage.known) {
    boost::json::object u;
    u["prompt_tokens"] = r.usage.prompt_tokens;
    u["completion_tokens"] = r.usage.completion_tokens;
    u["total_tokens"] = r.usage.total_tokens;
    if (r.usage.cached_tokens) u["cached_tokens"] = r.usage.cached_tokens;
    o["usage"] = std::move(u);
  }
  if (!r.error.empty()) o["error"] = r.error;
  return boost::json::serialize(o);
}

std::string AccessLog::FormatText(const CompletionRecord& r) {
  char timing[96];
  snprintf(timing, sizeof timing, "ttfb=%.1fms dur=%.1fms", r.first_byte.count() >= 0 ? Ms(r.first_byte) : -1.0,
           Ms(r.duration));
  std::string line = log::Iso8601(r.start, 6) + " " + r.method + " " + r.path + " " + std::to_string(r.status) +
                     " id=" + r.request_id + " model=" + (r.model.empty() ? "-" : r.model) +
                     " route=" + (r.route.empty() ? "-" : r.route) +
                     " backend=" + (r.backend.empty() ? "-" : r.backend) +
                     " attempts=" + std::to_string(r.attempts) + " " + timing;
  if (r.usage.known)
    line += " tokens=" + std::to_string(r.usage.prompt_tokens) + "/" + std::to_string(r.usage.completion_tokens);
  if (!r.error.empty()) line += " error=\"" + r.error + "\"";
  return line;
}

void AccessLog::Record(const CompletionRecord& record) {
  log::WriteRaw(json_ ? FormatJson(record) : FormatText(record));
}

}  // namespace ap::gateway
