// telemetry/gateway_request.h — a gateway request as GatewaySink queues it for the writer: the
// trace the gateway minted for it and its one generation, flattened into one trivially copyable
// record.
//
// Why: as two Items (a Trace and an Observation, ~1 KB each with five heap strings) a request
// cost the gateway thread a dozen allocations and the writer thread the first touch of memory
// written on another core and the frees, per request. This record is copied into the writer's
// queue (a vector of records, reused) and read there in place: no heap memory on either side.
// Text lives in `text`, each field addressed by offset and size; a record whose text does not fit
// (long names, many tags) is not made (Make returns false) and the sink queues items instead.
//
// It means exactly the items GatewaySink::ToItems builds for the same record (ToItems below
// rebuilds them; pipeline_test checks the two agree), so a store may write either form: the
// default Store::WriteBatch writes the items, the SQLite store binds the fields directly.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "telemetry/model.h"

namespace ap::telemetry {

struct GatewayRequest {
  // Text fields; empty means absent (the sink sets none of them empty).
  enum Field : uint8_t {
    kTraceId,        // 32 lowercase hex, minted by the gateway
    kSpanId,         // the generation's id
    kParentId,       // the caller's span
    kProject,
    kName,           // the request path: trace and generation name
    kUser,
    kSession,
    kEnvironment,
    kModel,
    kBackend,
    kTeam,
    kKey,
    kStatusMessage,  // set when status >= 400
    kUsageDetails,   // JSON text ({"estimated":true})
    kTags,           // the trace's tags, each followed by '\0'
    kFieldCount
  };
  static constexpr size_t kTextCapacity = 384;

  // User-provided, so that a record made in place (Writer::TryEnqueueRequest's emplace_back) is
  // not zero-filled first: value-initialising the implicit constructor would clear all ~560
  // bytes, text included, where a request writes its ~250 (and each cache line written is one
  // the writer thread's core must give up).
  GatewayRequest() {}

  int64_t start_us = 0;  // trace time and generation start
  int64_t end_us = 0;
  int64_t completion_start_us = 0;  // 0: unknown
  int64_t input_tokens = 0, output_tokens = 0, total_tokens = 0, cached_tokens = 0;
  double input_cost = 0, output_cost = 0, total_cost = 0;
  int32_t status = 0;     // HTTP status (the generation is write-once)
  bool has_usage = false;  // the token counts are set (cached_tokens only when non-zero)
  bool has_cost = false;
  bool error = false;      // level ERROR
  uint16_t used = 0;
  std::array<uint16_t, kFieldCount> offset{}, size{};
  char text[kTextCapacity];

  std::string_view Get(Field f) const { return {text + offset[f], size[f]}; }
  bool Has(Field f) const { return size[f] != 0; }
  std::optional<std::string> Opt(Field f) const {
    return Has(f) ? std::optional<std::string>(std::string(Get(f))) : std::nullopt;
  }
  // Appends `value` as field `f`; false when it does not fit.
  bool Set(Field f, std::string_view value) {
    if (value.empty()) {  // absent: no copy (most optional fields of most requests)
      size[f] = 0;
      return true;
    }
    if (value.size() > kTextCapacity - used) return false;
    offset[f] = used;
    size[f] = static_cast<uint16_t>(value.size());
    std::memcpy(text + used, value.data(), value.size());
    used = static_cast<uint16_t>(used + value.size());
    return true;
  }
  bool SetTags(const std::vector<std::string>& tags);
  std::vector<std::string> Tags() const;
};

// The trace and generation `r` stands for: the items GatewaySink::ToItems makes of the same
// gateway record (trace `fresh` as minted, generation `fresh`).
std::vector<Item> ToItems(const GatewayRequest& r);

}  // namespace ap::telemetry
