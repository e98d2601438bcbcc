// limits/limiter.cc — see limiter.h.
#include "limits/limiter.h"

#include <array>
#include <cmath>

#include "base/strings.h"

namespace ap::limits {
namespace {

using gateway::Admission;
using gateway::Caller;

// What a ticket remembers between admission and settlement. `checks` view the entry's counter
// names (kept alive by `hold`) and `spend_keys`.
struct Ticket {
  std::shared_ptr<const void> hold;  // the snapshot the entry lives in
  const KeyEntry* entry = nullptr;
  boost::container::small_vector<Check, 8> checks;  // parallel to entry->counters
  std::vector<std::string> spend_keys;  // budget counters: prefix + window start
  bool degraded = false;
};

const char* KindIndexName(CounterKind k) {
  switch (k) {
    case CounterKind::kRequests: return "requests";
    case CounterKind::kTokens: return "tokens";
    case CounterKind::kParallel: return "parallel";
    case CounterKind::kSpend: return "budget";
  }
  return "";
}

int KindIndex(CounterKind k) {
  switch (k) {
    case CounterKind::kRequests: return 0;
    case CounterKind::kTokens: return 1;
    case CounterKind::kParallel: return 2;
    case CounterKind::kSpend: return 3;
  }
  return 0;
}

// SHA-256 of a presented key, remembered for the last few keys this thread saw: a client sends
// the same key on every request of a connection, and the digest was ~4k instructions, a fifth
// of what limits add to a request. The keys stay in this thread's memory as long as the request
// buffers that carried them would; they are never written anywhere.
const std::string& HashOfPresented(std::string_view token) {
  struct Entry {
    std::string token, hash;
  };
  thread_local std::array<Entry, 8> cache;
  Entry& e = cache[std::hash<std::string_view>()(token) % cache.size()];
  if (e.token.size() != token.size() || !ConstantTimeEquals(e.token, token) || e.hash.empty()) {
    e.token.assign(token);
    e.hash = HashKey(token);
  }
  return e.hash;
}

std::string Money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.2f", usd);
  return buf;
}

}  // namespace

std::pair<int64_t, int64_t> BudgetWindow(int64_t created_at, std::chrono::seconds period, int64_t now) {
  int64_t p = std::max<int64_t>(1, period.count());
  int64_t start = created_at + ((now - created_at) / p) * p;
  if (now < created_at) start = created_at;
  return {start, start + p};
}

std::string FormatReset(double seconds) {
  if (seconds <= 0) return "0s";
  if (seconds < 1) return std::to_string(static_cast<int>(std::ceil(seconds * 1000))) + "ms";
  int64_t s = static_cast<int64_t>(std::ceil(seconds));
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s >= 60) out += std::to_string((s % 3600) / 60) + "m";
  out += std::to_string(s % 60) + "s";
  return out;
}

std::string Limiter::Scope(std::string_view kind, std::string_view name) {
  return std::string(kind) + ":" + std::string(name);
}

Limiter::Limiter(std::shared_ptr<Directory> directory, std::shared_ptr<Counters> counters,
                 std::shared_ptr<LocalCounters> local, LimiterOptions options)
    : directory_(std::move(directory)),
      counters_(std::move(counters)),
      local_(std::move(local)),
      options_(std::move(options)),
      admin_hash_(options_.admin_key.empty() ? std::string() : HashKey(options_.admin_key)) {
  options_.admin_key.clear();
}

int64_t Limiter::NowS() const {
  if (options_.now_s) return options_.now_s();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const KeyEntry* Limiter::Find(const Snapshot& snapshot, const std::string& hash, std::optional<api::ApiError>* why) const {
  auto it = snapshot.keys.find(hash);
  if (it == snapshot.keys.end()) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "invalid API key", "", "invalid_api_key"};
    return nullptr;
  }
  const KeyEntry& e = it->second;
  if (e.key.revoked) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "this API key (" + e.key.id + ") was revoked", "", "key_revoked"};
    return nullptr;
  }
  if (!e.key.team.empty() && !e.team) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "this API key's team '" + e.key.team + "' no longer exists", "",
                         "key_revoked"};
    return nullptr;
  }
  if (e.expires_at > 0 && NowS() >= e.expires_at) {
    *why = api::ApiError{api::ErrorKind::kAuthentication,
                         "this API key (" + e.key.id + ") expired at " + std::to_string(e.expires_at) + " (unix time)", "",
                         "key_expired"};
    return nullptr;
  }
  return &e;
}

