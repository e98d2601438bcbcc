// limits/internal/redis.cc — see redis.h.
#include "limits/internal/redis.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <atomic>
#include <charconv>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace ap::limits::internal {
namespace net = boost::asio;
using tcp = net::ip::tcp;

boost::system::result<RedisEndpoint, std::string> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return {boost::system::in_place_error, "a Redis URL starts with redis://"};
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint e;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = auth.find(':'); colon != std::string_view::npos) {
      e.user = std::string(auth.substr(0, colon));
      e.password = std::string(auth.substr(colon + 1));
    } else {
      e.password = std::string(auth);
    }
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), e.db);
      if (ec != std::errc() || p != db.data() + db.size() || e.db < 0) return {boost::system::in_place_error, "bad database number in Redis URL"};
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return {boost::system::in_place_error, "bad port in Redis URL"};
    e.port = static_cast<uint16_t>(v);
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) e.host = std::string(rest);
  return e;
}

namespace {

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  return out;
}

std::string Format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out(cmd, n > 0 ? static_cast<size_t>(n) : 0);
  redisFreeCommand(cmd);
  return out;
}

}  // namespace

RespCommand& RespCommand::Arg(std::string_view a) {
  char len[24];
  auto r = std::to_chars(len, len + sizeof len, a.size());
  body_.push_back('$');
  body_.append(len, r.ptr);
  body_.append("\r\n", 2);
  body_.append(a);
  body_.append("\r\n", 2);
  ++count_;
  return *this;
}

RespCommand& RespCommand::Arg(int64_t v) {
  char text[24];
  auto r = std::to_chars(text, text + sizeof text, v);
  return Arg(std::string_view(text, static_cast<size_t>(r.ptr - text)));
}

RespCommand& RespCommand::Arg(double v) {
  char text[32];
  auto r = std::to_chars(text, text + sizeof text, v);
  return Arg(std::string_view(text, static_cast<size_t>(r.ptr - text)));
}

std::string RespCommand::Take() {
  char n[24];
  auto r = std::to_chars(n, n + sizeof n, count_);
  std::string out;
  out.reserve(body_.size() + 16);
  out.push_back('*');
  out.append(n, r.ptr);
  out.append("\r\n", 2);
  out.append(body_);
  body_.clear();
  count_ = 0;
  return out;
}

std::string RespCommand::WithHead(const std::string& command, std::string_view first, std::string_view second) {
  // Skip "*N\r\n", then two "$len\r\n…\r\n" arguments.
  size_t at = command.find("\r\n") + 2;
  for (int i = 0; i < 2; ++i) {
    size_t len_end = command.find("\r\n", at);
    size_t len = std::stoul(command.substr(at + 1, len_end - at - 1));
    at = len_end + 2 + len + 2;
  }
  RespCommand head;
  head.Arg(first).Arg(second);
  std::string out = command.substr(0, command.find("\r\n") + 2);
  out += head.body_;
  out.append(command, at, std::string::npos);
  return out;
}

std::string ScriptSha(std::string_view script) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(script.data()), script.size(), d);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// ---- RedisSync: hiredis' blocking context ---------------------------------------------------

RedisSync::RedisSync(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

RedisSync::~RedisSync() { CloseLocked(); }

void RedisSync::CloseLocked() {
  if (reader_) redisFree(static_cast<redisContext*>(reader_));
  reader_ = nullptr;
}

bool RedisSync::ConnectLocked(std::string* error) {
  if (reader_) return true;
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  redisContext* c = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv);
  if (!c || c->err) {
    *error = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return false;
  }
  redisSetTimeout(c, tv);
  reader_ = c;
  if (!endpoint_.password.empty()) {
    std::vector<const char*> argv{"AUTH"};
    std::vector<size_t> lens{4};
    if (!endpoint_.user.empty()) {
      argv.push_back(endpoint_.user.c_str());
      lens.push_back(endpoint_.user.size());
    }
    argv.push_back(endpoint_.password.c_str());
    lens.push_back(endpoint_.password.size());
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) {
      *error = "AUTH failed (check the user and password in the Redis URL)";
      CloseLocked();
      return false;
    }
  }
  if (endpoint_.db != 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "SELECT %d", endpoint_.db));
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) {
      *error = "SELECT failed";
      CloseLocked();
      return false;
    }
  }
  return true;
}

RedisResult RedisSync::Command(const std::vector<std::string>& args) {
  RespCommand cmd;
  for (const auto& a : args) cmd.Arg(std::string_view(a));
  return CommandResp(cmd.Take());
}

RedisResult RedisSync::CommandResp(const std::string& resp) {
  std::lock_guard lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more after a dropped connection
    std::string error;
    if (!ConnectLocked(&error)) return "redis " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " + error;
    auto* c = static_cast<redisContext*>(reader_);
    void* raw = nullptr;
    if (redisAppendFormattedCommand(c, resp.data(), resp.size()) == REDIS_OK && redisGetReply(c, &raw) == REDIS_OK && raw) {
      RedisReply out = Convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      return out;
    }
    error = c->errstr;
    CloseLocked();
    if (attempt == 1) return "redis: " + error;
  }
  return std::string("redis: unreachable");
}

// ---- RedisPipeline: one pipelined connection per event loop --------------------------------

namespace {

struct Waiter {
  explicit Waiter(net::any_io_executor ex) : timer(ex) {}
  net::steady_timer timer;
  std::optional<RedisResult> result;
};

struct Conn : std::enable_shared_from_this<Conn> {
  explicit Conn(net::any_io_executor ex) : socket(ex), reader(redisReaderCreate()) {}
  ~Conn() { redisReaderFree(reader); }

