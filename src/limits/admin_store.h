// limits/admin_store.h — where teams, users and keys live, and the durable part of spend.
//
// Two implementations: SQLite (keys.db in the data directory; one process, `agentplane up`) and
// Redis (shared by every gateway replica). Both bump a version on every change; gateways poll the
// version and reload their in-memory directory when it moves, so a revoked key stops working on
// every replica within one poll interval. Calls block: callers run them off the event loops.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "limits/model.h"

namespace ap::limits {

struct AdminState {
  std::vector<Principal> principals;
  std::vector<VirtualKey> keys;
  int64_t version = 0;
};

class AdminStore {
 public:
  virtual ~AdminStore() = default;
  virtual Result<int64_t> Version() = 0;
  virtual Result<AdminState> Load() = 0;
  // Insert or replace (by kind+name / by hash); bump the version.
  virtual Result<void> PutPrincipal(const Principal& principal) = 0;
  virtual Result<bool> DeletePrincipal(PrincipalKind kind, const std::string& name) = 0;
  virtual Result<void> PutKey(const VirtualKey& key) = 0;
  // Durable spend per "<scope>@<window>" (local mode; Redis keeps its own counters).
  virtual Result<void> AddSpend(const std::map<std::string, double>& deltas) = 0;
  virtual Result<std::map<std::string, double>> LoadSpend() = 0;
};

Result<std::unique_ptr<AdminStore>> OpenSqliteAdminStore(const std::string& path);
// `url`: redis://host:port[/db]. Connects lazily and reconnects after errors.
Result<std::unique_ptr<AdminStore>> OpenRedisAdminStore(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace ap::limits