std::optional<Identity> Limiter::Identify(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const std::string& hash = HashOfPresented(token);
  if (!admin_hash_.empty() && ConstantTimeEquals(hash, admin_hash_)) return Identity{true, std::nullopt};
  auto snapshot = directory_->snapshot();
  std::optional<api::ApiError> why;
  const KeyEntry* e = Find(*snapshot, hash, &why);
  if (!e) return std::nullopt;
  return Identity{false, KeyView{std::move(snapshot), e}};
}

std::optional<api::ApiError> Limiter::Authenticate(std::string_view token, bool loopback, Caller* caller) const {
  if (token.empty()) {
    if (loopback) return std::nullopt;  // local mode: loopback clients need no key
    return api::ApiError{api::ErrorKind::kAuthentication,
                         "missing API key (send Authorization: Bearer <key> or x-api-key)", "", "invalid_api_key"};
  }
  const std::string& hash = HashOfPresented(token);
  if (!admin_hash_.empty() && ConstantTimeEquals(hash, admin_hash_)) {
    caller->key_id = "admin";
    return std::nullopt;
  }
  auto snapshot = directory_->snapshot();
  std::optional<api::ApiError> why;
  const KeyEntry* e = Find(*snapshot, hash, &why);
  if (!e) {
    // Local mode: loopback clients need no key, and SDKs that insist on sending one may send any
    // placeholder; a key this gateway issued is still held to its state (revoked, expired).
    if (loopback && !snapshot->keys.count(hash)) return std::nullopt;
    return why;
  }
  caller->key_id = e->key.id;
  caller->team = e->key.team;
  caller->user = e->key.user;
  caller->project = e->project;
  caller->state = std::shared_ptr<const void>(std::move(snapshot), e);  // aliasing: no allocation
  return std::nullopt;
}

bool Limiter::AllowsModel(const Caller& caller, std::string_view model) const {
  auto* e = static_cast<const KeyEntry*>(caller.state.get());
  if (!e) return true;
  for (const auto& b : e->bounds)
    if (!b.limits->AllowsModel(model)) return false;
  return true;
}

