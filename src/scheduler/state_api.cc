// scheduler/state_api.cc — see state_api.h.
#include "scheduler/state_api.h"

#include <boost/json.hpp>
#include <map>

#include "base/strings.h"

namespace ap::scheduler {
namespace json = boost::json;
namespace bhttp = http::bhttp;

namespace {

http::Response Json(http::Status status, std::string body, const http::Request& req) {
  http::Response res{status, req.version()};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

std::string Error(std::string_view message) {
  return json::serialize(json::object{{"error", json::object{{"message", message}}}});
}

json::value OrNull(double v) { return v < 0 ? json::value(nullptr) : json::value(v); }

double AgeMs(Clock::time_point now, int64_t at_ns) {
  if (at_ns == 0) return -1;
  return static_cast<double>(now.time_since_epoch().count() - at_ns) / 1e6;
}

}  // namespace

std::string StateApi::ReplicasJson() const {
  auto now = Clock::now();
  json::array models;
  for (const auto& pool : factory_->LivePools()) {
    const auto& cfg = pool->config();
    auto& m = pool->metrics();
    json::object mj;
    mj["model"] = pool->model();
    mj["mode"] = cfg.mode;
    mj["queue_depth"] = m.queue_depth.load(std::memory_order_relaxed);
    mj["queued_total"] = m.queued_total.load(std::memory_order_relaxed);
    mj["rejected_queue_full"] = m.rejected_full.load(std::memory_order_relaxed);
    mj["rejected_queue_timeout"] = m.rejected_timeout.load(std::memory_order_relaxed);
    double total = static_cast<double>(m.prefix_blocks_total.load(std::memory_order_relaxed));
    double hit = static_cast<double>(m.prefix_blocks_matched.load(std::memory_order_relaxed));
    mj["prefix_hit_ratio"] = total > 0 ? json::value(hit / total) : json::value(nullptr);
    mj["decisions"] = m.decision.count();
    mj["decision_p99_seconds"] =
        m.decision.count() ? json::value(m.decision.Quantile(0.99)) : json::value(nullptr);
    json::array replicas;
    for (const auto& r : pool->replicas()) {
      json::object rj;
      bool fresh = r->Fresh(now, cfg.stale_after);
      rj["name"] = r->name;
      rj["endpoint"] = r->endpoint.host + ":" + std::to_string(r->endpoint.port);
      rj["up"] = !r->Down();
      rj["fresh"] = fresh;
      rj["scrape_age_ms"] = OrNull(AgeMs(now, r->scraped_at_ns.load(std::memory_order_acquire)));
      rj["waiting"] = r->waiting.load(std::memory_order_relaxed);
      rj["running"] = r->running.load(std::memory_order_relaxed);
      rj["kv_cache_usage"] = OrNull(r->kv_usage.load(std::memory_order_relaxed));
      rj["in_flight"] = r->in_flight.load(std::memory_order_relaxed);
      rj["picks"] = r->picks.load(std::memory_order_relaxed);
      double q = r->prefix_queries.load(std::memory_order_relaxed);
      double h = r->prefix_hits.load(std::memory_order_relaxed);
      rj["prefix_cache_queries"] = OrNull(q);
      rj["prefix_cache_hits"] = OrNull(h);
      rj["capacity_tokens"] = r->capacity_tokens.load(std::memory_order_relaxed);
      auto gpus = r->gpus.load();
      rj["gpus"] = gpus ? static_cast<int64_t>(gpus->size()) : 0;
      replicas.push_back(std::move(rj));
    }
    mj["replicas"] = std::move(replicas);
    json::array picks;
    for (const auto& p : pool->RecentPicks()) {
      json::object pj;
      pj["ago_ms"] = std::chrono::duration<double, std::milli>(now - p.at).count();
      pj["replica"] = pool->replicas()[p.replica]->name;
      pj["score"] = p.score;
      pj["prefix_share"] = OrNull(p.prefix_share);
      picks.push_back(std::move(pj));
    }
    mj["recent_picks"] = std::move(picks);
    models.push_back(std::move(mj));
  }
  return json::serialize(json::object{{"models", std::move(models)}});
}

std::string StateApi::FleetJson() const {
  auto now = Clock::now();
  // cluster → node → GPUs, each GPU once even when several models' pools share a replica.
  std::map<std::string, std::map<std::string, std::map<std::string, json::object>>> tree;
  for (const auto& pool : factory_->LivePools()) {
    for (const auto& r : pool->replicas()) {
      auto gpus = r->gpus.load();
      if (!gpus) continue;
      double age = AgeMs(now, r->scraped_at_ns.load(std::memory_order_acquire));
      for (const auto& g : *gpus) {
        std::string cluster = g.cluster.empty() ? "local" : g.cluster;
        std::string node = g.hostname.empty() ? r->endpoint.host : g.hostname;
        json::object gj;
        gj["gpu"] = g.gpu;
        gj["uuid"] = g.uuid;
        gj["model_name"] = g.model_name;
        gj["util_percent"] = OrNull(g.util_percent);
        gj["fb_used_mib"] = OrNull(g.fb_used_mib);
        gj["fb_total_mib"] = g.fb_used_mib >= 0 && g.fb_free_mib >= 0
                                 ? json::value(g.fb_used_mib + g.fb_free_mib)
                                 : json::value(nullptr);
        gj["temp_c"] = OrNull(g.temp_c);
        gj["power_w"] = OrNull(g.power_w);
        gj["replica"] = r->name;
        gj["model"] = pool->model();
        gj["sample_age_ms"] = OrNull(age);
        gj["stale"] =
            !r->Fresh(now, std::max(pool->config().stale_after, std::chrono::milliseconds(5000)));
        // Keyed by the exporter that reported it too: UUIDs are unique in a real fleet, but two
        // simulators on one host number their GPUs alike.
        std::string endpoint = r->endpoint.host + ":" + std::to_string(r->endpoint.port);
        tree[cluster][node][endpoint + "/" + (g.uuid.empty() ? g.gpu : g.uuid)] = std::move(gj);
      }
    }
  }
  json::array clusters;
  for (auto& [cname, nodes] : tree) {
    json::array nj;
    for (auto& [nname, gpus] : nodes) {
      json::array gj;
      for (auto& [id, g] : gpus) gj.push_back(std::move(g));
      nj.push_back(json::object{{"name", nname}, {"gpus", std::move(gj)}});
    }
    clusters.push_back(json::object{{"name", cname}, {"nodes", std::move(nj)}});
  }
  return json::serialize(json::object{{"clusters", std::move(clusters)}});
}

http::net::awaitable<void> StateApi::Handle(http::Request& req, http::Responder& responder) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  auto auth = req[bhttp::field::authorization];
  std::string_view token;
  if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "bearer "))
    token = Trim(auth.substr(7));
  else if (auth.empty())
    token = Trim(req["x-api-key"]);
  if (token.empty() && !auth.empty()) {
    co_await responder.Send(Json(http::Status::unauthorized,
                                 Error("use Authorization: Bearer with the admin key"), req));
    co_return;
  }
  if (token.empty()) {
    if (!(options_.loopback_without_key && http::TrustedLocalRequest(req, responder.peer()))) {
      co_await responder.Send(
          Json(http::Status::unauthorized,
               Error("replica and fleet state need the admin key (Authorization: Bearer)"), req));
      co_return;
    }
  } else if (!options_.is_admin || !options_.is_admin(token)) {
    co_await responder.Send(Json(
        http::Status::forbidden,
        Error("replica and fleet state are operator data: only the admin key may read them"), req));
    co_return;
  }
  if (req.method() != bhttp::verb::get) {
    co_await responder.Send(
        Json(http::Status::method_not_allowed, Error("method not allowed"), req));
    co_return;
  }
  if (path == "/api/scheduler/replicas") {
    co_await responder.Send(Json(http::Status::ok, ReplicasJson(), req));
  } else if (path == "/api/fleet/gpus") {
    co_await responder.Send(Json(http::Status::ok, FleetJson(), req));
  } else {
    co_await responder.Send(
        Json(http::Status::not_found, Error("no such endpoint: " + std::string(path)), req));
  }
}

http::Response StateApi::ProtocolError(http::Status status, std::string_view message) {
  http::Request req{bhttp::verb::get, "/", 11};
  req.set(bhttp::field::connection, "close");
  return Json(status, Error(message), req);
}

}  // namespace ap::scheduler
