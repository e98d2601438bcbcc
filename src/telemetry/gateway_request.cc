// telemetry/gateway_request.cc — see gateway_request.h.
#include "telemetry/gateway_request.h"

#include "telemetry/store.h"

namespace ap::telemetry {

bool GatewayRequest::SetTags(const std::vector<std::string>& tags) {
  size_t n = 0;
  for (const auto& t : tags) n += t.size() + 1;
  if (n > kTextCapacity - used) return false;
  for (const auto& t : tags)
    if (t.find('\0') != std::string::npos) return false;
  offset[kTags] = used;
  for (const auto& t : tags) {
    std::memcpy(text + used, t.data(), t.size());
    used = static_cast<uint16_t>(used + t.size());
    text[used++] = '\0';
  }
  size[kTags] = static_cast<uint16_t>(n);
  return true;
}

std::vector<std::string> GatewayRequest::Tags() const {
  std::vector<std::string> out;
  std::string_view all = Get(kTags);
  while (!all.empty()) {
    size_t end = all.find('\0');
    out.emplace_back(all.substr(0, end));
    all.remove_prefix(end + 1);
  }
  return out;
}

std::vector<Item> ToItems(const GatewayRequest& r) {
  using F = GatewayRequest;
  std::vector<Item> items(2);
  items[0].fresh = true;
  items[1].fresh = true;
  Trace& t = items[0].body.emplace<Trace>();
  t.id = r.Get(F::kTraceId);
  t.project = r.Get(F::kProject);
  t.timestamp_us = r.start_us;
  t.name = r.Opt(F::kName);
  t.user_id = r.Opt(F::kUser);
  t.session_id = r.Opt(F::kSession);
  if (r.Has(F::kTags)) t.tags = r.Tags();
  t.environment = r.Opt(F::kEnvironment);

  Observation& g = items[1].body.emplace<Observation>();
  g.id = r.Get(F::kSpanId);
  g.trace_id = t.id;
  g.project = t.project;
  g.type = ObservationType::kGeneration;
  g.parent_id = r.Opt(F::kParentId);
  g.name = t.name;
  g.start_us = r.start_us;
  g.end_us = r.end_us;
  g.completion_start_us = r.completion_start_us;
  g.model = r.Opt(F::kModel);
  g.user_id = t.user_id;
  g.backend = r.Opt(F::kBackend);
  g.team = r.Opt(F::kTeam);
  g.key = r.Opt(F::kKey);
  g.environment = t.environment;
  g.status_code = r.status;
  if (r.error) g.level = Level::kError;
  g.status_message = r.Opt(F::kStatusMessage);
  if (r.has_usage) {
    g.input_tokens = r.input_tokens;
    g.output_tokens = r.output_tokens;
    g.total_tokens = r.total_tokens;
    if (r.cached_tokens) g.cached_tokens = r.cached_tokens;
    g.usage_details = r.Opt(F::kUsageDetails);
  }
  if (r.has_cost) {
    g.input_cost = r.input_cost;
    g.output_cost = r.output_cost;
    g.total_cost = r.total_cost;
  }
  return items;
}

Result<void> Store::WriteBatch(ItemGroups groups, std::span<const GatewayRequest> requests) {
  if (requests.empty()) return WriteGroups(groups);
  std::vector<std::vector<Item>> items;
  items.reserve(requests.size());
  for (const auto& r : requests) items.push_back(ToItems(r));
  std::vector<std::span<const Item>> all(items.begin(), items.end());
  all.insert(all.end(), groups.begin(), groups.end());
  return WriteGroups(all);
}

}  // namespace ap::telemetry
