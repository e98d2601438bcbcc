// ui/handler.h — serves the dashboard at /ui on the gateway's port (mounted by cmd).
//
//   GET /ui            → 308 to /ui/
//   GET /ui/           → index.html (no-cache: it names the current content-hashed bundles)
//   GET /ui/<file>     → an embedded asset; hashed names are cacheable for a year (immutable)
//
// Every answer carries a strong ETag (If-None-Match → 304) and the gzip copy when the client
// accepts gzip. The handler only reads the constant asset table: no I/O, no locks, no
// allocation beyond the response, so it runs on the event loop directly. It does no
// authentication: the files are public; the data they show comes from the APIs, which check
// the key the page sends.
#pragma once

#include <span>

#include "http/server.h"
#include "ui/assets.h"

namespace ap::ui {

class UiHandler : public http::Handler {
 public:
  explicit UiHandler(std::span<const Asset> assets = EmbeddedAssets()) : assets_(assets) {}

  http::net::awaitable<void> Handle(http::Request& request, http::Responder& responder) override;
  http::Response ProtocolError(http::Status status, std::string_view message) override;

  // The answer to one request (separate from Handle for tests).
  http::Response Respond(const http::Request& request) const;

  static constexpr const char* kPrefix = "/ui";

 private:
  const Asset* Find(std::string_view path) const;
  std::span<const Asset> assets_;
};

}  // namespace ap::ui
