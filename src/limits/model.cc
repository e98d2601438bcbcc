// limits/model.cc — see model.h.
#include "limits/model.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace ap::limits {
namespace json = boost::json;

bool Limits::AllowsModel(std::string_view model) const {
  return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
}

std::optional<std::chrono::seconds> ParsePeriod(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n <= 0 || n > 100000) return std::nullopt;
  switch (text.back()) {
    case 'd': return std::chrono::seconds(n * 86400);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'm': return std::chrono::seconds(n * 60);
    case 's': return std::chrono::seconds(n);
    default: return std::nullopt;
  }
}

std::string FormatPeriod(std::chrono::seconds period) {
  int64_t s = period.count();
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string GenerateKey() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string key = "sk-ap-";
  while (key.size() < 6 + 32) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no entropy: never mint a weak key
    for (unsigned char b : bytes)
      if (b < 248 && key.size() < 6 + 32) key.push_back(kAlphabet[b % 62]);  // 248 = 4*62: unbiased
  }
  return key;
}

std::string HashKey(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string KeyIdFromHash(std::string_view hash) { return "key-" + std::string(hash.substr(0, 12)); }

json::object ToJson(const Limits& l) {
  json::object o;
  json::array models;
  for (const auto& m : l.models) models.emplace_back(m);
  o["models"] = std::move(models);
  auto opt = [&](const char* k, const auto& v) {
    if (v) o[k] = *v;
    else o[k] = nullptr;
  };
  opt("rpm", l.rpm);
  opt("tpm", l.tpm);
  opt("max_parallel", l.max_parallel);
  opt("budget_usd", l.budget_usd);
  opt("soft_budget_usd", l.soft_budget_usd);
  o["budget_period"] = FormatPeriod(l.budget_period);
  o["expires_at"] = l.expires_at;
  return o;
}

json::object ToJson(const Principal& p) {
  json::object o = ToJson(p.limits);
  o["name"] = p.name;
  if (p.kind == PrincipalKind::kUser) o["team"] = p.team;
  o["kind"] = p.kind == PrincipalKind::kTeam ? "team" : "user";
  o["created_at"] = p.created_at;
  return o;
}

json::object ToJson(const VirtualKey& k) {
  json::object o = ToJson(k.limits);
  o["id"] = k.id;
  o["hash"] = k.hash;
  o["name"] = k.name;
  o["team"] = k.team;
  o["user"] = k.user;
  o["created_at"] = k.created_at;
  o["revoked"] = k.revoked;
  return o;
}

namespace {

Result<std::optional<int64_t>> OptCount(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<int64_t>();
  const json::value& v = it->value();
  if (v.is_int64() && v.as_int64() >= 0) return std::optional<int64_t>(v.as_int64());
  if (v.is_uint64() && v.as_uint64() <= INT64_MAX) return std::optional<int64_t>(static_cast<int64_t>(v.as_uint64()));
  return std::string(key) + " must be a non-negative integer or null";
}

Result<std::optional<double>> OptMoney(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<double>();
  const json::value& v = it->value();
  double d = v.is_double() ? v.as_double() : v.is_int64() ? static_cast<double>(v.as_int64())
                                          : v.is_uint64() ? static_cast<double>(v.as_uint64()) : -1;
  if (d < 0 || !(d < 1e12)) return std::string(key) + " must be a non-negative number of USD or null";
  return std::optional<double>(d);
}

}  // namespace

Result<Limits> ParseLimits(const json::object& o, const std::vector<std::string_view>& extra_fields) {
  static constexpr std::string_view kFields[] = {"models", "rpm", "tpm", "max_parallel", "budget_usd",
                                                 "soft_budget_usd", "budget_period", "expires_at", "expires_in"};
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (std::find(std::begin(kFields), std::end(kFields), k) == std::end(kFields) &&
        std::find(extra_fields.begin(), extra_fields.end(), k) == extra_fields.end())
      return "unknown field '" + std::string(k) + "'";
  }
  Limits l;
  if (auto it = o.find("models"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return std::string("models must be a list of model names");
    for (const auto& m : it->value().as_array()) {
      if (!m.is_string() || m.as_string().empty()) return std::string("models must be a list of model names");
      l.models.emplace_back(m.as_string());
    }
  }
  auto rpm = OptCount(o, "rpm");
  if (!rpm) return rpm.error();
  l.rpm = *rpm;
  auto tpm = OptCount(o, "tpm");
  if (!tpm) return tpm.error();
  l.tpm = *tpm;
  auto par = OptCount(o, "max_parallel");
  if (!par) return par.error();
  l.max_parallel = *par;
  auto budget = OptMoney(o, "budget_usd");
  if (!budget) return budget.error();
  l.budget_usd = *budget;
  auto soft = OptMoney(o, "soft_budget_usd");
  if (!soft) return soft.error();
  l.soft_budget_usd = *soft;
  if (auto it = o.find("budget_period"); it != o.end() && !it->value().is_null()) {
    auto p = it->value().is_string() ? ParsePeriod(it->value().as_string()) : std::nullopt;
    if (!p) return std::string("budget_period must be a duration such as \"30d\", \"24h\" or \"60m\"");
    l.budget_period = *p;
  }
  auto expires = OptCount(o, "expires_at");
  if (!expires) return expires.error();
  l.expires_at = expires->value_or(0);
  if (auto it = o.find("expires_in"); it != o.end() && !it->value().is_null()) {
    auto p = it->value().is_string() ? ParsePeriod(it->value().as_string()) : std::nullopt;
    if (!p) return std::string("expires_in must be a duration such as \"30d\" or \"1h\"");
    l.expires_at = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count() + p->count();
  }
  return l;
}

namespace {
std::string Str(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}
int64_t Int(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
}
}  // namespace

Result<Principal> ParsePrincipal(const json::value& v) {
  if (!v.is_object()) return std::string("a stored team/user is not an object");
  const auto& o = v.as_object();
  auto l = ParseLimits(o, {"name", "team", "kind", "created_at"});
  if (!l) return l.error();
  Principal p;
  p.kind = Str(o, "kind") == "user" ? PrincipalKind::kUser : PrincipalKind::kTeam;
  p.name = Str(o, "name");
  p.team = Str(o, "team");
  p.created_at = Int(o, "created_at");
  p.limits = std::move(*l);
  return p;
}

Result<VirtualKey> ParseKey(const json::value& v) {
  using R = Result<VirtualKey>;
  if (!v.is_object()) return R(boost::system::in_place_error, "a stored key is not an object");
  const auto& o = v.as_object();
  auto l = ParseLimits(o, {"id", "hash", "name", "team", "user", "created_at", "revoked"});
  if (!l) return R(boost::system::in_place_error, l.error());
  VirtualKey k;
  k.id = Str(o, "id");
  k.hash = Str(o, "hash");
  k.name = Str(o, "name");
  k.team = Str(o, "team");
  k.user = Str(o, "user");
  k.created_at = Int(o, "created_at");
  auto it = o.find("revoked");
  k.revoked = it != o.end() && it->value().is_bool() && it->value().as_bool();
  k.limits = std::move(*l);
  return k;
}

}  // namespace ap::limits
