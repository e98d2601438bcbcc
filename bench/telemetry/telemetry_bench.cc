// bench/telemetry/telemetry_bench.cc — telemetry's numbers for docs/benchmarks.md, as one table.
//
//   ingest     sustained observations/s through the real path (Writer queue → one transaction
//              per batch → SQLite WAL), gateway-shaped records (trace + generation, no payloads)
//              and Langfuse-shaped ones (event ids, read-merge-write upserts)
//   bytes      database bytes per gateway generation after a WAL checkpoint (trace included)
//   aggregate  cost grouped by model / user / day over --generations rows (rollup table)
//   gateway    requests/s of an in-process gateway with telemetry on vs off (same mock upstream)
//   fill       a store of --generations gateway records over the last --fill-days, kept at
//              --fill-path (for the dashboard benchmark, bench/dashboard/run.sh)
//   queries    the read path on the store at --fill-path: newest-first pages, a trace by id, its
//              observations, a session filter, a one-minute window (median of 5 each)
//
// Bounded: every phase has a fixed size or time; loopback only; files live in a temp dir that
// is removed at the end. It measures, it does not assert.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <thread>

#include <CLI/CLI.hpp>
#include <sqlite3.h>

#include "base/log.h"
#include "base/random.h"
#include "base/strings.h"
#include "gateway_harness.h"
#include "mock_upstream.h"
#include "telemetry/sink.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/telemetry.h"
#include "telemetry/metrics.h"
#include "telemetry/pricing.h"
#include "telemetry/writer.h"

