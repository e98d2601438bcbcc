// sim/tool_calls.h — the simulator's answer to a chat request that offers tools: a call to one of
// them with arguments that satisfy the tool's JSON schema.
//
// Supported schema keywords: type (object, string, number, integer, boolean, array, null, or a
// list of them), properties, required, enum, const, items, minimum/maximum, minItems/maxItems,
// anyOf/oneOf (first branch). Everything is derived from the seed: the same request and seed give
// the same call. It never throws and never calls out: a malformed schema yields a best effort.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

namespace ap::sim {

struct ToolCall {
  std::string id;         // "call_" + 24 characters
  std::string name;
  std::string arguments;  // a JSON object, serialised
};

// Chooses the tool (honouring tool_choice: "none" → nullopt, {"type":"function","function":
// {"name":…}} → that one, otherwise a seeded pick) and builds its arguments.
std::optional<ToolCall> PlanToolCall(const boost::json::value& tools,
                                     const boost::json::value* tool_choice, uint64_t seed);

// A value satisfying `schema` (exposed for tests).
boost::json::value ValueForSchema(const boost::json::value& schema, uint64_t seed);

}  // namespace ap::sim
