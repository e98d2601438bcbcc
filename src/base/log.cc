// base/log.cc — formatting and the single write per line.
#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>
#include <boost/json/serialize.hpp>

namespace ap::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{false};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

std::string Iso8601(std::chrono::system_clock::time_point t, int fraction_digits) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (fraction_digits == 6) snprintf(buf + n, sizeof buf - n, ".%06dZ", static_cast<int>(us));
  else snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(us / 1000));
  return buf;
}

void SetLevel(Level level) { g_level = static_cast<int>(level); }

void Configure(std::string_view level, std::string_view format) {
  SetJson(format == "json");
  if (level == "debug") SetLevel(Level::kDebug);
  else if (level == "warn") SetLevel(Level::kWarn);
  else if (level == "error") SetLevel(Level::kError);
  else SetLevel(Level::kInfo);
}
void SetJson(bool json) { g_json = json; }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void WriteRaw(std::string_view line) {
  std::string out(line);
  out.push_back('\n');
  ssize_t ignored = ::write(2, out.data(), out.size());
  (void)ignored;
}

void Write(Level level, std::string_view module, std::string_view message,
           std::initializer_list<Field> fields) {
  std::string line;
  if (g_json.load(std::memory_order_relaxed)) {
    boost::json::object o;
    o["ts"] = Iso8601(std::chrono::system_clock::now());
    o["level"] = LevelName(level);
    o["module"] = module;
    o["msg"] = message;
    for (const auto& f : fields) o[f.key] = f.value;
    line = boost::json::serialize(o);
  } else {
    line = Iso8601(std::chrono::system_clock::now()) + " " + LevelName(level) + " [" + std::string(module) + "] " +
           std::string(message);
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += f.value;
    }
  }
  WriteRaw(line);
}

}  // namespace ap::log
