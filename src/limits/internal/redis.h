// limits/internal/redis.h — the two Redis clients limits needs, speaking RESP through hiredis'
// reader and formatter (Debian's libhiredis), over our own sockets:
//
//  * RedisSync: blocking, one connection behind a mutex, for the admin store and spend reads on
//    control threads.
//  * RedisPipeline: for the request path. One connection per event loop (thread-local), commands
//    pipelined by many coroutines, replies matched in order. A command that times out closes the
//    connection (so replies can never be matched to the wrong command); the next one reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

namespace ap::limits::internal {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  int db = 0;
  std::string user, password;  // redis://[user:]password@host…: AUTH on every new connection
};
boost::system::result<RedisEndpoint, std::string> ParseRedisUrl(std::string_view url);

struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError } type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisReply> elements;
  bool is_error() const { return type == Type::kError; }
};

using RedisResult = boost::system::result<RedisReply, std::string>;

// Builds one command in RESP ("*N\r\n$len\r\narg\r\n…") without a string per argument:
// the request path formats ~40 arguments per batch of admissions.
class RespCommand {
 public:
  RespCommand& Arg(std::string_view a);
  RespCommand& Arg(int64_t v);
  RespCommand& Arg(double v);  // shortest text that reads back as the same double
  // The finished command; the builder is empty afterwards.
  std::string Take();
  // Replaces the first two arguments (EVALSHA <sha> → EVAL <script>) of a taken command.
  static std::string WithHead(const std::string& command, std::string_view first, std::string_view second);

 private:
  std::string body_;
  size_t count_ = 0;
};

class RedisSync {
 public:
  RedisSync(RedisEndpoint endpoint, std::chrono::milliseconds timeout);
  ~RedisSync();
  RedisResult Command(const std::vector<std::string>& args);
  // A command RespCommand built (no per-argument strings).
  RedisResult CommandResp(const std::string& resp);

 private:
  bool ConnectLocked(std::string* error);
  void CloseLocked();
  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  int fd_ = -1;
  void* reader_ = nullptr;  // redisReader*
};

class RedisPipeline {
 public:
  RedisPipeline(RedisEndpoint endpoint, std::chrono::milliseconds connect_timeout);
  // Sends one command on this thread's connection and awaits its reply, at most `timeout`.
  // `resp` is a command RespCommand built.
  boost::asio::awaitable<RedisResult> Command(const std::string& resp, std::chrono::milliseconds timeout);

 private:
  RedisEndpoint endpoint_;
  std::chrono::milliseconds connect_timeout_;
  uint64_t id_;  // tells this pipeline's thread-local connections from another's
};

// The SHA-1 hex digest of a script (EVALSHA's name for it).
std::string ScriptSha(std::string_view script);

}  // namespace ap::limits::internal
