// limits/limiter.cc — see limiter.h.
#include "limits/limiter.h"

#include <cmath>

#include "base/random.h"
#include "base/strings.h"

namespace ap::limits {
namespace {

using gateway::Admission;
using gateway::Caller;

// What a ticket remembers between admission and settlement.
struct Ticket {
  std::vector<Check> checks;
  std::vector<std::pair<double, std::string>> soft;  // per check: soft limit (<0 none), scope
  std::string lease;
  bool degraded = false;
};

// One level of limits a request is bound by: the key, its user, its team.
struct Bound {
  std::string scope;  // "team:ml"
  std::string label;  // "team 'ml'"
  const Limits* limits;
  int64_t created_at;
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

std::string Money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.2f", usd);
  return buf;
}

}  // namespace

std::string Identity::project() const {
  if (!key) return "";
  return key->key->team.empty() ? key->key->id : key->key->team;
}

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

std::optional<KeyView> Limiter::FindKey(std::string_view token, std::optional<api::ApiError>* why) const {
  auto snapshot = directory_->snapshot();
  auto it = snapshot->keys.find(HashKey(token));
  if (it == snapshot->keys.end()) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "invalid API key", "", "invalid_api_key"};
    return std::nullopt;
  }
  const VirtualKey& key = it->second;
  if (key.revoked) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "this API key (" + key.id + ") was revoked", "", "key_revoked"};
    return std::nullopt;
  }
  KeyView view{snapshot, &key, key.team.empty() ? nullptr : snapshot->Team(key.team),
               key.user.empty() ? nullptr : snapshot->User(key.user)};
  if (!key.team.empty() && !view.team) {
    *why = api::ApiError{api::ErrorKind::kAuthentication, "this API key's team '" + key.team + "' no longer exists", "",
                         "invalid_api_key"};
    return std::nullopt;
  }
  const int64_t now = NowS();
  for (const auto* limits : {&key.limits, view.team ? &view.team->limits : nullptr, view.user ? &view.user->limits : nullptr}) {
    if (limits && limits->expires_at > 0 && now >= limits->expires_at) {
      *why = api::ApiError{api::ErrorKind::kAuthentication,
                           "this API key (" + key.id + ") expired at " + std::to_string(limits->expires_at) + " (unix time)",
                           "", "key_expired"};
      return std::nullopt;
    }
  }
  return view;
}

std::optional<Identity> Limiter::Identify(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  if (!admin_hash_.empty() && ConstantTimeEquals(HashKey(token), admin_hash_)) return Identity{true, std::nullopt};
  std::optional<api::ApiError> why;
  auto view = FindKey(token, &why);
  if (!view) return std::nullopt;
  return Identity{false, std::move(view)};
}

std::optional<api::ApiError> Limiter::Authenticate(std::string_view token, bool loopback, Caller* caller) const {
  if (token.empty()) {
    if (loopback) return std::nullopt;  // local mode: loopback clients need no key
    return api::ApiError{api::ErrorKind::kAuthentication,
                         "missing API key (send Authorization: Bearer <key> or x-api-key)", "", "invalid_api_key"};
  }
  if (!admin_hash_.empty() && ConstantTimeEquals(HashKey(token), admin_hash_)) {
    caller->key_id = "admin";
    return std::nullopt;
  }
  std::optional<api::ApiError> why;
  auto view = FindKey(token, &why);
  if (!view) {
    // Local mode: loopback clients need no key, and SDKs that insist on sending one may send any
    // placeholder; a key this gateway issued is still held to its state (revoked, expired).
    if (loopback && why && why->code == "invalid_api_key" && !directory_->snapshot()->keys.count(HashKey(token)))
      return std::nullopt;
    return why;
  }
  caller->key_id = view->key->id;
  caller->team = view->key->team;
  caller->user = view->key->user;
  caller->project = Identity{false, view}.project();
  caller->state = std::make_shared<const KeyView>(std::move(*view));
  return std::nullopt;
}

bool Limiter::AllowsModel(const Caller& caller, std::string_view model) const {
  auto* view = static_cast<const KeyView*>(caller.state.get());
  if (!view) return true;
  if (!view->key->limits.AllowsModel(model)) return false;
  if (view->user && !view->user->limits.AllowsModel(model)) return false;
  if (view->team && !view->team->limits.AllowsModel(model)) return false;
  return true;
}

