// scheduler/request_info.h — what a scheduling decision needs from one request, read without
// parsing the whole body: the prompt region (for prefix hashing), session, tenant, priority.
//
// The prompt region is the raw JSON text of `messages` (chat) or `prompt` (completions) from its
// first byte to the end of the body. Hashing the raw text instead of the decoded contents costs
// no parse (an 8k-token body is ~32 KB) and is just as good for prefix matching: one client
// serialises the same conversation prefix to the same bytes, and fields after the prompt only
// change the tail. Never allocates for the prompt; never throws.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "http/server.h"

namespace ap::scheduler {

// The raw prompt region of a chat/completions body; the whole body when neither key is found.
std::string_view PromptRegion(std::string_view body);

// The string value of top-level-looking key `key` ("user"), unescaped minimally; empty if absent.
std::string JsonStringField(std::string_view body, std::string_view key);

struct RequestKeys {
  std::string session;  // x-session-id header, else the body's `user`
  std::string tenant;   // x-tenant header, else the bearer key, else ""
  int priority = 0;     // the priority header, else the tenant's configured priority, else 0
};

RequestKeys ReadRequestKeys(const http::Request& incoming, std::string_view user,
                            const std::string& priority_header, const std::map<std::string, int>& priorities);

}  // namespace ap::scheduler
