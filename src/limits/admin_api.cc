// limits/admin_api.cc — see admin_api.h.
#include "limits/admin_api.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "api/errors.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/offload.h"

namespace ap::limits {
namespace json = boost::json;
using Verb = http::bhttp::verb;
using Reply = AdminApi::Reply;

namespace {

Reply Error(api::ErrorKind kind, std::string message, std::string code = "") {
  return {api::HttpStatus(kind), api::ErrorBody({kind, std::move(message), "", std::move(code)})};
}

Reply Json(int status, const json::value& v) { return {status, json::serialize(v)}; }

std::string_view Token(const http::Request& req) {
  std::string_view auth = req[http::bhttp::field::authorization];
  if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "bearer ")) return Trim(auth.substr(7));
  return Trim(req["x-api-key"]);
}

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

// A principal's or key's JSON for replies: limits, spend in the current window; never the hash.
json::object View(Limiter& limiter, json::object o, const std::string& scope, const Limits& limits, int64_t created) {
  o.erase("hash");
  auto spend = limiter.SpendOf(scope, limits, created);
  o["spend_usd"] = spend.spent_usd;
  o["budget_window_start"] = spend.window_start;
  o["budget_reset_at"] = spend.window_end;
  return o;
}

}  // namespace

AdminApi::AdminApi(std::shared_ptr<Limiter> limiter, bool loopback_is_admin)
    : limiter_(std::move(limiter)), loopback_is_admin_(loopback_is_admin) {}

AdminApi::~AdminApi() {
  pool_.stop();
  pool_.join();
}

http::Response AdminApi::ProtocolError(http::Status status, std::string_view message) {
  http::Response res{status, 11};
  res.set(http::bhttp::field::content_type, "application/json");
  res.body() = api::ErrorBody({api::KindForStatus(static_cast<int>(status)), std::string(message), "", ""});
  res.prepare_payload();
  return res;
}

http::net::awaitable<void> AdminApi::Handle(http::Request& req, http::Responder& responder) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  Reply reply;
  std::optional<Identity> identity;
  std::string_view token = Token(req);
  if (token.empty() && loopback_is_admin_ && http::TrustedLocalRequest(req, responder.peer())) identity = Identity{true, std::nullopt};
  else identity = limiter_->Identify(token);
  auto target = boost::urls::parse_origin_form(req.target());
  if (!identity) {
    reply = Error(api::ErrorKind::kAuthentication, "the admin API needs the admin key or a valid virtual key "
                                                   "(Authorization: Bearer <key>)", "invalid_api_key");
  } else if (!target) {
    reply = Error(api::ErrorKind::kInvalidRequest, "malformed request target");
  } else {
    std::string path = target->path();
    std::string team;
    for (auto p : target->params())
      if (p.key == "team") team = p.value;
    std::function<Reply()> work = [this, id = *identity, method = req.method(), path, team, body = std::move(req.body())] {
      try {  // a bug must answer 500, never end the process on a pool thread
        return Serve(id, method, path, team, body);
      } catch (const std::exception& e) {
        return Error(api::ErrorKind::kInternal, std::string("admin request failed: ") + e.what());
      }
    };
    reply = co_await http::Offload(pool_, work);
  }
  http::Response res{static_cast<http::Status>(reply.status), version};
  res.set(http::bhttp::field::content_type, "application/json");
  res.body() = std::move(reply.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  co_await responder.Send(std::move(res));
}

