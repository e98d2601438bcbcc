// telemetry/model.h — the telemetry data model: traces, observations (span, generation, event),
// scores, and the write items a store applies. Modelled on Langfuse's, so its clients map 1:1.
//
// Fields that a Langfuse create/update event may leave out are std::optional: a store merges an
// item into what it already holds, overwriting only the fields that are set (Langfuse's upsert
// semantics). Times are microseconds since the Unix epoch; 0 means "not set". JSON-valued fields
// (input, output, metadata, model parameters, usage/cost details) are kept as JSON text and are
// never parsed by the store. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ap::telemetry {

enum class ObservationType : int { kSpan = 0, kGeneration = 1, kEvent = 2 };
enum class Level : int { kDebug = 0, kDefault = 1, kWarning = 2, kError = 3 };

struct Trace {
  std::string id;
  std::string project;   // project name ("default" for the gateway's own traces)
  int64_t timestamp_us = 0;
  std::optional<std::string> name, user_id, session_id, release, version, environment;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::string> input, output, metadata;  // JSON text
  std::optional<bool> is_public;
};

struct Observation {
  std::string id;
  std::string trace_id;
  std::string project;
  ObservationType type = ObservationType::kSpan;
  std::optional<std::string> parent_id, name, model, status_message, version, environment;
  std::optional<Level> level;
  int64_t start_us = 0;
  int64_t end_us = 0;               // 0: still open
  int64_t completion_start_us = 0;  // first token; 0: unknown
  std::optional<std::string> model_parameters, input, output, metadata;  // JSON text
  // Usage in tokens; nullopt: not reported.
  std::optional<int64_t> input_tokens, output_tokens, total_tokens, cached_tokens;
  std::optional<std::string> usage_details, cost_details;  // JSON objects as sent
  std::optional<double> input_cost, output_cost, total_cost;  // USD
  // Gateway dimensions (denormalised so usage can be aggregated without joins).
  std::optional<std::string> user_id, team, key, backend;
  std::optional<int> status_code;  // HTTP status the client got (gateway generations: write-once)
};

struct Score {
  std::string id;
  std::string project;
  std::string trace_id;
  std::optional<std::string> observation_id, session_id;
  std::string name;
  std::optional<double> value;
  std::optional<std::string> string_value, data_type, comment, source;
  int64_t timestamp_us = 0;
};

// One unit of work for a store. `event_id` (when set) makes the item idempotent: a store applies
// an item whose event id it has already committed as a no-op. `fresh` promises that the item's
// id has never been written (gateway records), so a store may skip its read-before-write.
struct Item {
  std::string event_id;
  bool fresh = false;
  std::variant<Trace, Observation, Score> body;
};

// ---- Helpers shared by stores and APIs ----

int64_t NowMicros();
// RFC 3339 / ISO 8601 ("2024-05-01T12:00:00.123Z", offsets allowed) → µs; nullopt if malformed.
std::optional<int64_t> ParseIsoTime(std::string_view text);
// µs → "2024-05-01T12:00:00.123456Z"; milliseconds when `millis` (Langfuse's format).
std::string FormatIsoTime(int64_t micros, bool millis = true);
// The UTC day (days since the epoch) of a time.
inline int64_t DayOf(int64_t micros) {
  return micros >= 0 ? micros / 86'400'000'000 : (micros - 86'399'999'999) / 86'400'000'000;
}
// YYYY-MM-DD of a day number.
std::string FormatDay(int64_t day);

std::string_view TypeName(ObservationType type);  // "SPAN", "GENERATION", "EVENT"
std::optional<ObservationType> ParseType(std::string_view name);
std::string_view LevelName(Level level);           // "DEBUG", "DEFAULT", "WARNING", "ERROR"
std::optional<Level> ParseLevel(std::string_view name);

}  // namespace ap::telemetry
