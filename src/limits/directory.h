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

namespace ap::limits {

struct Snapshot {
  std::unordered_map<std::string, VirtualKey> keys;  // by hash
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
