// telemetry/otlp.h — OTLP/HTTP trace ingestion: ExportTraceServiceRequest as protobuf (decoded
// by a small hand-written wire-format reader, no protobuf runtime) or as JSON, optionally gzip
// compressed, mapped onto the data model with the OpenTelemetry GenAI semantic conventions:
// a span carrying gen_ai.* model or usage attributes becomes a GENERATION (model from
// gen_ai.response.model / gen_ai.request.model, usage from gen_ai.usage.input_tokens /
// output_tokens, parameters from gen_ai.request.*), any other span a SPAN; root spans also create
// the trace (user from user.id / enduser.id, session from session.id / gen_ai.conversation.id).
// Pure functions: no I/O; malformed input is an error string, never a crash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "telemetry/store.h"

namespace ap::telemetry::otlp {

// `content_type`: application/x-protobuf or application/json; `encoding`: "" / identity / gzip.
Result<std::vector<Item>> DecodeTraces(std::string_view body, std::string_view content_type,
                                       std::string_view encoding, const std::string& project);

// gzip/zlib inflate with an output limit; false (and `error`) when corrupt or over `limit`.
bool Gunzip(std::string_view data, size_t limit, std::string* out, std::string* error);

}  // namespace ap::telemetry::otlp