  tcp::socket socket;
  redisReader* reader;
  std::string pending_out;  // formatted commands not yet written
  std::deque<Waiter*> waiters;  // in command order; nullptr: a reply nobody awaits (SELECT)
  bool connected = false, writing = false, broken = false;

  void Fail(const std::string& error) {
    if (broken) return;
    broken = true;
    boost::system::error_code ignored;
    socket.close(ignored);
    for (Waiter* w : waiters)
      if (w) {
        w->result = RedisResult(boost::system::in_place_error, error);
        w->timer.cancel();
      }
    waiters.clear();
  }

  void StartWriting() {
    if (writing || !connected || broken || pending_out.empty()) return;
    writing = true;
    net::co_spawn(socket.get_executor(), Write(shared_from_this()), net::detached);
  }

  static net::awaitable<void> Write(std::shared_ptr<Conn> self) {
    std::string buffer;
    while (!self->broken && !self->pending_out.empty()) {
      buffer.clear();
      buffer.swap(self->pending_out);
      auto [ec, n] = co_await net::async_write(self->socket, net::buffer(buffer), net::as_tuple(net::use_awaitable));
      if (ec) {
        self->Fail("redis write: " + ec.message());
        break;
      }
    }
    self->writing = false;
  }

  static net::awaitable<void> Read(std::shared_ptr<Conn> self) {
    char buf[16384];
    while (!self->broken) {
      auto [ec, n] = co_await self->socket.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
      if (ec) {
        self->Fail("redis read: " + ec.message());
        co_return;
      }
      if (redisReaderFeed(self->reader, buf, n) != REDIS_OK) {
        self->Fail("redis: malformed reply");
        co_return;
      }
      void* raw = nullptr;
      while (!self->broken) {
        if (redisReaderGetReply(self->reader, &raw) != REDIS_OK) {
          self->Fail("redis: malformed reply");
          co_return;
        }
        if (!raw) break;
        auto* r = static_cast<redisReply*>(raw);
        if (self->waiters.empty()) {
          freeReplyObject(r);
          self->Fail("redis: reply without a command");
          co_return;
        }
        Waiter* w = self->waiters.front();
        self->waiters.pop_front();
        if (w) {
          w->result = Convert(r);
          w->timer.cancel();
        } else if (r->type == REDIS_REPLY_ERROR) {  // AUTH or SELECT refused
          std::string why(r->str, r->len);
          freeReplyObject(r);
          self->Fail("redis: " + why);
          co_return;
        }
        freeReplyObject(r);
      }
    }
  }

  static net::awaitable<void> Connect(std::shared_ptr<Conn> self, RedisEndpoint endpoint,
                                      std::chrono::milliseconds timeout) {
    boost::system::error_code ec;
    auto address = net::ip::make_address(endpoint.host, ec);
    if (ec) {
      tcp::resolver resolver(self->socket.get_executor());
      auto [rec, results] = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                            net::as_tuple(net::use_awaitable));
      if (rec || results.empty()) {
        self->Fail("redis: cannot resolve " + endpoint.host);
        co_return;
      }
      address = results.begin()->endpoint().address();
    }
    net::steady_timer deadline(self->socket.get_executor(), timeout);
    deadline.async_wait([weak = std::weak_ptr<Conn>(self)](const boost::system::error_code& e) {
      if (auto s = weak.lock(); s && !e && !s->connected) s->Fail("redis: connect timed out");
    });
    auto [cec] = co_await self->socket.async_connect(tcp::endpoint(address, endpoint.port),
                                                    net::as_tuple(net::use_awaitable));
    deadline.cancel();
    if (cec || self->broken) {
      self->Fail("redis connect " + endpoint.host + ":" + std::to_string(endpoint.port) + ": " +
                 (cec ? cec.message() : std::string("timed out")));
      co_return;
    }
    self->socket.set_option(tcp::no_delay(true), ec);
    self->connected = true;
    net::co_spawn(self->socket.get_executor(), Read(self), net::detached);
    self->StartWriting();
  }
};

std::atomic<uint64_t> next_pipeline_id{1};
thread_local std::unordered_map<uint64_t, std::shared_ptr<Conn>> thread_conns;

}  // namespace

RedisPipeline::RedisPipeline(RedisEndpoint endpoint, std::chrono::milliseconds connect_timeout)
    : endpoint_(std::move(endpoint)), connect_timeout_(connect_timeout), id_(next_pipeline_id++) {}

net::awaitable<RedisResult> RedisPipeline::Command(const std::string& resp, std::chrono::milliseconds timeout) {
  auto ex = co_await net::this_coro::executor;
  auto& conn = thread_conns[id_];
  if (!conn || conn->broken) {
    conn = std::make_shared<Conn>(ex);
    if (!endpoint_.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
      auth.push_back(endpoint_.password);
      conn->pending_out = Format(auth);
      conn->waiters.push_back(nullptr);
    }
    if (endpoint_.db != 0) {
      conn->pending_out += Format({"SELECT", std::to_string(endpoint_.db)});
      conn->waiters.push_back(nullptr);
    }
    net::co_spawn(ex, Conn::Connect(conn, endpoint_, connect_timeout_), net::detached);
  }
  std::shared_ptr<Conn> c = conn;
  Waiter waiter(ex);
  c->pending_out += resp;
  c->waiters.push_back(&waiter);
  c->StartWriting();
  waiter.timer.expires_after(timeout);
  if (!waiter.result) co_await waiter.timer.async_wait(net::as_tuple(net::use_awaitable));
  if (!waiter.result) {
    // Timed out: the reply may still come, so this connection can no longer match replies.
    c->Fail("redis: no reply within " + std::to_string(timeout.count()) + " ms");
  }
  co_return std::move(*waiter.result);
}

}  // namespace ap::limits::internal