Reply AdminApi::Serve(const Identity& who, Verb method, const std::string& path, const std::string& query_team,
                      const std::string& body) {
  auto& store = limiter_->directory().store();
  auto parts = Split(std::string_view(path).substr(std::min<size_t>(path.size(), 7)), '/');  // after "/admin/"
  if (!StartsWith(path, "/admin/") || parts.empty() || parts.size() > 2 || parts[0].empty())
    return Error(api::ErrorKind::kNotFound, "unknown admin path " + path, "unknown_url");
  const std::string collection(parts[0]);
  const std::string name = parts.size() == 2 ? std::string(parts[1]) : std::string();
  if (collection != "teams" && collection != "users" && collection != "keys")
    return Error(api::ErrorKind::kNotFound, "unknown admin path " + path, "unknown_url");
  if (!who.admin && method != Verb::get)
    return Error(api::ErrorKind::kPermission, "only the admin key may change teams, users and keys", "admin_only");

  // A body, when there is one, is a JSON object.
  json::object in;
  if (method == Verb::post || method == Verb::patch) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return Error(api::ErrorKind::kInvalidRequest, "the body must be a JSON object");
    in = std::move(v.as_object());
  }
  auto snapshot = limiter_->directory().snapshot();
  const int64_t now = limiter_->NowS();
  const std::string own_team = who.key ? who.key->key().team : std::string();
  const std::string own_user = who.key ? who.key->key().user : std::string();
  auto refresh = [&] {
    if (auto r = limiter_->directory().Refresh(); !r) log::Warn("limits", "refresh after admin write", {{"error", r.error()}});
  };

  if (collection == "teams" || collection == "users") {
    const PrincipalKind kind = collection == "teams" ? PrincipalKind::kTeam : PrincipalKind::kUser;
    const auto& map = kind == PrincipalKind::kTeam ? snapshot->teams : snapshot->users;
    const char* scope_kind = kind == PrincipalKind::kTeam ? "team" : "user";
    auto visible = [&](const Principal& p) {
      if (who.admin) return true;
      return kind == PrincipalKind::kTeam ? p.name == own_team : (p.name == own_user || (!own_team.empty() && p.team == own_team));
    };
    auto view = [&](const Principal& p) {
      return View(*limiter_, ToJson(p), Limiter::Scope(scope_kind, p.name), p.limits, p.created_at);
    };
    if (name.empty()) {
      if (method == Verb::get) {
        json::array data;
        for (const auto& [n, p] : map)
          if (visible(p) && (query_team.empty() || p.name == query_team || p.team == query_team)) data.push_back(view(p));
        return Json(200, json::object{{"object", "list"}, {"data", std::move(data)}});
      }
      if (method != Verb::post) return Error(api::ErrorKind::kInvalidRequest, "use GET or POST on " + path, "method_not_allowed");
      auto n = in.find("name");
      if (n == in.end() || !n->value().is_string() || !ValidName(n->value().as_string()))
        return Error(api::ErrorKind::kInvalidRequest, "name is required: 1-64 characters of [A-Za-z0-9._-]", "invalid_name");
      Principal p;
      p.kind = kind;
      p.name = std::string(n->value().as_string());
      if (map.count(p.name)) return Error(api::ErrorKind::kInvalidRequest, std::string(scope_kind) + " '" + p.name + "' exists", "exists");
      if (kind == PrincipalKind::kUser)
        if (auto t = in.find("team"); t != in.end() && t->value().is_string()) p.team = std::string(t->value().as_string());
      if (!p.team.empty() && !snapshot->Team(p.team))
        return Error(api::ErrorKind::kNotFound, "team '" + p.team + "' does not exist", "team_not_found");
      auto limits = ParseLimits(in, {"name", "team"});
      if (!limits) return Error(api::ErrorKind::kInvalidRequest, limits.error(), "invalid_limits");
      p.limits = std::move(*limits);
      p.created_at = now;
      if (auto r = store.PutPrincipal(p); !r) return Error(api::ErrorKind::kUnavailable, r.error(), "store_error");
      refresh();
      log::Info("limits", std::string(scope_kind) + " created", {{"name", p.name}});
      return Json(201, view(p));
    }
    auto it = map.find(name);
    if (it == map.end() || !visible(it->second))
      return Error(api::ErrorKind::kNotFound, std::string(scope_kind) + " '" + name + "' does not exist", "not_found");
    if (method == Verb::get) return Json(200, view(it->second));
    if (method == Verb::delete_) {
      if (auto r = store.DeletePrincipal(kind, name); !r) return Error(api::ErrorKind::kUnavailable, r.error(), "store_error");
      refresh();
      log::Info("limits", std::string(scope_kind) + " deleted", {{"name", name}});
      return Json(200, json::object{{"deleted", true}, {"name", name}});
    }
    if (method == Verb::patch) {
      json::object merged = ToJson(it->second.limits);
      for (auto& kv : in) merged[kv.key()] = kv.value();
      auto limits = ParseLimits(merged, {});
      if (!limits) return Error(api::ErrorKind::kInvalidRequest, limits.error(), "invalid_limits");
      Principal p = it->second;
      p.limits = std::move(*limits);
      if (auto r = store.PutPrincipal(p); !r) return Error(api::ErrorKind::kUnavailable, r.error(), "store_error");
      refresh();
      return Json(200, view(p));
    }
    return Error(api::ErrorKind::kInvalidRequest, "use GET, PATCH or DELETE on " + path, "method_not_allowed");
  }

  // Keys.
  auto key_view = [&](const VirtualKey& k) {
    return View(*limiter_, ToJson(k), Limiter::Scope("key", k.id), k.limits, k.created_at);
  };
  auto visible_key = [&](const VirtualKey& k) {
    return who.admin || (who.key && (k.id == who.key->key().id || (!own_team.empty() && k.team == own_team)));
  };
  if (name.empty()) {
    if (method == Verb::get) {
      json::array data;
      for (const auto& [hash, entry] : snapshot->keys)
        if (visible_key(entry.key) && (query_team.empty() || entry.key.team == query_team)) data.push_back(key_view(entry.key));
      return Json(200, json::object{{"object", "list"}, {"data", std::move(data)}});
    }
    if (method != Verb::post) return Error(api::ErrorKind::kInvalidRequest, "use GET or POST on " + path, "method_not_allowed");
    VirtualKey k;
    auto str = [&](const char* f) {
      auto it = in.find(f);
      return it != in.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
    };
    k.team = str("team");
    k.user = str("user");
    k.name = str("name");
    if (k.name.size() > 128) return Error(api::ErrorKind::kInvalidRequest, "name is at most 128 characters", "invalid_name");
    if (!k.team.empty() && !snapshot->Team(k.team))
      return Error(api::ErrorKind::kNotFound, "team '" + k.team + "' does not exist", "team_not_found");
    if (!k.user.empty()) {
      const Principal* u = snapshot->User(k.user);
      if (!u) return Error(api::ErrorKind::kNotFound, "user '" + k.user + "' does not exist", "user_not_found");
      if (k.team.empty()) k.team = u->team;
    }
    auto limits = ParseLimits(in, {"team", "user", "name"});
    if (!limits) return Error(api::ErrorKind::kInvalidRequest, limits.error(), "invalid_limits");
    k.limits = std::move(*limits);
    std::string plaintext = GenerateKey();
    k.hash = HashKey(plaintext);
    k.id = KeyIdFromHash(k.hash);
    k.created_at = now;
    if (auto r = store.PutKey(k); !r) return Error(api::ErrorKind::kUnavailable, r.error(), "store_error");
    refresh();
    log::Info("limits", "key created", {{"id", k.id}, {"team", k.team}, {"user", k.user}});
    json::object o = key_view(k);
    o["key"] = plaintext;  // shown once: only the hash is stored
    return Json(201, o);
  }
  const VirtualKey* found = nullptr;
  for (const auto& [hash, entry] : snapshot->keys)
    if (entry.key.id == name) found = &entry.key;
  if (!found || !visible_key(*found)) return Error(api::ErrorKind::kNotFound, "key '" + name + "' does not exist", "not_found");
  if (method == Verb::get) return Json(200, key_view(*found));
  VirtualKey k = *found;
  if (method == Verb::delete_) {
    k.revoked = true;
  } else if (method == Verb::patch) {
    json::object merged = ToJson(k.limits);
    for (auto& kv : in) merged[kv.key()] = kv.value();
    auto limits = ParseLimits(merged, {});
    if (!limits) return Error(api::ErrorKind::kInvalidRequest, limits.error(), "invalid_limits");
    k.limits = std::move(*limits);
  } else {
    return Error(api::ErrorKind::kInvalidRequest, "use GET, PATCH or DELETE on " + path, "method_not_allowed");
  }
  if (auto r = store.PutKey(k); !r) return Error(api::ErrorKind::kUnavailable, r.error(), "store_error");
  refresh();
  if (k.revoked) log::Info("limits", "key revoked", {{"id", k.id}});
  return Json(200, key_view(k));
}

}  // namespace ap::limits
