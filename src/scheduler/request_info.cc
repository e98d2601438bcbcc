// scheduler/request_info.cc — prompt region, session, tenant and priority of a request.
#include "scheduler/request_info.h"

#include <cstdlib>

namespace ap::scheduler {
namespace {

// Position just after `"key"` followed by optional spaces and ':' (a key, not a value); npos if
// no such occurrence. An unescaped `"key"` cannot occur inside a JSON string's contents.
size_t FindKey(std::string_view body, std::string_view key) {
  std::string needle;
  needle.reserve(key.size() + 2);
  needle.push_back('"');
  needle.append(key);
  needle.push_back('"');
  size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string_view::npos) {
    size_t i = pos + needle.size();
    while (i < body.size() && (body[i] == ' ' || body[i] == '\n' || body[i] == '\t' || body[i] == '\r')) ++i;
    if (i < body.size() && body[i] == ':') {
      ++i;
      while (i < body.size() && (body[i] == ' ' || body[i] == '\n' || body[i] == '\t' || body[i] == '\r')) ++i;
      return i;
    }
    pos += needle.size();
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view PromptRegion(std::string_view body) {
  size_t at = FindKey(body, "messages");
  if (at == std::string_view::npos) at = FindKey(body, "prompt");
  if (at == std::string_view::npos) return body;
  return body.substr(at);
}

std::string JsonStringField(std::string_view body, std::string_view key) {
  size_t at = FindKey(body, key);
  if (at == std::string_view::npos || at >= body.size() || body[at] != '"') return {};
  std::string out;
  for (size_t i = at + 1; i < body.size() && out.size() < 512; ++i) {
    char c = body[i];
    if (c == '"') break;
    if (c == '\\' && i + 1 < body.size()) c = body[++i];
    out.push_back(c);
  }
  return out;
}

RequestKeys ReadRequestKeys(const http::Request& incoming, std::string_view user,
                            const std::string& priority_header, const std::map<std::string, int>& priorities) {
  RequestKeys k;
  if (auto it = incoming.find("x-session-id"); it != incoming.end()) k.session = std::string(it->value());
  else k.session = std::string(user);
  if (auto it = incoming.find("x-tenant"); it != incoming.end()) {
    k.tenant = std::string(it->value());
  } else if (auto a = incoming.find(http::bhttp::field::authorization); a != incoming.end()) {
    std::string_view v = a->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) v.remove_prefix(7);
    k.tenant = std::string(v);
  }
  if (auto it = priorities.find(k.tenant); it != priorities.end()) k.priority = it->second;
  if (!priority_header.empty())
    if (auto it = incoming.find(priority_header); it != incoming.end()) {
      std::string v(it->value());
      char* end = nullptr;
      long p = std::strtol(v.c_str(), &end, 10);
      if (!v.empty() && end && *end == '\0' && p >= -1000 && p <= 1000) k.priority = static_cast<int>(p);
    }
  return k;
}

}  // namespace ap::scheduler
