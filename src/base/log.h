// base/log.h — the one logger every module uses.
//
// A log line is a message plus key/value fields, written whole to stderr in one write so lines
// from different threads never interleave. Two formats: human text (default) and JSON lines
// (`--log-format json`). Callers must never pass secrets (API keys, Authorization headers) as
// fields: nothing here can tell a secret from any other string.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ap::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N n) : key(k), value(std::to_string(n)) {}
};

void SetLevel(Level level);
// From flag values: level "debug" | "info" | "warn" | "error", format "text" | "json".
void Configure(std::string_view level, std::string_view format);
void SetJson(bool json);
bool Enabled(Level level);
// Writes one line: `module` names the emitting module (for example "gateway").
void Write(Level level, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields = {});
// "2026-11-30T11:04:59.123Z" with `fraction_digits` (3 or 6) digits of the second.
std::string Iso8601(std::chrono::system_clock::time_point t, int fraction_digits = 3);
// Writes a preformatted line (used by the access log, which builds its own JSON).
void WriteRaw(std::string_view line);

inline void Debug(std::string_view m, std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, m, msg, f);
}
inline void Info(std::string_view m, std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, m, msg, f);
}
inline void Warn(std::string_view m, std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, m, msg, f);
}
inline void Error(std::string_view m, std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, msg, f);
}

}  // namespace ap::log
