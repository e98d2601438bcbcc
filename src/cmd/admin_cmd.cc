// cmd/admin_cmd.cc — `agentplane keys …` and `agentplane teams …`: the admin API from a shell.
//
// Talks HTTP to a running gateway (--url, or AGENTPLANE_URL; default http://127.0.0.1:8080) with
// the admin key (--admin-key, or AGENTPLANE_ADMIN_KEY). Prints a table, or the JSON with --json;
// a created key is printed once and never again.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cmd/commands.h"

namespace ap::cmd {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;

struct AdminFlags {
  std::string url;
  std::string admin_key;
  bool json = false;
  // Limits shared by teams, users and keys.
  std::string name, team, user, budget_period, expires_in;
  std::vector<std::string> models;
  std::optional<int64_t> rpm, tpm, max_parallel;
  std::optional<double> budget_usd, soft_budget_usd;
};

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// One request to the admin API; prints errors. Returns the parsed reply on 2xx.
std::optional<json::value> Call(const AdminFlags& f, beast::http::verb method, const std::string& path,
                                const json::object* body) {
  std::string url = f.url.empty() ? Env("AGENTPLANE_URL", "http://127.0.0.1:8080") : f.url;
  std::string key = f.admin_key.empty() ? Env("AGENTPLANE_ADMIN_KEY", "") : f.admin_key;
  if (url.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "error: --url must be http://host:port (got %s)\n", url.c_str());
    return std::nullopt;
  }
  std::string hostport = url.substr(7);
  if (auto slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
  std::string host = hostport, port = "80";
  if (auto colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  try {
    net::io_context io;
    net::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));
    beast::http::request<beast::http::string_body> req{method, path, 11};
    req.set(beast::http::field::host, hostport);
    if (!key.empty()) req.set(beast::http::field::authorization, "Bearer " + key);
    if (body) {
      req.set(beast::http::field::content_type, "application/json");
      req.body() = json::serialize(*body);
    }
    req.prepare_payload();
    beast::http::write(stream, req);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(stream, buffer, res);
    boost::system::error_code ec;
    json::value v = json::parse(res.body(), ec);
    if (res.result_int() / 100 != 2) {
      std::string msg = res.body();
      if (!ec && v.is_object() && v.as_object().contains("error") && v.at("error").at("message").is_string())
        msg = std::string(v.at("error").at("message").as_string());
      std::fprintf(stderr, "error: %d %s\n", res.result_int(), msg.c_str());
      return std::nullopt;
    }
    if (ec) {
      std::fprintf(stderr, "error: the gateway answered something other than JSON\n");
      return std::nullopt;
    }
    return v;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: cannot reach %s: %s\n", url.c_str(), e.what());
    return std::nullopt;
  }
}

json::object LimitsBody(const AdminFlags& f) {
  json::object o;
  if (!f.models.empty()) {
    json::array a;
    for (const auto& m : f.models) a.emplace_back(m);
    o["models"] = std::move(a);
  }
  if (f.rpm) o["rpm"] = *f.rpm;
  if (f.tpm) o["tpm"] = *f.tpm;
  if (f.max_parallel) o["max_parallel"] = *f.max_parallel;
  if (f.budget_usd) o["budget_usd"] = *f.budget_usd;
  if (f.soft_budget_usd) o["soft_budget_usd"] = *f.soft_budget_usd;
  if (!f.budget_period.empty()) o["budget_period"] = f.budget_period;
  if (!f.expires_in.empty()) o["expires_in"] = f.expires_in;
  return o;
}

void AddLimitFlags(CLI::App* c, AdminFlags* f) {
  c->add_option("--models", f->models, "Allowed models (repeatable); default: all");
  c->add_option("--rpm", f->rpm, "Requests per minute");
  c->add_option("--tpm", f->tpm, "Tokens per minute (prompt + completion)");
  c->add_option("--max-parallel", f->max_parallel, "Requests in flight at once");
  c->add_option("--budget-usd", f->budget_usd, "Spend cap in USD per budget period");
  c->add_option("--soft-budget-usd", f->soft_budget_usd, "Alert (log + metric) when spend crosses this");
  c->add_option("--budget-period", f->budget_period, "Budget window, e.g. 30d, 7d, 24h (default 30d)");
  c->add_option("--expires-in", f->expires_in, "Expire after, e.g. 90d, 12h");
}

