// telemetry/exporter_test.cc — the OTLP exporter: a gateway record as a GenAI span (decoded
// back by our own OTLP receiver's decoder), and delivery against a loopback collector started
// here that fails on purpose (retries with backoff, headers, drops counted when the collector
// stays down or the queue is full).
#include "telemetry/exporter.h"

#include <atomic>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "telemetry/otlp.h"

namespace ap::telemetry {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

gateway::CompletionRecord Record(int i = 0) {
  gateway::CompletionRecord r;
  r.request_id = "req-" + std::to_string(i);
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.model = "chat";
  r.backend = "openai";
  r.backend_model = "gpt-4o-mini";
  r.user = "alice";
  r.trace_id = "0af7651916cd43dd8448eb211c80319c";
  r.parent_span_id = "b7ad6b7169203331";
  r.span_id = "00f067aa0ba902b" + std::to_string(i % 10);
  r.status = 200;
  r.attempts = 1;
  r.start = std::chrono::system_clock::time_point(std::chrono::seconds(1'760'000'000));
  r.first_byte = std::chrono::microseconds(150'000);
  r.duration = std::chrono::microseconds(1'150'000);
  r.usage = {1000, 100, 1100, 0, true};
  return r;
}

TEST(OtlpExport, RecordBecomesAGenAiSpanOurReceiverReadsAsAGeneration) {
  auto r = Record();
  Cost cost{0.001, 0.002, 0.003, "price_table"};
  ExportSpan span = SpanOf(r, cost);
  EXPECT_EQ(span.name, "chat chat");
  auto body = EncodeOtlpJson({span}, "agentplane");
  auto items = otlp::DecodeTraces(body, "application/json", "", "p");
  ASSERT_TRUE(items) << items.error();
  const Observation* gen = nullptr;
  for (const auto& it : *items)
    if (auto* o = std::get_if<Observation>(&it.body)) gen = o;
  ASSERT_NE(gen, nullptr);
  EXPECT_EQ(gen->type, ObservationType::kGeneration);
  EXPECT_EQ(gen->trace_id, r.trace_id);
  EXPECT_EQ(gen->id, r.span_id);
  EXPECT_EQ(gen->parent_id, r.parent_span_id);  // joins the caller's trace
  EXPECT_EQ(gen->model, "gpt-4o-mini");          // gen_ai.response.model
  EXPECT_EQ(gen->input_tokens, 1000);
  EXPECT_EQ(gen->output_tokens, 100);
  EXPECT_EQ(gen->end_us - gen->start_us, 1'150'000);

  r.status = 502;
  r.error = "upstream refused";
  span = SpanOf(r, std::nullopt);
  EXPECT_TRUE(span.error);
  EXPECT_EQ(span.status_message, "upstream refused");
  auto parsed = boost::json::parse(EncodeOtlpJson({span}, "agentplane"));
  auto& s = parsed.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(s.at("status").at("code"), 2);
  EXPECT_EQ(s.at("startTimeUnixNano"), "1760000000000000000");  // int64 as a string
}

// A collector on loopback that answers `fail_first` requests with 503, then 200, and keeps
// what it received.
class Collector {
 public:
  explicit Collector(int fail_first) : fail_first_(fail_first), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~Collector() {
    stop_ = true;
    // Wake accept() with one last connection.
    boost::system::error_code ec;
    tcp::socket s(ioc_);
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  int requests() const { return requests_; }
  std::string last_body() {
    std::lock_guard lock(mu_);
    return last_body_;
  }
  std::string last_authorization() {
    std::lock_guard lock(mu_);
    return last_authorization_;
  }
  std::string last_target() {
    std::lock_guard lock(mu_);
    return last_target_;
  }

 private:
  void Serve() {
    while (!stop_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      boost::beast::flat_buffer buffer;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(socket, buffer, req, ec);
      if (ec) continue;
      const int n = ++requests_;
      {
        std::lock_guard lock(mu_);
        last_body_ = req.body();
        last_authorization_ = std::string(req[bhttp::field::authorization]);
        last_target_ = std::string(req.target());
      }
      bhttp::response<bhttp::string_body> res{n <= fail_first_ ? bhttp::status::service_unavailable : bhttp::status::ok, 11};
      res.body() = "{}";
      res.prepare_payload();
      bhttp::write(socket, res, ec);
    }
  }

  int fail_first_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::string last_body_, last_authorization_, last_target_;
  std::thread thread_;
};

TEST(OtlpExport, RetriesWithBackoffThenDeliversTheBatchWithItsHeaders) {
  Collector collector(/*fail_first=*/2);
  config::TelemetryExportConfig cfg;
  cfg.endpoint = collector.url();  // no path: /v1/traces
  cfg.headers = {{"authorization", "Bearer collector-token"}};
  cfg.max_retries = 5;
  auto exporter = OtlpExporter::Start(cfg);
  ASSERT_TRUE(exporter) << exporter.error();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*exporter)->Enqueue(SpanOf(Record(i), std::nullopt)));
  (*exporter)->Flush();
  EXPECT_EQ((*exporter)->exported(), 3);
  EXPECT_EQ((*exporter)->dropped(), 0);
  EXPECT_EQ((*exporter)->failed_requests(), 2);
  EXPECT_EQ(collector.requests(), 3);
  EXPECT_EQ(collector.last_authorization(), "Bearer collector-token");
  EXPECT_EQ(collector.last_target(), "/v1/traces");
  auto items = otlp::DecodeTraces(collector.last_body(), "application/json", "", "p");
  ASSERT_TRUE(items) << items.error();
  int spans = 0;
  for (const auto& it : *items) spans += std::holds_alternative<Observation>(it.body);
  EXPECT_EQ(spans, 3);
  std::string metrics;
  (*exporter)->RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("agentplane_telemetry_export_spans_total 3\n"), std::string::npos);
}

TEST(OtlpExport, DropsAndCountsWhenTheCollectorStaysDownOrTheQueueIsFull) {
  Collector collector(/*fail_first=*/1000);
  config::TelemetryExportConfig cfg;
  cfg.endpoint = collector.url() + "/otlp/v1/traces";
  cfg.max_retries = 1;
  cfg.queue = 2;
  cfg.batch_size = 100;
  cfg.interval = std::chrono::hours(1);  // only Flush/Stop send: the queue stays put meanwhile
  auto exporter = OtlpExporter::Start(cfg);
  ASSERT_TRUE(exporter) << exporter.error();
  EXPECT_TRUE((*exporter)->Enqueue(SpanOf(Record(1), std::nullopt)));
  EXPECT_TRUE((*exporter)->Enqueue(SpanOf(Record(2), std::nullopt)));
  EXPECT_FALSE((*exporter)->Enqueue(SpanOf(Record(3), std::nullopt)));  // full: dropped, not blocked
  EXPECT_EQ((*exporter)->dropped(), 1);
  (*exporter)->Flush();
  EXPECT_EQ((*exporter)->exported(), 0);
  EXPECT_EQ((*exporter)->dropped(), 3);  // the batch of two, after 1 + max_retries attempts
  EXPECT_EQ(collector.requests(), 2);
  EXPECT_EQ(collector.last_target(), "/otlp/v1/traces");
  (*exporter)->Stop();
  EXPECT_FALSE((*exporter)->Enqueue(SpanOf(Record(4), std::nullopt)));
}

// Shutdown with the collector gone: what is queued is dropped and counted, not retried.
TEST(OtlpExport, StopDropsWhatIsQueuedOnceTheCollectorFailed) {
  std::string url;
  {
    Collector gone(0);  // take a free port, then close it: connections are refused
    url = gone.url();
  }
  config::TelemetryExportConfig cfg;
  cfg.endpoint = url;
  cfg.batch_size = 2;
  cfg.max_retries = 1000;  // before Stop() the first batch keeps retrying with backoff
  auto exporter = OtlpExporter::Start(cfg);
  ASSERT_TRUE(exporter) << exporter.error();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE((*exporter)->Enqueue(SpanOf(Record(i), std::nullopt)));
  (*exporter)->Stop();
  EXPECT_EQ((*exporter)->exported(), 0);
  EXPECT_EQ((*exporter)->dropped(), 6);
  EXPECT_GE((*exporter)->failed_requests(), 1);
  EXPECT_EQ((*exporter)->depth(), 0);
}

}  // namespace
}  // namespace ap::telemetry
