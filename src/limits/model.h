// limits/model.h — who may call the gateway and how much: teams, users, virtual keys and the
// limits each carries, as plain values with their JSON form (the admin API's and the stores').
//
// A request is bound by the limits of its key, of the key's user and of the key's team, all at
// once: the tightest one answers. A key is shown once when it is created; only its SHA-256 is
// kept (keys are 192 random bits, so a plain hash is as strong as a slow one and costs ~1 µs per
// request instead of ~100 ms).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

namespace ap::limits {

template <typename T>
using Result = boost::system::result<T, std::string>;

struct Limits {
  std::vector<std::string> models;        // allowed public model names; empty: all
  std::optional<int64_t> rpm;             // requests per minute
  std::optional<int64_t> tpm;             // tokens per minute (prompt + completion)
  std::optional<int64_t> max_parallel;    // requests in flight
  std::optional<double> budget_usd;       // per budget period
  std::optional<double> soft_budget_usd;  // alert (log + metric) when spend crosses it
  std::chrono::seconds budget_period{30 * 86400};
  int64_t expires_at = 0;                 // unix seconds; 0: never

  bool AllowsModel(std::string_view model) const;
};

enum class PrincipalKind { kTeam, kUser };

// A team or a user: a name and the limits every key under it shares.
struct Principal {
  PrincipalKind kind = PrincipalKind::kTeam;
  std::string name;
  std::string team;  // users: the team they belong to (may be empty)
  Limits limits;
  int64_t created_at = 0;  // unix seconds; budget periods count from here
};

struct VirtualKey {
  std::string id;     // "key-" + 12 hex of the SHA-256: safe to show, log and store
  std::string hash;   // 64 hex of the SHA-256 of the key
  std::string name;   // what it is for ("ci", "support-bot")
  std::string team;   // may be empty
  std::string user;   // may be empty
  Limits limits;
  int64_t created_at = 0;
  bool revoked = false;
};

// "30d", "12h", "90m", "3600s" → seconds.
std::optional<std::chrono::seconds> ParsePeriod(std::string_view text);
std::string FormatPeriod(std::chrono::seconds period);

// A new key: "sk-ap-" + 32 base62 characters from the OS's CSPRNG.
std::string GenerateKey();
// 64 hex characters of SHA-256(key).
std::string HashKey(std::string_view key);
// "key-" + the first 12 hex of HashKey(key) (the gateway's key_id in telemetry).
std::string KeyIdFromHash(std::string_view hash);

// JSON forms. Parse* take what the admin API accepts (unknown fields are errors, so a typo in
// "budget_usd" does not silently mean "no budget").
boost::json::object ToJson(const Limits& limits);
boost::json::object ToJson(const Principal& principal);
boost::json::object ToJson(const VirtualKey& key);  // never includes the key itself; includes hash
Result<Limits> ParseLimits(const boost::json::object& body, const std::vector<std::string_view>& extra_fields);
Result<Principal> ParsePrincipal(const boost::json::value& stored);
Result<VirtualKey> ParseKey(const boost::json::value& stored);

}  // namespace ap::limits
