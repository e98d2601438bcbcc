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

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}
}  // namespace

void SetLevel(Level level) { g_level = static_cast<int>(level); }
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
    o["ts"] = Timestamp();
    o["level"] = LevelName(level);
    o["module"] = module;
    o["msg"] = message;
    for (const auto& f : fields) o[f.key] = f.value;
    line = boost::json::serialize(o);
  } else {
    line = Timestamp() + " " + LevelName(level) + " [" + std::string(module) + "] " +
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
