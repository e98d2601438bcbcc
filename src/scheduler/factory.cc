// scheduler/factory.cc — SchedulerFactory: builds pools from config, registers them with the
// scraper, and renders every live pool's metrics as Prometheus text.
//
// Pools are owned by the gateway's route table (through BackendGroup::picker); the factory keeps
// weak references only, so a reload that drops a model drops its pool and its scraping.
#include <map>

#include "scheduler/scheduler.h"
#include "scheduler/scraper.h"

namespace ap::scheduler {
namespace {

enum Family {
  kFamPicks,
  kFamDecision,
  kFamQueueWait,
  kFamQueueDepth,
  kFamRejected,
  kFamPrefixHitRatio,
  kFamInFlight,
  kFamUp,
  kFamFresh,
  kNumFamilies
};

struct FamilyInfo {
  const char* name;
  const char* type;
  const char* help;
};

constexpr FamilyInfo kFamilies[kNumFamilies] = {
    {"agentplane_scheduler_picks_total", "counter", "Requests the scheduler sent to each replica."},
    {"agentplane_scheduler_decision_seconds", "histogram",
     "Time to take one scheduling decision (filters, scorers, pick), queue waits excluded."},
    {"agentplane_scheduler_queue_wait_seconds", "histogram",
     "Time requests waited at the gateway because every replica was saturated."},
    {"agentplane_scheduler_queue_depth", "gauge", "Requests waiting at the gateway now."},
    {"agentplane_scheduler_rejected_total", "counter",
     "Requests refused with 429 by the scheduler (reason: queue_full or queue_timeout)."},
    {"agentplane_scheduler_prefix_hit_ratio", "gauge",
     "Estimated share of prompt blocks the chosen replica already held in its KV cache."},
    {"agentplane_scheduler_replica_in_flight", "gauge", "Requests the gateway has in flight on each replica."},
    {"agentplane_scheduler_replica_up", "gauge",
     "1 when the replica answers its metrics scrapes and requests, 0 when it is taken out."},
    {"agentplane_scheduler_replica_metrics_fresh", "gauge",
     "1 when the replica's latest metrics sample is recent enough to be used."},
};

}  // namespace

void Pool::AppendSamples(std::string* out, int family) const {
  std::string model = "model=\"" + EscapeLabel(model_) + "\"";
  auto line = [&](std::string_view name, const std::string& labels, double v) {
    out->append(name).append("{").append(labels).append("} ");
    AppendNumber(out, v);
    out->push_back('\n');
  };
  const char* name = kFamilies[family].name;
  auto now = Clock::now();
  switch (family) {
    case kFamDecision: metrics_.decision.Render(out, name, model); return;
    case kFamQueueWait: metrics_.queue_wait.Render(out, name, model); return;
    case kFamQueueDepth:
      line(name, model, static_cast<double>(metrics_.queue_depth.load(std::memory_order_relaxed)));
      return;
    case kFamRejected:
      line(name, model + ",reason=\"queue_full\"", static_cast<double>(metrics_.rejected_full.load()));
      line(name, model + ",reason=\"queue_timeout\"", static_cast<double>(metrics_.rejected_timeout.load()));
      return;
    case kFamPrefixHitRatio: {
      double total = static_cast<double>(metrics_.prefix_blocks_total.load(std::memory_order_relaxed));
      double hit = static_cast<double>(metrics_.prefix_blocks_matched.load(std::memory_order_relaxed));
      line(name, model, total > 0 ? hit / total : 0);
      return;
    }
    default: break;
  }
  for (const auto& r : replicas_) {
    std::string labels = model + ",replica=\"" + EscapeLabel(r->name) + "\"";
    double v = 0;
    if (family == kFamPicks) v = static_cast<double>(r->picks.load(std::memory_order_relaxed));
    else if (family == kFamInFlight) v = static_cast<double>(r->in_flight.load(std::memory_order_relaxed));
    else if (family == kFamUp) v = r->Down() ? 0 : 1;
    else if (family == kFamFresh) v = r->Fresh(now, config_.stale_after) ? 1 : 0;
    line(name, labels, v);
  }
}

SchedulerFactory::SchedulerFactory() : scraper_(std::make_unique<Scraper>()) {}
SchedulerFactory::~SchedulerFactory() { scraper_.reset(); }

std::shared_ptr<gateway::ReplicaPicker> SchedulerFactory::ForModel(
    const config::ModelConfig& model, const std::vector<const gateway::BackendState*>& members) {
  if (!model.scheduler || members.empty()) return nullptr;
  auto pool = std::make_shared<Pool>(model.name, *model.scheduler, members, scraper_->executor());
  {
    std::lock_guard lock(mu_);
    std::erase_if(pools_, [](const std::weak_ptr<Pool>& w) { return w.expired(); });
    pools_.push_back(pool);
  }
  scraper_->Add(pool);
  return pool;
}

std::shared_ptr<Pool> SchedulerFactory::FindPool(const std::string& model) const {
  std::lock_guard lock(mu_);
  for (auto it = pools_.rbegin(); it != pools_.rend(); ++it)
    if (auto p = it->lock(); p && p->model() == model) return p;
  return nullptr;
}

std::vector<std::shared_ptr<Pool>> SchedulerFactory::LivePools() const {
  // The newest live pool per model (a reload may briefly leave the old one alive).
  std::map<std::string, std::shared_ptr<Pool>> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& w : pools_)
      if (auto p = w.lock()) live[p->model()] = p;
  }
  std::vector<std::shared_ptr<Pool>> out;
  for (auto& [name, pool] : live) out.push_back(std::move(pool));
  return out;
}

void SchedulerFactory::AppendPrometheus(std::string* out) const {
  auto live = LivePools();
  if (live.empty()) return;
  for (int f = 0; f < kNumFamilies; ++f) {
    AppendFamily(out, kFamilies[f].name, kFamilies[f].type, kFamilies[f].help);
    for (const auto& pool : live) pool->AppendSamples(out, f);
  }
}

}  // namespace ap::scheduler
