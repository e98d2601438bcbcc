// gateway/route_table.cc — Config → RouteTable.
#include "gateway/route_table.h"

#include "base/strings.h"

namespace ap::gateway {

std::string UpstreamLines(const config::BackendConfig& b) {
  // Values come from the config, which refuses line breaks in them.
  std::string lines = "Host: " + b.url.HostHeader() + "\r\nUser-Agent: agentplane/0.1\r\n";
  if (!b.api_key.empty()) lines += "Authorization: Bearer " + b.api_key + "\r\n";
  for (const auto& [name, value] : b.headers) lines += name + ": " + value + "\r\n";
  return lines;
}

boost::system::result<std::shared_ptr<const RouteTable>, std::string> RouteTable::Build(
    const config::Config& config, const RouteTable* previous, PickerFactory* pickers) {
  auto table = std::make_shared<RouteTable>();
  table->config_ = config;
  std::map<std::string, const BackendState*, std::less<>> by_name;
  for (const auto& bc : table->config_.backends) {
    auto state = std::make_unique<BackendState>();
    state->config = bc;
    state->head_lines = UpstreamLines(bc);
    state->endpoint.host = bc.url.host;
    state->endpoint.port = bc.url.port;
    state->endpoint.key = (bc.url.tls ? "https://" : "http://") + bc.url.host + ":" +
                          std::to_string(bc.url.port) + "#" + bc.name;
    if (bc.url.tls) {
      std::string error;
      state->endpoint.tls = http::MakeClientTlsContext(bc.ca_file, bc.tls_verify, &error);
      if (!state->endpoint.tls) return "backend " + bc.name + ": " + error;
    }
    if (previous) {
      for (const auto& old : previous->backends_)
        if (old->config.name == bc.name && old->endpoint.key == state->endpoint.key &&
            old->config.breaker.failure_threshold == bc.breaker.failure_threshold &&
            old->config.breaker.cooldown == bc.breaker.cooldown)
          state->breaker = old->breaker;
    }
    if (!state->breaker) state->breaker = std::make_shared<CircuitBreaker>(bc.breaker);
    by_name[bc.name] = state.get();
    table->backends_.push_back(std::move(state));
  }
  auto make_group = [&](std::string name, const std::vector<config::WeightedRef>& refs) {
    auto g = std::make_unique<BackendGroup>();
    g->name = std::move(name);
    for (const auto& r : refs) g->members.push_back({by_name.at(r.backend), r.weight});
    table->groups_.push_back(std::move(g));
    return table->groups_.back().get();
  };
  std::map<std::string, const BackendGroup*, std::less<>> model_groups, single_groups;
  for (const auto& m : table->config_.models) {
    auto* group = make_group("model:" + m.name, m.backends);
    if (pickers) {
      std::vector<const BackendState*> members;
      for (const auto& member : group->members) members.push_back(member.backend);
      group->picker = pickers->ForModel(m, members);
    }
    model_groups[m.name] = group;
  }
  for (const auto& b : table->config_.backends) single_groups[b.name] = make_group("backend:" + b.name, {{b.name, 1}});
  auto fallbacks = [&](const std::vector<std::string>& names) {
    std::vector<const BackendGroup*> out;
    for (const auto& n : names) {
      if (auto it = model_groups.find(n); it != model_groups.end()) out.push_back(it->second);
      else if (auto jt = single_groups.find(n); jt != single_groups.end()) out.push_back(jt->second);
    }
    return out;
  };
  for (const auto& m : table->config_.models)
    table->models_[m.name] = Target{"model:" + m.name, model_groups[m.name], fallbacks(m.fallbacks)};
  for (const auto& rc : table->config_.routes) {
    CompiledRoute route;
    route.target = Target{rc.name, make_group("route:" + rc.name, rc.backends), fallbacks(rc.fallbacks)};
    for (const auto& m : rc.matches) {
      CompiledMatch cm{m.path_type, m.path, {}};
      for (const auto& h : m.headers) {
        CompiledHeader ch{h.name, h.value, nullptr};
        if (h.regex) {
          ch.regex = std::make_unique<RE2>(h.value, RE2::Quiet);
          if (!ch.regex->ok()) return "route " + rc.name + ": invalid regular expression '" + h.value + "'";
        }
        cm.headers.push_back(std::move(ch));
      }
      route.matches.push_back(std::move(cm));
    }
    if (route.matches.empty() && !table->catch_all_) table->catch_all_ = route.target.group;
    table->routes_.push_back(std::move(route));
  }
  return std::shared_ptr<const RouteTable>(std::move(table));
}

bool RouteTable::Matches(const CompiledMatch& m, const http::Request& request) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (m.path_type == config::RouteMatch::PathType::kExact) {
    if (path != m.path) return false;
  } else if (m.path != "/") {
    // Gateway API PathPrefix matches whole path elements: /v1 matches /v1 and /v1/x, not /v10.
    if (!StartsWith(path, m.path)) return false;
    if (path.size() > m.path.size() && m.path.back() != '/' && path[m.path.size()] != '/') return false;
  }
  for (const auto& h : m.headers) {
    auto it = request.find(h.name);
    if (it == request.end()) return false;
    std::string_view value = it->value();
    if (h.regex) {
      if (!RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *h.regex)) return false;
    } else if (value != h.value) {
      return false;
    }
  }
  return true;
}

const Target* RouteTable::Resolve(const http::Request& request, std::string_view model) const {
  for (const auto& r : routes_) {
    if (r.matches.empty()) continue;  // catch-all routes come after named models
    for (const auto& m : r.matches)
      if (Matches(m, request)) return &r.target;
  }
  if (auto it = models_.find(model); it != models_.end()) return &it->second;
  for (const auto& r : routes_)
    if (r.matches.empty()) return &r.target;
  return nullptr;
}

std::vector<std::string> RouteTable::ModelNames() const {
  std::vector<std::string> out;
  for (const auto& m : config_.models) out.push_back(m.name);
  return out;
}

}  // namespace ap::gateway
