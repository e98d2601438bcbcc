// limits/directory.cc — see directory.h.
#include "limits/directory.h"

#include "base/log.h"
#include "base/thread.h"

namespace ap::limits {

const Principal* Snapshot::Team(const std::string& name) const {
  auto it = teams.find(name);
  return it == teams.end() ? nullptr : &it->second;
}

const Principal* Snapshot::User(const std::string& name) const {
  auto it = users.find(name);
  return it == users.end() ? nullptr : &it->second;
}

Directory::Directory(std::shared_ptr<AdminStore> store, std::chrono::milliseconds poll_interval)
    : store_(std::move(store)), poll_interval_(poll_interval), snapshot_(std::make_shared<const Snapshot>()) {}

Directory::~Directory() { Stop(); }

Result<void> Directory::Start() {
  if (auto r = Refresh(); !r) return r;
  thread_ = std::thread([this] {
    base::NameThisThread("ap-lim-keys");
    Poll();
  });
  return {};
}

void Directory::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<void> Directory::Refresh() {
  std::lock_guard lock(refresh_mu_);
  auto version = store_->Version();
  if (!version) return version.error();
  if (*version == snapshot_.load()->version) return {};
  auto state = store_->Load();
  if (!state) return state.error();
  auto next = std::make_shared<Snapshot>();
  next->version = state->version;
  for (auto& p : state->principals) {
    auto& map = p.kind == PrincipalKind::kTeam ? next->teams : next->users;
    map.emplace(p.name, std::move(p));
  }
  for (auto& k : state->keys) {
    std::string hash = k.hash;
    KeyEntry& e = next->keys[hash];
    e.key = std::move(k);
    e.team = e.key.team.empty() ? nullptr : next->Team(e.key.team);
    e.user = e.key.user.empty() ? nullptr : next->User(e.key.user);
    // Tenants get a namespace of their own, so a team called "default" (or named like a
    // configured Langfuse project) cannot read that project's traces.
    e.project = e.key.team.empty() ? "key:" + e.key.id : "team:" + e.key.team;
    e.bounds.push_back({"key " + e.key.id, &e.key.limits, e.key.created_at});
    if (e.user) e.bounds.push_back({"user '" + e.user->name + "'", &e.user->limits, e.user->created_at});
    if (e.team) e.bounds.push_back({"team '" + e.team->name + "'", &e.team->limits, e.team->created_at});
    const std::string scopes[3] = {"key:" + e.key.id, e.user ? "user:" + e.user->name : "", e.team ? "team:" + e.team->name : ""};
    for (size_t b = 0; b < e.bounds.size(); ++b) {
      const Limits& l = *e.bounds[b].limits;
      const std::string& scope = b == 0 ? scopes[0] : (e.bounds[b].limits == (e.user ? &e.user->limits : nullptr) ? scopes[1] : scopes[2]);
      if (l.rpm) e.counters.push_back({CounterKind::kRequests, "ap:" + scope + ":r", double(*l.rpm), -1, b});
      if (l.tpm) e.counters.push_back({CounterKind::kTokens, "ap:" + scope + ":t", double(*l.tpm), -1, b});
      if (l.max_parallel) e.counters.push_back({CounterKind::kParallel, "ap:" + scope + ":p", double(*l.max_parallel), -1, b});
      if (l.budget_usd)
        e.counters.push_back({CounterKind::kSpend, "ap:" + scope + ":s@", *l.budget_usd, l.soft_budget_usd.value_or(-1), b});
      if (l.expires_at > 0 && (e.expires_at == 0 || l.expires_at < e.expires_at)) e.expires_at = l.expires_at;
    }
  }
  snapshot_.store(std::move(next));
  return {};
}

void Directory::Poll() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, poll_interval_, [this] { return stopping_; })) {
    lock.unlock();
    auto r = Refresh();
    if (!r && !logged_error_) {
      log::Warn("limits", "cannot refresh keys; using the last copy", {{"error", r.error()}});
      logged_error_ = true;
    } else if (r && logged_error_) {
      log::Info("limits", "keys refresh recovered");
      logged_error_ = false;
    }
    lock.lock();
  }
}

}  // namespace ap::limits
