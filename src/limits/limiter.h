// limits/limiter.h — the gateway's Admitter: virtual keys and the admin key authenticated from
// the in-memory directory, allowlists, and admission against every limit of the key, its user
// and its team in one atomic counter step; settlement with the real usage and cost afterwards.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/admission.h"
#include "limits/counters.h"
#include "limits/directory.h"

namespace ap::limits {

struct LimiterOptions {
  std::string admin_key;  // kept only as its hash
  int64_t reserve_completion_tokens = 256;
  // USD for `prompt` + `completion` tokens of `model` (telemetry's price table); nullopt: unpriced.
  std::function<std::optional<double>(const std::string& model, int64_t prompt, int64_t completion)> price;
  std::function<int64_t()> now_s;  // wall clock in unix seconds (tests); null: the system clock
};

// A resolved key, as the admin API and telemetry's tenancy see it.
struct KeyView {
  std::shared_ptr<const Snapshot> snapshot;  // keeps `entry` alive
  const KeyEntry* entry = nullptr;
  const VirtualKey& key() const { return entry->key; }
};

struct Identity {
  bool admin = false;
  std::optional<KeyView> key;  // set for a valid virtual key
  std::string project() const { return key ? key->entry->project : std::string(); }  // "team:ml"
};

class Limiter : public gateway::Admitter {
 public:
  Limiter(std::shared_ptr<Directory> directory, std::shared_ptr<Counters> counters,
          std::shared_ptr<LocalCounters> local, LimiterOptions options);

  std::optional<api::ApiError> Authenticate(std::string_view token, bool loopback,
                                            gateway::Caller* caller) const override;
  bool AllowsModel(const gateway::Caller& caller, std::string_view model) const override;
  boost::asio::awaitable<gateway::Admission> Admit(const gateway::Caller& caller,
                                                   gateway::AdmissionRequest request) override;
  void Settle(const gateway::Admission& admission, const gateway::CompletionRecord& record,
              std::optional<double> cost_usd) override;

  // The admin key, a valid (unrevoked, unexpired) virtual key, or nullopt.
  std::optional<Identity> Identify(std::string_view token) const;

  // Spend in the current window and the window's end, for the admin API.
  struct SpendView {
    double spent_usd = 0;
    int64_t window_start = 0, window_end = 0;
  };
  SpendView SpendOf(const std::string& scope, const Limits& limits, int64_t created_at);
  // "team:<name>", "user:<name>", "key:<id>".
  static std::string Scope(std::string_view kind, std::string_view name);

  void AppendPrometheus(std::string* out) const;
  Directory& directory() { return *directory_; }
  Counters& counters() { return *counters_; }
  int64_t NowS() const;

 private:
  // The valid entry for a key's hash in `snapshot`, or why not (`why`), or null when unknown.
  const KeyEntry* Find(const Snapshot& snapshot, const std::string& hash, std::optional<api::ApiError>* why) const;

  std::shared_ptr<Directory> directory_;
  std::shared_ptr<Counters> counters_;
  std::shared_ptr<LocalCounters> local_;
  LimiterOptions options_;
  std::string admin_hash_;
  std::atomic<uint64_t> admitted_{0}, refused_[4]{}, unavailable_{0};
};

// Budget windows: the window of `period` holding `now`, counted from `created_at`.
std::pair<int64_t, int64_t> BudgetWindow(int64_t created_at, std::chrono::seconds period, int64_t now);
// OpenAI's reset format: "1s", "6m0s", "1h2m3s", "250ms".
std::string FormatReset(double seconds);

}  // namespace ap::limits
