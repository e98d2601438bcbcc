// gateway/admission.h — the gateway's hook for who may call and how much: authentication of a
// client key, the model allowlist, and admission against rate limits, parallel limits and
// budgets, settled with the real usage once the request is over.
//
// The gateway knows only this interface; the limits module implements it (teams, virtual keys,
// Redis counters), the way the scheduler implements PickerFactory. Without an Admitter the
// gateway checks the static keys of its config.
#pragma once

#include <charconv>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/errors.h"
#include "gateway/completion.h"

namespace ap::gateway {

// Who is calling, as the admitter resolved the key.
struct Caller {
  std::string key_id;   // "key-…": safe to log
  std::string team;     // may be empty
  std::string user;     // may be empty
  std::string project;  // the telemetry tenant the request's trace belongs to
  std::shared_ptr<const void> state;  // the admitter's own view of the key (its directory entry)
};

struct AdmissionRequest {
  std::string model;            // the public model name
  std::string backend_model;    // what its primary backend calls it (prices often key on this)
  int64_t prompt_tokens = 0;    // estimated (api/token_estimate.h)
  int64_t max_tokens = -1;      // as the client sent it; -1: not sent
};

// Headers an admitter adds to a reply, kept as the head lines they become ("name: value\r\n"):
// they are computed for every request, and written as lines they cost no Beast field each.
// Names and values must be valid header text (the limiter's are constants and numbers).
class ResponseHeaders {
 public:
  void Add(std::string_view name, std::string_view value) {
    if (lines_.empty()) lines_.reserve(kTypicalBytes);  // one allocation for all of them
    lines_.append(name).append(": ").append(value).append("\r\n");
  }
  void Add(std::string_view name, int64_t value) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, value);
    Add(name, std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
  }
  const std::string& lines() const { return lines_; }
  bool empty() const { return lines_.empty(); }
  // The value of `name`, or "" (tests and logs).
  std::string Find(std::string_view name) const {
    for (size_t at = 0; at < lines_.size();) {
      size_t eol = lines_.find("\r\n", at);
      std::string_view line(lines_.data() + at, eol - at);
      if (line.size() > name.size() + 1 && line.substr(0, name.size()) == name && line[name.size()] == ':')
        return std::string(line.substr(name.size() + 2));
      at = eol + 2;
    }
    return "";
  }

 private:
  static constexpr size_t kTypicalBytes = 256;  // the six x-ratelimit-* lines and retry-after
  std::string lines_;
};

struct Admission {
  std::optional<api::ApiError> error;  // set: refuse the request with it
  // Sent with the reply, refused or not: x-ratelimit-*, and retry-after on refusals.
  ResponseHeaders headers;
  std::shared_ptr<void> ticket;  // the admitter's; handed back to Settle
};

class Admitter {
 public:
  virtual ~Admitter() = default;
  // In memory, no I/O. Returns an error (401) or fills `caller`. `token` may be empty.
  virtual std::optional<api::ApiError> Authenticate(std::string_view token, bool loopback, Caller* caller) const = 0;
  virtual bool AllowsModel(const Caller& caller, std::string_view model) const = 0;
  virtual boost::asio::awaitable<Admission> Admit(const Caller& caller, AdmissionRequest request) = 0;
  // Once per admitted request, after its last byte: reconciles tokens and spend, frees its slot.
  virtual void Settle(const Admission& admission, const CompletionRecord& record, std::optional<double> cost_usd) = 0;
};

}  // namespace ap::gateway