void AddConnectionFlags(CLI::App* c, AdminFlags* f) {
  c->add_option("--url", f->url, "Gateway URL (default $AGENTPLANE_URL or http://127.0.0.1:8080)");
  c->add_option("--admin-key", f->admin_key, "Admin key (default $AGENTPLANE_ADMIN_KEY)");
  c->add_flag("--json", f->json, "Print the JSON reply");
}

std::string Opt(const json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || it->value().is_null()) return "-";
  if (it->value().is_string()) return std::string(it->value().as_string());
  if (it->value().is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", it->value().as_double());
    return buf;
  }
  return json::serialize(it->value());
}

void PrintRows(const json::value& v, bool keys) {
  std::printf(keys ? "%-18s %-14s %-12s %-8s %-9s %-8s %-12s %-10s %s\n"
                   : "%-18s %-14s %-8s %-9s %-8s %-12s %-10s %s\n",
              keys ? "ID" : "NAME", keys ? "TEAM" : "RPM", keys ? "NAME" : "TPM", keys ? "RPM" : "PARALLEL",
              keys ? "TPM" : "BUDGET", keys ? "BUDGET" : "SPENT", keys ? "SPENT" : "PERIOD", keys ? "REVOKED" : "MODELS",
              keys ? "MODELS" : "");
  const json::array* rows = v.is_object() && v.as_object().contains("data") ? &v.at("data").as_array() : nullptr;
  json::array single;
  if (!rows) {
    single.push_back(v);
    rows = &single;
  }
  for (const auto& r : *rows) {
    const auto& o = r.as_object();
    std::string models = json::serialize(o.at("models"));
    if (keys)
      std::printf("%-18s %-14s %-12s %-8s %-9s %-8s %-12s %-10s %s\n", Opt(o, "id").c_str(), Opt(o, "team").c_str(),
                  Opt(o, "name").c_str(), Opt(o, "rpm").c_str(), Opt(o, "tpm").c_str(), Opt(o, "budget_usd").c_str(),
                  Opt(o, "spend_usd").c_str(), Opt(o, "revoked").c_str(), models.c_str());
    else
      std::printf("%-18s %-14s %-8s %-9s %-8s %-12s %-10s %s\n", Opt(o, "name").c_str(), Opt(o, "rpm").c_str(),
                  Opt(o, "tpm").c_str(), Opt(o, "max_parallel").c_str(), Opt(o, "budget_usd").c_str(),
                  Opt(o, "spend_usd").c_str(), Opt(o, "budget_period").c_str(), models.c_str());
  }
}

int Done(const AdminFlags& f, const std::optional<json::value>& v, bool keys) {
  if (!v) return 1;
  if (f.json) std::printf("%s\n", json::serialize(*v).c_str());
  else PrintRows(*v, keys);
  return 0;
}

}  // namespace

