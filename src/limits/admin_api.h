// limits/admin_api.h — the admin API on the gateway's port (see docs/limits.md):
//
//   POST/GET        /admin/teams            create (201) / list
//   GET/PATCH/DELETE /admin/teams/{name}
//   POST/GET        /admin/users, GET/PATCH/DELETE /admin/users/{name}
//   POST/GET        /admin/keys             create (201, the key is in this reply only) / list
//   GET/PATCH       /admin/keys/{id}, DELETE /admin/keys/{id} (revokes)
//
// The admin key (Authorization: Bearer) may do everything; a virtual key may read its own team,
// its user and its own team's keys, and nothing else (403). Replies carry spend in the current
// budget window. Store calls block, so they run on a small pool, never on an event loop.
#pragma once

#include <memory>

#include <boost/asio/thread_pool.hpp>

#include "http/server.h"
#include "limits/limiter.h"

namespace ap::limits {

class AdminApi : public http::Handler {
 public:
  // `loopback_is_admin`: local mode, loopback clients without a key act as the admin.
  AdminApi(std::shared_ptr<Limiter> limiter, bool loopback_is_admin);
  ~AdminApi() override;

  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

  struct Reply {
    int status = 200;
    std::string body;
  };
  // The request's work, on the pool. `identity` is who asks (admin or a key).
  Reply Serve(const Identity& identity, http::bhttp::verb method, const std::string& path,
              const std::string& query_team, const std::string& body);

 private:
  std::shared_ptr<Limiter> limiter_;
  bool loopback_is_admin_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace ap::limits
