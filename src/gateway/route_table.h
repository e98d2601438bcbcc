// gateway/route_table.h — the compiled, immutable routing state built from a Config.
//
// A request resolves to a Target: the first route (in file order) whose path and headers match,
// else the model named in the body; then a weighted backend group plus ordered fallback groups.
// A RouteTable is built off the request path (start-up, SIGHUP) and swapped in whole; requests
// hold a shared_ptr to the table they started with, so a reload never changes a request midway.
// Circuit breakers survive a reload for backends whose name and URL did not change.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/system/result.hpp>
#include <re2/re2.h>

#include "config/config.h"
#include "gateway/circuit_breaker.h"
#include "gateway/picker.h"
#include "http/client.h"
#include "http/server.h"

namespace ap::gateway {

struct BackendState {
  config::BackendConfig config;
  http::Endpoint endpoint;
  std::shared_ptr<CircuitBreaker> breaker;
  // The upstream request head lines every request to this backend carries, built with the
  // table (UpstreamLines): Host, User-Agent, the backend's key and its extra headers.
  std::string head_lines;
};

// "Host: …\r\nUser-Agent: …\r\n[Authorization: Bearer …\r\n][extra headers]" for `backend`.
std::string UpstreamLines(const config::BackendConfig& backend);

class BackendGroup {
 public:
  struct Member {
    const BackendState* backend;
    uint32_t weight;
  };
  std::string name;
  std::vector<Member> members;
  std::shared_ptr<ReplicaPicker> picker;  // null: weighted random balancing (Pick below)

  // A weighted random pick among members not in `exclude` whose breaker lets a request through;
  // null when none can take it. `unit` draws in [0,1) supply the randomness.
  template <typename Draw>
  const BackendState* Pick(Draw&& draw, const std::vector<const BackendState*>& exclude,
                           CircuitBreaker::Clock::time_point now) const;
};

struct Target {
  std::string route;  // route name, or "model:<name>"
  const BackendGroup* group = nullptr;
  std::vector<const BackendGroup*> fallbacks;
};

class RouteTable {
 public:
  // Builds the table; `previous` lends its circuit breakers. Errors name what is wrong.
  // `pickers` (optional) supplies a scheduler for each model's group.
  static boost::system::result<std::shared_ptr<const RouteTable>, std::string> Build(
      const config::Config& config, const RouteTable* previous, PickerFactory* pickers = nullptr);

  // nullptr: no route matches and no model of that name exists.
  const Target* Resolve(const http::Request& request, std::string_view model) const;
  // The group that takes any request (a route with no matches), for forwarding GET /v1/models.
  const BackendGroup* catch_all() const { return catch_all_; }
  const config::Config& config() const { return config_; }
  std::vector<std::string> ModelNames() const;
  const std::vector<std::unique_ptr<BackendState>>& backends() const { return backends_; }

 private:
  struct CompiledHeader {
    std::string name;
    std::string value;
    std::unique_ptr<RE2> regex;
  };
  struct CompiledMatch {
    config::RouteMatch::PathType path_type;
    std::string path;
    std::vector<CompiledHeader> headers;
  };
  struct CompiledRoute {
    std::vector<CompiledMatch> matches;
    Target target;
  };
  static bool Matches(const CompiledMatch& m, const http::Request& request);

  config::Config config_;
  std::vector<std::unique_ptr<BackendState>> backends_;
  std::vector<std::unique_ptr<BackendGroup>> groups_;
  std::vector<CompiledRoute> routes_;
  std::map<std::string, Target, std::less<>> models_;
  const BackendGroup* catch_all_ = nullptr;
};

template <typename Draw>
const BackendState* BackendGroup::Pick(Draw&& draw, const std::vector<const BackendState*>& exclude,
                                       CircuitBreaker::Clock::time_point now) const {
  std::vector<const BackendState*> refused;
  auto excluded = [&](const BackendState* b) {
    for (auto* e : exclude)
      if (e == b) return true;
    for (auto* e : refused)
      if (e == b) return true;
    return false;
  };
  for (size_t round = 0; round < members.size(); ++round) {
    uint64_t total = 0;
    for (const auto& m : members)
      if (!excluded(m.backend)) total += m.weight;
    if (total == 0) return nullptr;
    uint64_t x = static_cast<uint64_t>(draw() * static_cast<double>(total));
    const BackendState* chosen = nullptr;
    for (const auto& m : members) {
      if (excluded(m.backend)) continue;
      if (x < m.weight) {
        chosen = m.backend;
        break;
      }
      x -= m.weight;
    }
    if (!chosen) return nullptr;
    if (chosen->breaker->Allow(now)) return chosen;
    refused.push_back(chosen);
  }
  return nullptr;
}

}  // namespace ap::gateway
