// tests/integration/mock_upstream.cc
#include "mock_upstream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

namespace ap::testing {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;

namespace {
net::awaitable<void> Sleep(std::chrono::milliseconds d) {
  if (d.count() <= 0) co_return;
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(net::as_tuple(net::use_awaitable));
}
constexpr const char* kChat =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"backend","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})";
}  // namespace

class MockUpstream::Handler : public http::Handler {
 public:
  explicit Handler(MockUpstream* m) : m_(m) {}
  net::awaitable<void> Handle(http::Request& req, http::Responder& res) override {
    int call = m_->calls_++;
    MockAction a;
    {
      std::lock_guard lock(m_->mu_);
      if (m_->keep_received_) {
        ReceivedRequest rr{std::string(req.target()), req.body(), {}};
        for (const auto& f : req) rr.headers[std::string(f.name_string())] = std::string(f.value());
        m_->received_.push_back(std::move(rr));
      }
      if (m_->script_) a = m_->script_(call);
    }
    co_await Sleep(a.delay);
    if (!a.stream) {
      http::Response r{static_cast<http::Status>(a.status), 11};
      r.set(bhttp::field::content_type, "application/json");
      for (auto& [k, v] : a.headers) r.set(k, v);
      r.body() = a.body.empty() ? kChat : a.body;
      co_await res.Send(std::move(r));
      co_return;
    }
    bool include_usage = false;
    boost::system::error_code ec;
    auto v = boost::json::parse(req.body(), ec);
    if (!ec && v.is_object())
      if (auto* so = v.get_object().if_contains("stream_options"); so && so->is_object())
        if (auto* iu = so->get_object().if_contains("include_usage"); iu && iu->is_bool()) include_usage = iu->get_bool();
    bhttp::response_header<> h;
    h.result(http::Status::ok);
    h.set(bhttp::field::content_type, "text/event-stream");
    if (!co_await res.StartStream(std::move(h))) co_return;
    for (int i = 0; i < a.chunks; ++i) {
      if (i == a.drop_after) co_return;  // not ended: the server closes the connection
      std::string ev = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t" +
                       std::to_string(i) + "\"}}]" + (include_usage ? ",\"usage\":null" : "") + "}\n\n";
      if (!co_await res.SendChunk(ev)) {
        m_->cancelled_streams++;
        co_return;
      }
      co_await Sleep(a.chunk_interval);
    }
    std::string usage = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":" +
                        std::to_string(a.chunks) + ",\"total_tokens\":" + std::to_string(11 + a.chunks) + "}}\n\n";
    if (include_usage && !co_await res.SendChunk(usage)) {
      m_->cancelled_streams++;
      co_return;
    }
    if (!co_await res.SendChunk("data: [DONE]\n\n") || !co_await res.EndStream()) {
      m_->cancelled_streams++;
      co_return;
    }
    m_->finished_streams++;
  }
  http::Response ProtocolError(http::Status s, std::string_view msg) override {
    http::Response r{s, 11};
    r.body() = std::string(msg);
    return r;
  }

 private:
  MockUpstream* m_;
};

MockUpstream::MockUpstream(bool keep_received) : keep_received_(keep_received) {
  http::ServerOptions o;
  o.threads = 1;
  server_ = std::make_unique<http::Server>(o, std::make_shared<Handler>(this));
  server_->Start();
}

MockUpstream::~MockUpstream() { server_->Shutdown(std::chrono::milliseconds(100)); }

void MockUpstream::SetScript(std::function<MockAction(int)> script) {
  std::lock_guard lock(mu_);
  script_ = std::move(script);
}

std::vector<ReceivedRequest> MockUpstream::received() {
  std::lock_guard lock(mu_);
  return received_;
}

}  // namespace ap::testing
