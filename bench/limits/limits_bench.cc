// bench/limits/limits_bench.cc — what limits cost (issue 6's targets, docs/benchmarks.md):
//
//   check-local   one admission of a key in a team, both with rpm, tpm, max_parallel and a
//                 budget (8 counters), against in-process counters: p50/p99/p99.9 of the Admit
//                 call as the gateway awaits it (coroutine included), settle included separately
//   check-redis   the same against Debian's redis-server on loopback (started here): with
//                 slices (limits/slices.h; the default), and in the exact mode (slice fraction
//                 0: every check is one EVALSHA on the event loop's pipelined connection); the
//                 Redis script calls per check are counted from INFO commandstats
//   gateway       requests/s of an in-process gateway (1 event loop) in front of a mock upstream
//                 with limits off, on (local counters) and on (Redis), median of --rounds
//
// Run: bench/limits/run.sh (builds, then runs this with the flags given).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "gateway/gateway.h"
#include "gateway_harness.h"
#include "limits/internal/redis.h"
#include "limits/limiter.h"
#include "limits/testing/redis_server.h"
#include "mock_upstream.h"

namespace ap::limits {
namespace {
using Clock = std::chrono::steady_clock;

struct Fixture {
  std::filesystem::path dir;
  std::shared_ptr<AdminStore> store;
  std::shared_ptr<Directory> directory;
  std::shared_ptr<LocalCounters> local;
  std::shared_ptr<Counters> counters;
  std::shared_ptr<Limiter> limiter;
  std::string key;