boost::asio::awaitable<Admission> Limiter::Admit(const Caller& caller, gateway::AdmissionRequest request) {
  Admission admission;
  auto* e = static_cast<const KeyEntry*>(caller.state.get());
  if (!e || e->counters.empty()) {
    admitted_++;
    co_return admission;
  }
  const int64_t completion = request.max_tokens >= 0 ? request.max_tokens : options_.reserve_completion_tokens;
  // The prompt estimate can fall short of the backend's tokenizer by up to ~20 % (measured in
  // docs/limits.md), so reservations take a quarter more: they are reconciled anyway, and an
  // upper bound is what keeps concurrent requests from overrunning a budget.
  const int64_t prompt = request.prompt_tokens + (request.prompt_tokens + 3) / 4;
  const int64_t reserve_tokens = prompt + completion;
  const int64_t now = NowS();

  auto ticket = std::make_shared<Ticket>();
  ticket->hold = caller.state;
  ticket->entry = e;
  ticket->checks.reserve(e->counters.size());
  size_t budgets = 0;
  for (const auto& plan : e->counters) budgets += plan.kind == CounterKind::kSpend;
  ticket->spend_keys.reserve(budgets);  // checks view these strings: no reallocation after
  std::optional<double> reserve_usd;
  if (budgets && options_.price) {
    if (!request.backend_model.empty()) reserve_usd = options_.price(request.backend_model, prompt, completion);
    if (!reserve_usd) reserve_usd = options_.price(request.model, prompt, completion);
  }
  for (const auto& plan : e->counters) {
    switch (plan.kind) {
      case CounterKind::kRequests: ticket->checks.push_back({plan.kind, plan.key, plan.limit, 1, 0}); break;
      case CounterKind::kTokens:
        ticket->checks.push_back({plan.kind, plan.key, plan.limit, std::min<double>(double(reserve_tokens), plan.limit), 0});
        break;
      case CounterKind::kParallel: ticket->checks.push_back({plan.kind, plan.key, plan.limit, 1, 0}); break;
      case CounterKind::kSpend: {
        const Bound& b = e->bounds[plan.bound];
        auto [start, end] = BudgetWindow(b.created_at, b.limits->budget_period, now);
        ticket->spend_keys.push_back(plan.key + std::to_string(start));
        ticket->checks.push_back({plan.kind, ticket->spend_keys.back(), plan.limit, reserve_usd.value_or(0), end - now + 86400});
        break;
      }
    }
  }
  Decision d = co_await counters_->Admit(ticket->checks);
  ticket->degraded = d.degraded;

  // OpenAI's headers, from the tightest requests and tokens buckets.
  const Check* tight[2] = {nullptr, nullptr};
  double tight_level[2] = {0, 0};
  for (size_t i = 0; i < ticket->checks.size() && i < d.levels.size(); ++i) {
    const Check& c = ticket->checks[i];
    int k = c.kind == CounterKind::kRequests ? 0 : c.kind == CounterKind::kTokens ? 1 : -1;
    if (k < 0) continue;
    if (!tight[k] || d.levels[i] / c.limit < tight_level[k] / tight[k]->limit) {
      tight[k] = &c;
      tight_level[k] = d.levels[i];
    }
  }
  static constexpr std::string_view kHeaders[2][3] = {
      {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"},
      {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"}};
  for (int k = 0; k < 2; ++k) {
    if (!tight[k]) continue;
    double left = std::max(0.0, tight_level[k]);
    admission.headers.Add(kHeaders[k][0], int64_t(tight[k]->limit));
    admission.headers.Add(kHeaders[k][1], int64_t(left));
    admission.headers.Add(kHeaders[k][2], FormatReset((tight[k]->limit - tight_level[k]) / tight[k]->limit * 60.0));
  }

  if (d.outcome == Decision::Outcome::kUnavailable) {
    unavailable_++;
    admission.error = api::ApiError{api::ErrorKind::kUnavailable, d.error, "", "limiter_unavailable"};
    co_return admission;
  }
  if (d.outcome == Decision::Outcome::kRefused && d.refused >= 0 && size_t(d.refused) < ticket->checks.size()) {
    const Check& c = ticket->checks[d.refused];
    const Bound& b = e->bounds[e->counters[d.refused].bound];
    double level = d.levels[d.refused];
    refused_[KindIndex(c.kind)]++;
    std::string message;
    double retry_s = 1;
    std::string code = "rate_limit_exceeded";
    switch (c.kind) {
      case CounterKind::kRequests:
      case CounterKind::kTokens: {
        retry_s = std::max(0.001, (c.amount - level) / c.limit * 60.0);
        message = std::string("Rate limit reached for ") + KindIndexName(c.kind) + " per minute on " + b.label +
                  ": limit " + std::to_string(int64_t(c.limit)) + ", remaining " + std::to_string(int64_t(std::max(0.0, level))) +
                  (c.kind == CounterKind::kTokens ? ", requested " + std::to_string(int64_t(c.amount)) : std::string()) +
                  ". Try again in " + FormatReset(retry_s) + ".";
        code = c.kind == CounterKind::kRequests ? "rate_limit_exceeded" : "tokens_rate_limit_exceeded";
        break;
      }
      case CounterKind::kParallel:
        message = "Too many requests in flight on " + b.label + ": limit " + std::to_string(int64_t(c.limit)) +
                  ". Try again when one finishes.";
        code = "parallel_limit_exceeded";
        break;
      case CounterKind::kSpend: {
        auto [start, end] = BudgetWindow(b.created_at, b.limits->budget_period, now);
        retry_s = double(end - now);
        message = "Budget exceeded on " + b.label + ": " + Money(c.limit - level) + " spent of " + Money(c.limit) +
                  " per " + FormatPeriod(b.limits->budget_period) + "; it resets in " + FormatReset(retry_s) + ".";
        code = "budget_exceeded";
        break;
      }
    }
    admission.headers.Add("retry-after", int64_t(std::ceil(retry_s)));
    admission.error = api::ApiError{api::ErrorKind::kRateLimited, std::move(message), "", code};
    co_return admission;
  }
  admitted_++;
  admission.ticket = ticket;
  co_return admission;
}

void Limiter::Settle(const Admission& admission, const gateway::CompletionRecord& record, std::optional<double> cost_usd) {
  auto* ticket = static_cast<Ticket*>(admission.ticket.get());
  if (!ticket) return;
  const double used_tokens = record.usage.known ? double(record.usage.total_tokens) : 0.0;
  std::vector<Settlement> out;
  out.reserve(ticket->checks.size());
  for (size_t i = 0; i < ticket->checks.size(); ++i) {
    const Check& c = ticket->checks[i];
    switch (c.kind) {
      case CounterKind::kRequests: break;
      case CounterKind::kTokens:
        if (used_tokens != c.amount) out.push_back({c.kind, c.key, c.limit, used_tokens - c.amount, -1, ""});
        break;
      case CounterKind::kParallel: out.push_back({c.kind, c.key, c.limit, 0, -1, ""}); break;
      case CounterKind::kSpend:
        out.push_back({c.kind, c.key, c.limit, cost_usd.value_or(0) - c.amount,
                       ticket->entry->counters[i].soft_limit,
                       ticket->entry->bounds[ticket->entry->counters[i].bound].label, cost_usd.value_or(0), c.ttl_s});
        break;
    }
  }
  if (out.empty()) return;
  if (ticket->degraded) local_->Settle(std::move(out), admission.ticket);
  else counters_->Settle(std::move(out), admission.ticket);
}

Limiter::SpendView Limiter::SpendOf(const std::string& scope, const Limits& limits, int64_t created_at) {
  SpendView v;
  auto [start, end] = BudgetWindow(created_at, limits.budget_period, NowS());
  v.window_start = start;
  v.window_end = end;
  v.spent_usd = counters_->Read(CounterKind::kSpend, "ap:" + scope + ":s@" + std::to_string(start), 0);
  return v;
}

void Limiter::AppendPrometheus(std::string* out) const {
  auto& h = Health();
  *out += "# HELP agentplane_limits_admissions_total Requests checked against rate limits and budgets, by result.\n"
          "# TYPE agentplane_limits_admissions_total counter\n";
  *out += "agentplane_limits_admissions_total{result=\"admitted\"} " + std::to_string(admitted_.load()) + "\n";
  for (auto k : {CounterKind::kRequests, CounterKind::kTokens, CounterKind::kParallel, CounterKind::kSpend})
    *out += std::string("agentplane_limits_admissions_total{result=\"refused\",limit=\"") + KindIndexName(k) + "\"} " +
            std::to_string(refused_[KindIndex(k)].load()) + "\n";
  *out += "agentplane_limits_admissions_total{result=\"unavailable\"} " + std::to_string(unavailable_.load()) + "\n";
  *out += "# HELP agentplane_limits_redis_up Whether the last limit check reached Redis (1) or not (0).\n"
          "# TYPE agentplane_limits_redis_up gauge\n"
          "agentplane_limits_redis_up " + std::to_string(h.redis_up.load()) + "\n";
  *out += "# HELP agentplane_limits_fallback_admissions_total Limit checks answered by local counters because Redis was unreachable.\n"
          "# TYPE agentplane_limits_fallback_admissions_total counter\n"
          "agentplane_limits_fallback_admissions_total " + std::to_string(h.fallback_admissions.load()) + "\n";
  *out += "# HELP agentplane_limits_budget_alerts_total Soft budgets crossed.\n"
          "# TYPE agentplane_limits_budget_alerts_total counter\n"
          "agentplane_limits_budget_alerts_total " + std::to_string(h.budget_alerts.load()) + "\n";
}

}  // namespace ap::limits