void AddAdminCommands(CLI::App& app, int* exit_code) {
  using Verb = beast::http::verb;
  auto flags = std::make_shared<AdminFlags>();
  auto* keys = app.add_subcommand("keys",
      "Create, list and revoke virtual keys (admin API of a running gateway)\n\n"
      "Examples:\n"
      "  export AGENTPLANE_ADMIN_KEY=...   # the gateway's limits.admin_key\n"
      "  agentplane keys create --team ml --name notebook --rpm 60 --tpm 100000\n"
      "  agentplane keys create --budget-usd 20 --budget-period 7d --expires-in 30d\n"
      "  agentplane keys list --team ml\n"
      "  agentplane keys revoke key-3f9a1c20b7d4\n");
  keys->require_subcommand(1);
  auto* create = keys->add_subcommand("create", "Create a key; it is printed once and stored only as a hash");
  create->add_option("--team", flags->team, "Team the key belongs to (bound by its limits too)");
  create->add_option("--user", flags->user, "User the key belongs to");
  create->add_option("--name", flags->name, "What the key is for");
  AddLimitFlags(create, flags.get());
  AddConnectionFlags(create, flags.get());
  create->callback([flags, exit_code] {
    json::object body = LimitsBody(*flags);
    if (!flags->team.empty()) body["team"] = flags->team;
    if (!flags->user.empty()) body["user"] = flags->user;
    if (!flags->name.empty()) body["name"] = flags->name;
    auto v = Call(*flags, Verb::post, "/admin/keys", &body);
    if (!v) {
      *exit_code = 1;
      return;
    }
    if (flags->json) {
      std::printf("%s\n", json::serialize(*v).c_str());
    } else {
      std::printf("key:  %s\nid:   %s\nSave the key now: it is not shown again (only its hash is stored).\n",
                  Opt(v->as_object(), "key").c_str(), Opt(v->as_object(), "id").c_str());
    }
  });
  auto* list = keys->add_subcommand("list", "List keys with their limits and spend");
  list->add_option("--team", flags->team, "Only this team's keys");
  AddConnectionFlags(list, flags.get());
  list->callback([flags, exit_code] {
    *exit_code = Done(*flags, Call(*flags, Verb::get, "/admin/keys" + (flags->team.empty() ? "" : "?team=" + flags->team), nullptr), true);
  });
  auto* revoke = keys->add_subcommand("revoke", "Revoke a key on every gateway replica (within a second)");
  revoke->add_option("id", flags->name, "The key's id (key-…)")->required();
  AddConnectionFlags(revoke, flags.get());
  revoke->callback([flags, exit_code] {
    *exit_code = Done(*flags, Call(*flags, Verb::delete_, "/admin/keys/" + flags->name, nullptr), true);
  });

  // Teams and users share their shape: a name, limits, list, delete.
  auto add_principals = [&](const char* kind, const char* help, const char* examples) {
    const std::string collection = std::string("/admin/") + kind + "s";
    auto* cmd = app.add_subcommand(std::string(kind) + "s", std::string(help) + "\n\nExamples:\n" + examples);
    cmd->require_subcommand(1);
    auto* create = cmd->add_subcommand("create", std::string("Create a ") + kind);
    create->add_option("name", flags->name, "Name: [A-Za-z0-9._-], up to 64")->required();
    if (std::string(kind) == "user") create->add_option("--team", flags->team, "Team the user belongs to");
    AddLimitFlags(create, flags.get());
    AddConnectionFlags(create, flags.get());
    create->callback([flags, exit_code, collection] {
      json::object body = LimitsBody(*flags);
      body["name"] = flags->name;
      if (!flags->team.empty()) body["team"] = flags->team;
      *exit_code = Done(*flags, Call(*flags, Verb::post, collection, &body), false);
    });
    auto* list = cmd->add_subcommand("list", std::string("List ") + kind + "s with their limits and spend");
    AddConnectionFlags(list, flags.get());
    list->callback([flags, exit_code, collection] { *exit_code = Done(*flags, Call(*flags, Verb::get, collection, nullptr), false); });
    auto* remove = cmd->add_subcommand("delete", std::string("Delete a ") + kind + " (its keys stop working)");
    remove->add_option("name", flags->name, "Name")->required();
    AddConnectionFlags(remove, flags.get());
    remove->callback([flags, exit_code, collection, kind] {
      auto v = Call(*flags, Verb::delete_, collection + "/" + flags->name, nullptr);
      *exit_code = v ? 0 : 1;
      if (v) std::printf("deleted %s %s\n", kind, flags->name.c_str());
    });
  };
  add_principals("team", "Create, list and delete teams and their shared limits",
                 "  agentplane teams create ml --budget-usd 500 --soft-budget-usd 400 --budget-period 30d --tpm 2000000\n"
                 "  agentplane teams create support --models gpt-4o-mini --rpm 600\n"
                 "  agentplane teams list\n"
                 "  agentplane teams delete support\n");
  add_principals("user", "Create, list and delete users (optionally in a team) and their limits",
                 "  agentplane users create ada --team ml --budget-usd 50 --rpm 30\n"
                 "  agentplane keys create --user ada --name laptop\n"
                 "  agentplane users list\n");
}

}  // namespace ap::cmd