boost::asio::awaitable<Admission> Limiter::Admit(const Caller& caller, gateway::AdmissionRequest request) {
  Admission admission;
  auto* view = static_cast<const KeyView*>(caller.state.get());
  if (!view) {
    admitted_++;
    co_return admission;
  }
  std::vector<Bound> bounds;
  bounds.push_back({Scope("key", view->key->id), "key " + view->key->id, &view->key->limits, view->key->created_at});
  if (view->user) bounds.push_back({Scope("user", view->user->name), "user '" + view->user->name + "'", &view->user->limits, view->user->created_at});
  if (view->team) bounds.push_back({Scope("team", view->team->name), "team '" + view->team->name + "'", &view->team->limits, view->team->created_at});

  const int64_t completion = request.max_tokens >= 0 ? request.max_tokens : options_.reserve_completion_tokens;
  // The prompt estimate can fall short of the backend's tokenizer by up to ~20 % (measured in
  // docs/limits.md), so reservations take a quarter more: they are reconciled anyway, and an
  // upper bound is what keeps concurrent requests from overrunning a budget.
  const int64_t prompt = request.prompt_tokens + (request.prompt_tokens + 3) / 4;
  const int64_t reserve_tokens = prompt + completion;
  std::optional<double> reserve_usd;
  const int64_t now = NowS();

  auto ticket = std::make_shared<Ticket>();
  std::vector<const Bound*> owner;  // per check
  for (const auto& b : bounds) {
    const Limits& l = *b.limits;
    if (l.rpm) ticket->checks.push_back({CounterKind::kRequests, "ap:" + b.scope + ":r", double(*l.rpm), 1, 0});
    if (l.tpm)
      ticket->checks.push_back({CounterKind::kTokens, "ap:" + b.scope + ":t", double(*l.tpm),
                                double(std::min<int64_t>(reserve_tokens, *l.tpm)), 0});
    if (l.max_parallel) ticket->checks.push_back({CounterKind::kParallel, "ap:" + b.scope + ":p", double(*l.max_parallel), 1, 0});
    if (l.budget_usd) {
      if (!reserve_usd && options_.price) {
        if (!request.backend_model.empty()) reserve_usd = options_.price(request.backend_model, prompt, completion);
        if (!reserve_usd) reserve_usd = options_.price(request.model, prompt, completion);
      }
      auto [start, end] = BudgetWindow(b.created_at, l.budget_period, now);
      ticket->checks.push_back({CounterKind::kSpend, "ap:" + b.scope + ":s@" + std::to_string(start), *l.budget_usd,
                                reserve_usd.value_or(0), end - now + 86400});
    }
    while (owner.size() < ticket->checks.size()) {
      owner.push_back(&b);
      bool spend = ticket->checks[owner.size() - 1].kind == CounterKind::kSpend;
      ticket->soft.emplace_back(spend && l.soft_budget_usd ? *l.soft_budget_usd : -1.0, b.label);
    }
  }
  if (ticket->checks.empty()) {
    admitted_++;
    co_return admission;
  }
  ticket->lease = RandomHexId(8);
  Decision d = co_await counters_->Admit(ticket->checks, ticket->lease);
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
  static constexpr const char* kNames[2] = {"requests", "tokens"};
  for (int k = 0; k < 2; ++k) {
    if (!tight[k]) continue;
    double left = std::max(0.0, tight_level[k]);
    admission.headers.emplace_back(std::string("x-ratelimit-limit-") + kNames[k], std::to_string(int64_t(tight[k]->limit)));
    admission.headers.emplace_back(std::string("x-ratelimit-remaining-") + kNames[k], std::to_string(int64_t(left)));
    admission.headers.emplace_back(std::string("x-ratelimit-reset-") + kNames[k],
                                   FormatReset((tight[k]->limit - tight_level[k]) / tight[k]->limit * 60.0));
  }

  if (d.outcome == Decision::Outcome::kUnavailable) {
    unavailable_++;
    admission.error = api::ApiError{api::ErrorKind::kUnavailable, d.error, "", "limiter_unavailable"};
    co_return admission;
  }
  if (d.outcome == Decision::Outcome::kRefused && d.refused >= 0 && size_t(d.refused) < ticket->checks.size()) {
    const Check& c = ticket->checks[d.refused];
    const Bound& b = *owner[d.refused];
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
    admission.headers.emplace_back("retry-after", std::to_string(int64_t(std::ceil(retry_s))));
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
  for (size_t i = 0; i < ticket->checks.size(); ++i) {
    const Check& c = ticket->checks[i];
    switch (c.kind) {
      case CounterKind::kRequests: break;
      case CounterKind::kTokens:
        if (used_tokens != c.amount) out.push_back({c.kind, c.key, c.limit, used_tokens - c.amount, "", -1, ""});
        break;
      case CounterKind::kParallel: out.push_back({c.kind, c.key, c.limit, 0, ticket->lease, -1, ""}); break;
      case CounterKind::kSpend:
        out.push_back({c.kind, c.key, c.limit, cost_usd.value_or(0) - c.amount, "", ticket->soft[i].first,
                       ticket->soft[i].second, cost_usd.value_or(0)});
        break;
    }
  }
  if (out.empty()) return;
  if (ticket->degraded) local_->Settle(std::move(out));
  else counters_->Settle(std::move(out));
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
