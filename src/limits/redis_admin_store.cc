// limits/redis_admin_store.cc — AdminStore on Redis, shared by every gateway replica:
//
//   ap:admin:principals  HASH  "team:<name>" | "user:<name>" → JSON
//   ap:admin:keys        HASH  <sha256 hex> → JSON
//   ap:admin:version     counter, bumped in the same script as each change
//
// Spend lives in the rate-limit counters (ap:spend:*), so the durable ledger calls are no-ops
// here: Redis persistence (AOF/RDB) is the operator's to configure.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "limits/admin_store.h"
#include "limits/internal/redis.h"

namespace ap::limits {
namespace {

using internal::RedisReply;

constexpr const char* kPrincipals = "ap:admin:principals";
constexpr const char* kKeys = "ap:admin:keys";
constexpr const char* kVersion = "ap:admin:version";

// HSET or HDEL, then INCR the version, atomically. Returns the number of fields changed.
constexpr const char* kChangeScript = R"lua(
local n
if ARGV[1] == 'set' then n = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) else n = redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('INCR', KEYS[2])
return n
)lua";

class RedisAdminStore : public AdminStore {
 public:
  RedisAdminStore(internal::RedisEndpoint e, std::chrono::milliseconds timeout) : redis_(std::move(e), timeout) {}

  Result<int64_t> Version() override {
    auto r = redis_.Command({"GET", kVersion});
    if (!r) return r.error();
    if (r->is_error()) return "redis: " + r->str;
    if (r->type == RedisReply::Type::kNil) return int64_t{0};
    char* end = nullptr;
    long long v = std::strtoll(r->str.c_str(), &end, 10);
    if (end == r->str.c_str()) return "redis: ap:admin:version is not a number";
    return static_cast<int64_t>(v);
  }

  Result<AdminState> Load() override {
    AdminState state;
    auto v = Version();
    if (!v) return v.error();
    state.version = *v;
    auto principals = redis_.Command({"HGETALL", kPrincipals});
    if (!principals) return principals.error();
    for (size_t i = 1; i < principals->elements.size(); i += 2) {
      boost::system::error_code ec;
      auto v = boost::json::parse(principals->elements[i].str, ec);
      if (ec) return "redis: a stored team/user is not JSON";
      auto p = ParsePrincipal(v);
      if (!p) return p.error();
      state.principals.push_back(std::move(*p));
    }
    auto keys = redis_.Command({"HGETALL", kKeys});
    if (!keys) return keys.error();
    for (size_t i = 1; i < keys->elements.size(); i += 2) {
      boost::system::error_code ec;
      auto v = boost::json::parse(keys->elements[i].str, ec);
      if (ec) return "redis: a stored key is not JSON";
      auto k = ParseKey(v);
      if (!k) return k.error();
      state.keys.push_back(std::move(*k));
    }
    return state;
  }

  Result<void> PutPrincipal(const Principal& p) override {
    auto r = Change("set", kPrincipals, FieldOf(p.kind, p.name), boost::json::serialize(ToJson(p)));
    if (!r) return r.error();
    return {};
  }

  Result<bool> DeletePrincipal(PrincipalKind kind, const std::string& name) override {
    auto r = Change("del", kPrincipals, FieldOf(kind, name), "");
    if (!r) return r.error();
    return *r > 0;
  }

  Result<void> PutKey(const VirtualKey& k) override {
    auto r = Change("set", kKeys, k.hash, boost::json::serialize(ToJson(k)));
    if (!r) return r.error();
    return {};
  }

  Result<void> AddSpend(const std::map<std::string, double>&) override { return {}; }
  Result<std::map<std::string, double>> LoadSpend() override { return std::map<std::string, double>(); }

 private:
  static std::string FieldOf(PrincipalKind kind, const std::string& name) {
    return (kind == PrincipalKind::kTeam ? "team:" : "user:") + name;
  }

  Result<int64_t> Change(const char* op, const char* hash, const std::string& field, const std::string& value) {
    auto r = redis_.Command({"EVAL", kChangeScript, "2", hash, kVersion, op, field, value});
    if (!r) return r.error();
    if (r->is_error()) return "redis: " + r->str;
    return r->integer;
  }

  internal::RedisSync redis_;
};

}  // namespace

Result<std::unique_ptr<AdminStore>> OpenRedisAdminStore(const std::string& url, std::chrono::milliseconds timeout) {
  auto e = internal::ParseRedisUrl(url);
  if (!e) return e.error();
  auto store = std::make_unique<RedisAdminStore>(*e, std::max(timeout, std::chrono::milliseconds(500)));
  if (auto v = store->Version(); !v) return v.error();  // fail start-up on a wrong URL
  return std::unique_ptr<AdminStore>(std::move(store));
}

}  // namespace ap::limits
