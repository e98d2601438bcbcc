// limits/directory.h — the gateway's in-memory copy of teams, users and keys, looked up on every
// request without a lock or a round trip.
//
// A background thread polls the admin store's version (every 200 ms by default) and swaps in a
// fresh immutable snapshot when it moved; admin writes made through this process refresh it at
// once. A revoked key therefore stops working on every replica within one poll interval.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "limits/admin_store.h"
#include "limits/counters.h"

namespace ap::limits {

// One level of limits a key's requests are bound by: the key itself, its user, its team.
struct Bound {
  std::string label;  // "team 'ml'", as refusals name it
  const Limits* limits;
  int64_t created_at;  // budget windows count from here
};

// One counter a key's requests take from, with its Redis/local name computed once per snapshot.
struct CounterPlan {
  CounterKind kind;
  std::string key;  // "ap:team:ml:r"; spend: the prefix "ap:team:ml:s@" (the window start follows)
  double limit;
  double soft_limit = -1;  // spend: the soft budget
  size_t bound;            // index into KeyEntry::bounds
};

// A key as the request path needs it: resolved team and user, and every counter it takes from.
struct KeyEntry {
  VirtualKey key;
  const Principal* team = nullptr;
  const Principal* user = nullptr;
  std::vector<Bound> bounds;
  std::vector<CounterPlan> counters;
  int64_t expires_at = 0;  // the earliest expiry of key, user and team; 0: never
  std::string project;     // telemetry tenant: "team:<team>", else "key:<key id>"
};

struct Snapshot {
  std::unordered_map<std::string, KeyEntry> keys;  // by hash
  std::unordered_map<std::string, Principal> teams, users;
  int64_t version = -1;

  const Principal* Team(const std::string& name) const;
  const Principal* User(const std::string& name) const;
};

class Directory {
 public:
  Directory(std::shared_ptr<AdminStore> store, std::chrono::milliseconds poll_interval);
  ~Directory();

  // Loads the first snapshot (an error fails start-up) and starts polling.
  Result<void> Start();
  void Stop();
  // Reloads now if the store's version moved (after this process wrote to it).
  Result<void> Refresh();

  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }
  AdminStore& store() { return *store_; }

 private:
  void Poll();

  std::shared_ptr<AdminStore> store_;
  std::chrono::milliseconds poll_interval_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::mutex refresh_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool logged_error_ = false;
  std::thread thread_;
};

}  // namespace ap::limits
