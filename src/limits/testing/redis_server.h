// limits/testing/redis_server.h — starts Debian's redis-server on 127.0.0.1 and a free port for a
// test, without persistence, and stops it in the destructor. Tests that need Redis skip (with a
// message) only when the binary is missing; `make test` installs it.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace ap::limits::testing {

class RedisServer {
 public:
  // `password`: started with --requirepass (clients must AUTH).
  explicit RedisServer(const std::string& password = "") {
    if (access("/usr/bin/redis-server", X_OK) != 0) return;
    port_ = FreePort();
    pid_ = fork();
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      if (password.empty())
        execl("/usr/bin/redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      else
        execl("/usr/bin/redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--loglevel", "warning", "--requirepass", password.c_str(),
              static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && !Reachable(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~RedisServer() { Stop(); }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
  }

 private:
  bool Reachable() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
  }
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ap::limits::testing
