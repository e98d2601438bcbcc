// HTTPS upstreams: certificates are verified (CA and host name), with an extra CA from ca_file.
// The test makes its own CA and server certificate with the openssl CLI and runs a small TLS
// upstream on 127.0.0.1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>

#include "gateway_harness.h"

namespace ap::testing {
namespace {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;

// A CA and a certificate for "localhost" (no IP address in it) signed by that CA.
struct Pki {
  fs::path dir;
  Pki() {
    dir = fs::temp_directory_path() / ("agentplane-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string d = dir.string();
    std::string cmd =
        "cd " + d + " && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=agentplane-test-ca 2>/dev/null && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null && "
        "printf 'subjectAltName=DNS:localhost\\n' > ext.cnf && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~Pki() { fs::remove_all(dir); }
  bool ok = false;
};

class TlsUpstream {
 public:
  explicit TlsUpstream(const Pki& pki) : ctx_(net::ssl::context::tls_server), acceptor_(ioc_) {
    ctx_.use_certificate_chain_file((pki.dir / "server.pem").string());
    ctx_.use_private_key_file((pki.dir / "server.key").string(), net::ssl::context::pem);
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, Accept(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TlsUpstream() {
    ioc_.stop();
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> served{0};

 private:
  net::awaitable<void> Accept() {
    while (true) {
      auto socket = co_await acceptor_.async_accept(net::use_awaitable);
      net::co_spawn(ioc_, Serve(std::move(socket)), net::detached);
    }
  }
  net::awaitable<void> Serve(net::ip::tcp::socket socket) {
    try {
      boost::beast::ssl_stream<net::ip::tcp::socket> stream(std::move(socket), ctx_);
      co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
      boost::beast::flat_buffer buffer;
      while (true) {
        bhttp::request<bhttp::string_body> req;
        co_await bhttp::async_read(stream, buffer, req, net::use_awaitable);
        served++;  // counted before answering, so the client never sees the answer first
        bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
        res.set(bhttp::field::content_type, "application/json");
        res.body() = R"({"object":"chat.completion","choices":[{"message":{"content":"over tls"}}]})";
        res.prepare_payload();
        res.keep_alive(req.keep_alive());
        co_await bhttp::async_write(stream, res, net::use_awaitable);
      }
    } catch (const std::exception&) {
      // handshake refused by the client, or the connection ended
    }
  }
  net::io_context ioc_;
  net::ssl::context ctx_;
  net::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(Tls, VerifiesCertificatesAndHostNames) {
  Pki pki;
  ASSERT_TRUE(pki.ok) << "openssl CLI failed";
  TlsUpstream up(pki);
  std::string port = std::to_string(up.port());
  std::string ca = (pki.dir / "ca.pem").string();
  TestGateway g(
      "server: {access_log: off}\n"
      "backends:\n"
      "  - {name: trusted, url: 'https://localhost:" + port + "/v1', ca_file: '" + ca + "', retries: {attempts: 1}}\n"
      "  - {name: unknown-ca, url: 'https://localhost:" + port + "/v1', retries: {attempts: 1}}\n"
      "  - {name: wrong-name, url: 'https://127.0.0.1:" + port + "/v1', ca_file: '" + ca + "', retries: {attempts: 1}}\n"
      "models:\n"
      "  - {name: good, backends: [trusted]}\n"
      "  - {name: untrusted, backends: [unknown-ca]}\n"
      "  - {name: mismatch, backends: [wrong-name]}\n");
  TestClient c(g.port());
  auto ok = c.Post("/v1/chat/completions", R"({"model":"good"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("over tls"), std::string::npos);
  // Pooled TLS connection is reused.
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"model":"good"})").status, 200);
  EXPECT_EQ(up.served, 2);

  for (const char* model : {"untrusted", "mismatch"}) {
    auto r = c.Post("/v1/chat/completions", std::string(R"({"model":")") + model + "\"}");
    EXPECT_EQ(r.status, 502) << model;
    EXPECT_EQ(boost::json::parse(r.body).at("error").at("code").as_string(), "upstream_connect_error") << model;
  }
  EXPECT_EQ(up.served, 2);
}

}  // namespace
}  // namespace ap::testing
