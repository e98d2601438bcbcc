// limits/directory.cc — see directory.h.
#include "limits/directory.h"

#include "base/log.h"

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
  thread_ = std::thread([this] { Poll(); });
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
  for (auto& k : state->keys) next->keys.emplace(k.hash, std::move(k));
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