namespace ap::telemetry {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Hex(uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(digits, '0');
  for (int i = digits - 1; i >= 0 && v; --i, v >>= 4) s[i] = kHex[v & 15];
  return s;
}

std::string Uuid(uint64_t seed) {
  std::string h = Hex(0x9e3779b97f4a7c15ull * seed, 16) + Hex(0xff51afd7ed558ccdull * (seed ^ 0xabcdef), 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" + h.substr(20, 12);
}

// Trace ids as the gateway mints them (time-ordered, base/random.h) or as callers send them in
// traceparent (random): the second is the hard case for the store's id index.
bool g_caller_trace_ids = false;

const char* kModels[] = {"gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "llama-3.1-8b", "llama-3.1-70b"};

gateway::CompletionRecord MakeRecord(uint64_t i, int64_t start_us) {
  gateway::CompletionRecord r;
  r.path = "/v1/chat/completions";
  r.model = kModels[i % 5];
  r.backend = "backend-" + std::to_string(i % 8);
  r.user = "user-" + std::to_string(i % 1000);
  r.session_id = "session-" + std::to_string(i / 4);
  r.trace_id = g_caller_trace_ids ? Hex(0x9e3779b97f4a7c15ull * (i + 1), 16) + Hex(i + 1, 16)
                                  : TimeOrderedHexId(start_us / 1000);
  r.trace_minted = !g_caller_trace_ids;
  r.span_id = Hex(0xc2b2ae3d27d4eb4full * (i + 1), 16);
  r.status = 200;
  r.start = std::chrono::system_clock::time_point(std::chrono::microseconds(start_us));
  r.first_byte = std::chrono::microseconds(120'000 + i % 50'000);
  r.duration = std::chrono::microseconds(900'000 + i % 400'000);
  r.usage = {static_cast<int64_t>(200 + i % 800), static_cast<int64_t>(50 + i % 300), 0, 0, true};
  return r;
}

struct IngestResult {
  double per_second = 0;
  double per_cpu_second = 0;  // per second of the writer thread's CPU time
  int64_t observations = 0;
  double seconds = 0;
};

// Pushes `total` gateway records through sink → writer → store as fast as the writer commits.
IngestResult IngestGateway(const std::string& path, uint64_t total, uint64_t first, int64_t day0_us,
                           int64_t spread_days) {
  auto opened = SqliteStore::Open({path});
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().c_str());
    std::exit(1);
  }
  std::shared_ptr<Store> store(std::move(*opened));
  auto prices = std::make_shared<PriceTable>(std::vector<ModelPrice>{}, std::vector<GpuPrice>{{"backend-.*", 98.32, 20000}});
  WriterOptions wo;
  wo.queue_capacity = 1 << 18;
  auto writer = std::make_shared<Writer>(store, wo);
  GatewaySink sink(writer, prices, nullptr, {});
  // Records are turned into what GatewaySink::Record queues (what the gateway's threads do: a
  // compact request when the trace id was minted, else two items) in chunks outside the timed
  // part; the clock runs while the writer commits them: the store's ingestion rate.
  const uint64_t kChunk = 50'000;
  Clock::duration busy{};
  std::vector<std::vector<Item>> chunk;
  std::vector<GatewayRequest> compact;
  for (uint64_t base = first; base < first + total; base += kChunk) {
    chunk.clear();
    compact.clear();
    for (uint64_t i = base; i < std::min(first + total, base + kChunk); ++i) {
      auto r = MakeRecord(i, day0_us + static_cast<int64_t>(static_cast<double>(i) / static_cast<double>(first + total) * 86'400e6 * static_cast<double>(spread_days)));
      auto cost = sink.CostOf(r);
      if (!sink.ToRequest(r, cost, &compact.emplace_back())) {
        compact.pop_back();
        chunk.push_back(sink.ToItems(r, cost));
      }
    }
    auto t0 = Clock::now();
    for (const auto& request : compact)
      while (!writer->TryEnqueue(request)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    for (auto& items : chunk)
      while (!writer->TryEnqueue(std::move(items))) std::this_thread::sleep_for(std::chrono::microseconds(200));
    writer->Flush();
    busy += Clock::now() - t0;
  }
  double s = Seconds(busy);
  writer->Stop();
  if (writer->failed() > 0) std::fprintf(stderr, "gateway phase: %lld items failed to commit\n", static_cast<long long>(writer->failed()));
  double cpu = static_cast<double>(writer->write_cpu_ns()) / 1e9;
  return {static_cast<double>(total) / s, static_cast<double>(total) / cpu, static_cast<int64_t>(total), s};
}

// Langfuse-shaped: each event pair is a trace-create and a generation-create with event ids,
// written as batches of 1000 through the writer (idempotency table + upsert path). `updates`:
// each observation is also ended by an update event in the same batch (the SDK's span.end()).
IngestResult IngestLangfuse(const std::string& path, uint64_t total, bool updates) {
  auto opened = SqliteStore::Open({path});
  std::shared_ptr<Store> store(std::move(*opened));
  auto writer = std::make_shared<Writer>(store, WriterOptions{});
  int64_t now = NowMicros();
  auto t0 = Clock::now();
  std::atomic<int64_t> done{0};
  for (uint64_t b = 0; b < total / 1000; ++b) {
    std::vector<Item> items;
    items.reserve(1500);
    for (uint64_t j = 0; j < 1000; ++j) {
      uint64_t i = b * 1000 + j;
      // The langfuse SDK mints random UUIDv4 ids; random keys are the hard case for a B-tree.
      std::string tid = Uuid(i / 2 + 1);
      if (i % 2 == 0) {
        Trace t;
        t.id = tid;
        t.project = "p";
        t.timestamp_us = now;
        t.name = "agent";
        t.user_id = "user-" + std::to_string(i % 100);
        items.push_back({"e-t-" + std::to_string(i), false, std::move(t)});
      }
      Observation o;
      o.id = Uuid(0x5bd1e995ull * (i + 7));
      o.trace_id = tid;
      o.project = "p";
      o.type = i % 2 ? ObservationType::kGeneration : ObservationType::kSpan;
      o.start_us = now + static_cast<int64_t>(i);
      o.end_us = o.start_us + 1000;
      o.name = "step";
      if (o.type == ObservationType::kGeneration) {
        o.model = "gpt-4o-mini";
        o.input_tokens = 100;
        o.output_tokens = 20;
        o.total_cost = 0.0001;
      }
      if (updates) {
        Observation end;
        end.id = o.id;
        end.trace_id = tid;
        end.project = "p";
        end.type = o.type;
        end.end_us = o.end_us + 500;
        if (o.type == ObservationType::kGeneration) end.output_tokens = 25;
        items.push_back({"e-o-" + std::to_string(i), false, std::move(o)});
        items.push_back({"e-u-" + std::to_string(i), false, std::move(end)});
      } else {
        items.push_back({"e-o-" + std::to_string(i), false, std::move(o)});
      }
    }
    while (!writer->TryEnqueue(std::move(items), [&](bool) { ++done; })) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  writer->Flush();
  double s = Seconds(Clock::now() - t0);
  writer->Stop();
  if (writer->failed() > 0) std::fprintf(stderr, "langfuse phase: %lld items failed to commit\n", static_cast<long long>(writer->failed()));
  if (auto st = store->Stats()) std::fprintf(stderr, "langfuse phase: %lld observations stored\n", static_cast<long long>(st->observations));
  double cpu = static_cast<double>(writer->write_cpu_ns()) / 1e9;
  return {static_cast<double>(total) / s, static_cast<double>(total) / cpu, static_cast<int64_t>(total), s};
}

int64_t FileBytes(const std::string& path);

// The same, and the file's size per observation afterwards.
IngestResult IngestLangfuseAndSize(const std::string& path, uint64_t total, bool updates) {
  IngestResult r = IngestLangfuse(path, total, updates);
  std::printf("| disk per Langfuse observation%s (trace, events, indexes) | %.1f bytes | |\n",
              updates ? " with its update" : "", static_cast<double>(FileBytes(path)) / static_cast<double>(total));
  return r;
}

int64_t FileBytes(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  std::error_code ec;
  int64_t bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  auto wal = std::filesystem::file_size(path + "-wal", ec);
  if (!ec) bytes += static_cast<int64_t>(wal);
  return bytes;
}

// A store that commits nothing: isolates the request path's share of telemetry's cost (sink,
// metrics, pricing, queue) from the writer thread's SQLite work.
class NullStore : public Store {
 public:
  Result<void> WriteGroups(ItemGroups) override { return {}; }
  Result<void> WriteBatch(ItemGroups, std::span<const GatewayRequest>) override { return {}; }
  Result<std::optional<Trace>> GetTrace(const std::string&, const std::string&) override { return std::optional<Trace>(); }
  Result<Page<TraceSummary>> ListTraces(const TraceQuery&) override { return Page<TraceSummary>{}; }
  Result<Page<Observation>> ListObservations(const ObservationQuery&) override { return Page<Observation>{}; }
  Result<std::vector<Score>> ListScores(const std::string&, const std::string&) override { return std::vector<Score>{}; }
  Result<Page<Score>> QueryScores(const ScoreQuery&) override { return Page<Score>{}; }
  Result<Page<SessionSummary>> ListSessions(const SessionQuery&) override { return Page<SessionSummary>{}; }
  Result<std::optional<SessionSummary>> GetSession(const std::string&, const std::string&) override {
    return std::optional<SessionSummary>();
  }
  Result<std::vector<UsageRow>> AggregateUsage(const UsageQuery&) override { return std::vector<UsageRow>{}; }
  Result<std::vector<TimeBucket>> TimeSeries(const TimeSeriesQuery&) override { return std::vector<TimeBucket>{}; }
  Result<int64_t> DeleteOlderThan(int64_t) override { return int64_t{0}; }
  Result<StoreStats> Stats() override { return StoreStats{}; }
};

enum class Mode { kOff, kOn, kRequestPathOnly };

// Writer CPU per committed gateway record in the last telemetry-on round (µs): the SQLite work
// the request path hands off, a figure the shared machine's noise does not move much.
double g_writer_us_per_record = 0;
double g_records_per_batch = 0;

// CPU time of the whole process (gateway, clients, writer) per request of the last round, µs.
// On a shared machine it moves much less than req/s: other builds take wall time from the
// benchmark, not CPU time per request. In a CPU-bound closed loop, off/on of this figure is
// the req/s ratio the benchmark would show on a quiet machine.
double g_cpu_us_per_request = 0;
// Items the writer queue dropped (full) over every telemetry-on round: a rate bought with drops
// would record less data.
int64_t g_dropped = 0;

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Gateway req/s for `seconds` with `clients` keep-alive clients.
double GatewayRps(Mode mode, int clients, double seconds, const std::string& dir) {
  const bool telemetry_on = mode == Mode::kOn;
  testing::MockUpstream up(/*keep_received=*/false);  // millions of requests: keep none
  setenv("AP_BENCH_UP", up.url().c_str(), 1);
  auto cfg = config::ParseConfig(R"(
backends: [{name: b1, url: "${AP_BENCH_UP}", model: gpt-4o-mini}]
models: [{name: m, backends: [b1]}]
)", "bench.yaml");
  std::unique_ptr<Telemetry> tel;
  gateway::GatewayOptions options;
  std::shared_ptr<gateway::CompletionSink> sink;
  std::shared_ptr<Writer> null_writer;
  if (telemetry_on) {
    cfg->telemetry.data_dir = dir;
    tel = std::move(*Telemetry::Start(cfg->telemetry, false));
    options.mounts = tel->Mounts();
    sink = tel->sink();
  } else if (mode == Mode::kRequestPathOnly) {
    null_writer = std::make_shared<Writer>(std::make_shared<NullStore>(), WriterOptions{});
    sink = std::make_shared<GatewaySink>(
        null_writer, std::make_shared<PriceTable>(std::vector<ModelPrice>{}, std::vector<GpuPrice>{}),
        std::make_shared<Metrics>(), SinkOptions{});
  }
  auto table = gateway::RouteTable::Build(*cfg, nullptr);
  auto gw = std::make_shared<gateway::Gateway>(*table, sink, options);
  http::ServerOptions so;
  so.threads = 1;
  http::Server server(so, gw);
  server.Start();
  KeptOffCpus writer_placement(tel ? tel->writer().get() : nullptr,  // as serve_gateway.cc does
                               [&server] { return server.LoopCpus(); });
  const std::string body = R"({"model":"m","user":"bench","messages":[{"role":"user","content":"hi"}]})";
  const double cpu0 = ProcessCpuSeconds();
  const int64_t ok = testing::RunClosedLoop(server.port(), clients, seconds, "/v1/chat/completions", body).ok;
  server.Shutdown(std::chrono::milliseconds(500));
  if (tel) tel->writer()->Flush();  // the writer's work for this round's requests counts too
  else if (null_writer) null_writer->Flush();
  g_cpu_us_per_request = (ProcessCpuSeconds() - cpu0) * 1e6 / static_cast<double>(std::max<int64_t>(1, ok));
  if (tel) {
    tel->Stop();
    auto w = tel->writer();
    g_dropped += w->dropped();
    if (w->written() > 0) {
      g_writer_us_per_record = static_cast<double>(w->write_cpu_ns()) / 1e3 / (static_cast<double>(w->written()) / 2);
      g_records_per_batch = static_cast<double>(w->written()) / 2 / static_cast<double>(std::max<int64_t>(1, w->batches()));
    }
  }
  return static_cast<double>(ok) / seconds;
}

}  // namespace
}  // namespace ap::telemetry

int main(int argc, char** argv) {
  using namespace ap::telemetry;
  CLI::App app{"telemetry benchmarks (see docs/benchmarks.md)"};
  uint64_t ingest = 1'000'000, langfuse = 400'000, generations = 10'000'000;
  double gateway_seconds = 5;
  int rounds = 3, clients = 4;
  std::string phases = "ingest,bytes,aggregate,gateway";
  std::string fill_path;
  int fill_days = 1;
  app.add_option("--ingest", ingest, "gateway records for the ingestion phase");
  app.add_option("--langfuse", langfuse, "Langfuse-shaped observations");
  bool langfuse_updates = false;
  app.add_flag("--langfuse-updates", langfuse_updates, "each Langfuse observation also gets an update event (end)");
  app.add_option("--generations", generations, "rows in the aggregate database");
  app.add_option("--gateway-seconds", gateway_seconds, "seconds per gateway round");
  app.add_option("--rounds", rounds, "gateway rounds (on/off alternating)");
  app.add_option("--clients", clients, "concurrent keep-alive clients");
  app.add_option("--phases", phases, "comma-separated subset of ingest,bytes,aggregate,gateway,fill,queries");
  app.add_option("--fill-path", fill_path, "fill phase: the database to create and keep; queries: the one to read");
  app.add_option("--fill-days", fill_days, "fill phase: days the generations spread over, ending now");
  std::string gateway_modes = "off,on,path";
  app.add_option("--gateway-modes", gateway_modes,
                 "gateway phase: which of off,on,path each round runs (one mode alone: for callgrind)");
  std::string trace_ids = "minted";
  app.add_option("--trace-ids", trace_ids, "minted (the gateway's time-ordered ids) or caller (random W3C ids)");
  CLI11_PARSE(app, argc, argv);
  g_caller_trace_ids = trace_ids == "caller";
  ap::log::SetLevel(ap::log::Level::kWarn);
  auto dir = std::filesystem::temp_directory_path() / ("ap_telemetry_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto has = [&](const char* p) { return phases.find(p) != std::string::npos; };
  std::printf("| measurement | result | target |\n|---|---|---|\n");
  if (has("ingest")) {
    auto r = IngestGateway((dir / "ingest.db").string(), ingest, 0, NowMicros(), 1);
    std::printf("| ingest, gateway records (trace + generation) | %.0f observations/s wall, %.0f per writer CPU-second (%lld in %.2f s) | >= 100,000/s |\n",
                r.per_second, r.per_cpu_second, static_cast<long long>(r.observations), r.seconds);
    auto l = IngestLangfuseAndSize((dir / "langfuse.db").string(), langfuse, langfuse_updates);
    std::printf(langfuse_updates ? "| ingest, Langfuse events, creates + updates (random UUIDs, event ids, upserts) |"
                                 : "| ingest, Langfuse events (random UUIDs, event ids, upserts) |");
    std::printf(" %.0f observations/s wall, %.0f per writer CPU-second (%lld in %.2f s) | >= 100,000/s |\n",
                l.per_second, l.per_cpu_second, static_cast<long long>(l.observations), l.seconds);
    std::fflush(stdout);
  }
  if (has("bytes")) {
    std::string path = (dir / "bytes.db").string();
    const uint64_t n = 1'000'000;
    IngestGateway(path, n, 0, NowMicros() - 30ll * 86'400'000'000, 30);
    std::printf("| disk per gateway generation, no payloads | %.1f bytes (%llu generations) | <= 300 |\n",
                static_cast<double>(FileBytes(path)) / static_cast<double>(n), static_cast<unsigned long long>(n));
    std::fflush(stdout);
  }
  if (has("aggregate")) {
    std::string path = (dir / "aggregate.db").string();
    auto r = IngestGateway(path, generations, 0, NowMicros() - 90ll * 86'400'000'000, 90);
    std::printf("| build: %llu generations over 90 days | %.0f observations/s wall (%.0f per writer CPU-second), %.1f bytes each | |\n",
                static_cast<unsigned long long>(generations), r.per_second, r.per_cpu_second,
                static_cast<double>(FileBytes(path)) / static_cast<double>(generations));
    auto store = std::move(*SqliteStore::Open({path}));
    for (const char* group : {"model", "user", "day", "model,day"}) {
      UsageQuery q;
      for (auto part : ap::Split(group, ',')) q.group_by.emplace_back(part);
      auto t0 = Clock::now();
      auto rows = store->AggregateUsage(q);
      double ms = Seconds(Clock::now() - t0) * 1000;
      int64_t n = 0;
      for (const auto& row : *rows) n += row.generations;
      std::printf("| cost aggregate by %s over %lld generations | %.1f ms (%zu rows) | < 1000 ms |\n", group,
                  static_cast<long long>(n), ms, rows->size());
    }
    std::fflush(stdout);
  }
  if (has("fill")) {
    if (fill_path.empty()) {
      std::fprintf(stderr, "--phases fill needs --fill-path\n");
      return 2;
    }
    auto r = IngestGateway(fill_path, generations, 0, NowMicros() - fill_days * 86'400'000'000ll, fill_days);
    std::printf("| fill: %llu generations over %d days into %s | %.0f observations/s wall | |\n",
                static_cast<unsigned long long>(generations), fill_days, fill_path.c_str(), r.per_second);
    std::fflush(stdout);
  }
  if (has("queries")) {
    auto opened = SqliteStore::Open({fill_path});
    if (!opened) {
      std::fprintf(stderr, "--phases queries needs a store at --fill-path: %s\n", opened.error().c_str());
      return 2;
    }
    auto& store = **opened;
    TraceQuery first;
    first.limit = 50;
    auto page = store.ListTraces(first);
    if (!page || page->items.empty()) return 2;
    const Trace newest = page->items.front().trace;
    TraceQuery second = first;
    second.cursor = page->next_cursor;
    TraceQuery session = first;
    session.session_id = newest.session_id;
    TraceQuery window = first;
    window.from_us = newest.timestamp_us - 3'600'000'000;
    window.to_us = window.from_us + 60'000'000;
    ObservationQuery obs;
    obs.trace_id = newest.id;
    auto time = [&](const char* what, auto query) {
      std::vector<double> ms;
      for (int i = 0; i < 5; ++i) {
        auto t0 = Clock::now();
        query();
        ms.push_back(Seconds(Clock::now() - t0) * 1000);
      }
      std::sort(ms.begin(), ms.end());
      std::printf("| query: %s | %.2f ms (median of 5) | |\n", what, ms[2]);
    };
    time("newest 50 traces, all projects (count + page)", [&] { (void)store.ListTraces(first); });
    time("next page by cursor", [&] { (void)store.ListTraces(second); });
    time("a trace by id", [&] { (void)store.GetTrace("", newest.id); });
    time("a trace's observations", [&] { (void)store.ListObservations(obs); });
    time("traces of one session", [&] { (void)store.ListTraces(session); });
    time("a one-minute window an hour back", [&] { (void)store.ListTraces(window); });
    std::fflush(stdout);
  }
  if (has("gateway")) {
    std::vector<double> on, off, path, cpu_on, cpu_off, cpu_path;
    auto run = [&](const char* name) { return gateway_modes.find(name) != std::string::npos; };
    for (int i = 0; i < rounds; ++i) {
      if (run("off")) {
        off.push_back(GatewayRps(Mode::kOff, clients, gateway_seconds, (dir / "gw").string()));
        cpu_off.push_back(g_cpu_us_per_request);
      }
      if (run("on")) {
        on.push_back(GatewayRps(Mode::kOn, clients, gateway_seconds, (dir / ("gw" + std::to_string(i))).string()));
        cpu_on.push_back(g_cpu_us_per_request);
      }
      if (run("path")) {
        path.push_back(GatewayRps(Mode::kRequestPathOnly, clients, gateway_seconds, (dir / "gw").string()));
        cpu_path.push_back(g_cpu_us_per_request);
      }
    }
    std::printf("| gateway requests per mode (all rounds) | off %.0f, on %.0f, path %.0f | |\n",
                std::accumulate(off.begin(), off.end(), 0.0) * gateway_seconds,
                std::accumulate(on.begin(), on.end(), 0.0) * gateway_seconds,
                std::accumulate(path.begin(), path.end(), 0.0) * gateway_seconds);
    auto median = [](std::vector<double> v) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    double mon = median(on), moff = median(off), mpath = median(path);
    std::printf("| gateway req/s, telemetry off (median of %d) | %.0f | |\n", rounds, moff);
    std::printf("| gateway req/s, telemetry on (median of %d) | %.0f (%.3fx of off) | >= 0.95x |\n", rounds, mon, mon / moff);
    std::printf("| gateway req/s, request path only (sink, metrics, pricing, queue; store discards) | %.0f (%.3fx of off) | |\n",
                mpath, mpath / moff);
    if (on.size() == off.size() && !on.empty()) {
      std::string rows;
      for (size_t i = 0; i < on.size(); ++i) {
        char cell[96];
        std::snprintf(cell, sizeof cell, "%s%.0f / %.0f (%.3fx)", i ? "; " : "", off[i], on[i], on[i] / off[i]);
        rows += cell;
      }
      std::printf("| gateway req/s per round, off / on (on/off, the on round right after its off round) | %s | |\n",
                  rows.c_str());
    }
    std::printf("| writer CPU per gateway record, telemetry on (last round) | %.2f us (%.0f records per commit) | |\n",
                g_writer_us_per_record, g_records_per_batch);
    std::printf("| items dropped by the writer queue, telemetry on (all rounds) | %lld | 0 |\n",
                static_cast<long long>(g_dropped));
    double c_off = median(cpu_off), c_on = median(cpu_on), c_path = median(cpu_path);
    std::printf("| process CPU per request (gateway + clients + writer), off / on / request path only | %.1f / %.1f / %.1f us: on costs %.3fx of off's throughput, request path only %.3fx | >= 0.95x |\n",
                c_off, c_on, c_path, c_off / c_on, c_off / c_path);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