  Fixture(const std::string& redis_url, const std::filesystem::path& d, double slice_fraction = 1.0 / 256) : dir(d) {
    std::filesystem::create_directories(dir);
    store = std::shared_ptr<AdminStore>(std::move(*OpenSqliteAdminStore((dir / "keys.db").string())));
    directory = std::make_shared<Directory>(store, std::chrono::milliseconds(200));
    Limits l;
    l.rpm = 1'000'000'000;
    l.tpm = 1'000'000'000'000;
    l.max_parallel = 100000;
    l.budget_usd = 1e9;
    Principal team{PrincipalKind::kTeam, "bench", "", l, 0};
    (void)store->PutPrincipal(team);
    key = GenerateKey();
    VirtualKey k{KeyIdFromHash(HashKey(key)), HashKey(key), "bench", "bench", "", l, 0, false};
    (void)store->PutKey(k);
    (void)directory->Start();
    local = std::make_shared<LocalCounters>(nullptr, nullptr);
    counters = local;
    if (!redis_url.empty()) {
      RedisCountersOptions o{redis_url, std::chrono::milliseconds(1000), std::chrono::milliseconds(20), true};
      o.slice_fraction = slice_fraction;
      counters = std::shared_ptr<Counters>(std::move(*OpenRedisCounters(o, local, nullptr)));
    }
    LimiterOptions o;
    o.price = [](const std::string&, int64_t in, int64_t out) -> std::optional<double> { return (in + out) * 1e-6; };
    limiter = std::make_shared<Limiter>(directory, counters, local, o);
  }
  ~Fixture() {
    directory->Stop();
    std::filesystem::remove_all(dir);
  }
};

double Percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Script calls Redis has served so far (0 without Redis).
int64_t ScriptCalls(const std::string& redis_url) {
  if (redis_url.empty()) return 0;
  internal::RedisSync sync(*internal::ParseRedisUrl(redis_url), std::chrono::milliseconds(1000));
  auto r = sync.Command({"INFO", "commandstats"});
  int64_t calls = 0;
  for (const char* cmd : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="})
    if (auto at = r ? r->str.find(cmd) : std::string::npos; at != std::string::npos)
      calls += std::strtoll(r->str.c_str() + at + std::strlen(cmd), nullptr, 10);
  return calls;
}

// Latency of Admit (and of Settle) over `n` sequential checks on one event loop.
void CheckCost(const char* name, Fixture& f, int n, const char* target, const std::string& redis_url = "") {
  const int64_t calls_before = ScriptCalls(redis_url);
  boost::asio::io_context io;
  std::vector<double> admit_us, settle_us;
  admit_us.reserve(n);
  gateway::Caller caller;
  (void)f.limiter->Authenticate(f.key, false, &caller);
  auto run = [&]() -> boost::asio::awaitable<void> {
    gateway::CompletionRecord rec;
    rec.usage = {120, 30, 150, 0, true};
    for (int i = 0; i < n; ++i) {
      gateway::AdmissionRequest req{"m", "", 100, 50};
      auto t0 = Clock::now();
      auto a = co_await f.limiter->Admit(caller, std::move(req));
      auto t1 = Clock::now();
      f.limiter->Settle(a, rec, 0.00015);
      auto t2 = Clock::now();
      admit_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      settle_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
  };
  auto done = boost::asio::co_spawn(io, run(), boost::asio::use_future);
  // A Redis connection keeps a read pending on the loop: run until the work is done, not idle.
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) io.run_one();
  f.counters->Flush();
  const double calls = static_cast<double>(ScriptCalls(redis_url) - calls_before) / n;
  std::fflush(stdout);
  std::printf("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.4f | %s |\n", name, n, Percentile(admit_us, 0.5),
              Percentile(admit_us, 0.99), Percentile(admit_us, 0.999), Percentile(settle_us, 0.99), calls, target);
}

double GatewayRps(Fixture* f, int clients, double seconds) {
  ap::testing::MockUpstream up;
  setenv("AP_BENCH_UP", up.url().c_str(), 1);
  auto cfg = config::ParseConfig(R"(
backends: [{name: b1, url: "${AP_BENCH_UP}", model: gpt-4o-mini}]
models: [{name: m, backends: [b1]}]
)", "bench.yaml");
  gateway::GatewayOptions options;
  if (f) options.admitter = f->limiter;
  auto table = gateway::RouteTable::Build(*cfg, nullptr);
  auto gw = std::make_shared<gateway::Gateway>(*table, nullptr, options);
  http::ServerOptions so;
  so.threads = 1;
  http::Server server(so, gw);
  server.Start();
  const std::string body = R"({"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
  std::vector<std::pair<std::string, std::string>> headers;
  if (f) headers.emplace_back("authorization", "Bearer " + f->key);
  auto load = ap::testing::RunClosedLoop(server.port(), clients, seconds, "/v1/chat/completions", body, headers);
  server.Shutdown(std::chrono::milliseconds(500));
  if (load.other) std::fprintf(stderr, "warning: %lld non-200 answers\n", static_cast<long long>(load.other));
  return static_cast<double>(load.ok) / seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace
}  // namespace ap::limits

int main(int argc, char** argv) {
  using namespace ap::limits;
  CLI::App app{"agentplane limits benchmark: limit check cost (local, Redis) and gateway req/s with limits on/off"};
  int checks = 200000, redis_checks = 50000, clients = 16, rounds = 3;
  double seconds = 4;
  std::string phases = "check,gateway";
  app.add_option("--checks", checks, "local admissions timed");
  app.add_option("--redis-checks", redis_checks, "Redis admissions timed");
  app.add_option("--clients", clients, "keep-alive clients in the gateway phase");
  app.add_option("--seconds", seconds, "seconds per gateway measurement");
  app.add_option("--rounds", rounds, "gateway measurements per mode (median reported)");
  app.add_option("--phases", phases, "check,gateway");
  CLI11_PARSE(app, argc, argv);
  auto tmp = std::filesystem::temp_directory_path() / ("ap-limits-bench-" + std::to_string(getpid()));
  testing::RedisServer redis;
  if (!redis.ok()) {
    std::fprintf(stderr, "redis-server not found (run scripts/install-deps.sh)\n");
    return 1;
  }
  if (phases.find("check") != std::string::npos) {
    std::printf("| limit check (8 counters: key + team x rpm, tpm, parallel, budget) | checks | admit p50 µs | admit p99 µs | admit p99.9 µs | settle p99 µs | Redis calls per check | target |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    {
      Fixture f("", tmp / "local");
      CheckCost("local counters", f, checks, "p99 < 5 µs");
    }
    {
      Fixture f(redis.url(), tmp / "redis");
      CheckCost("Redis on loopback, slices of 1/256 of each limit", f, redis_checks, "p99 < 300 µs", redis.url());
    }
    {
      Fixture f(redis.url(), tmp / "redis-exact", 0);
      CheckCost("Redis on loopback, exact mode (every check asks Redis)", f, redis_checks, "p99 < 300 µs", redis.url());
    }
  }
  if (phases.find("gateway") != std::string::npos) {
    std::vector<double> off, local, remote;
    for (int i = 0; i < rounds; ++i) {
      off.push_back(GatewayRps(nullptr, clients, seconds));
      {
        Fixture f("", tmp / ("gl" + std::to_string(i)));
        local.push_back(GatewayRps(&f, clients, seconds));
      }
      {
        Fixture f(redis.url(), tmp / ("gr" + std::to_string(i)));
        remote.push_back(GatewayRps(&f, clients, seconds));
      }
    }
    double moff = Median(off), mlocal = Median(local), mremote = Median(remote);
    std::printf("\n| gateway, 1 event loop, %d clients (median of %d x %.0f s) | req/s | vs off | target |\n", clients, rounds, seconds);
    std::printf("|---|---|---|---|\n");
    std::printf("| limits off | %.0f | 1.00x | |\n", moff);
    std::printf("| all limits on, local counters | %.0f | %.3fx | >= 0.9x |\n", mlocal, mlocal / moff);
    std::printf("| all limits on, Redis counters | %.0f | %.3fx | >= 0.9x |\n", mremote, mremote / moff);
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
