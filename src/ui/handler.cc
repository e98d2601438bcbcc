// ui/handler.cc — see handler.h.
#include "ui/handler.h"

#include "base/strings.h"

namespace ap::ui {
namespace bhttp = http::bhttp;

namespace {

http::Response Text(http::Status status, std::string_view text, const http::Request& req) {
  http::Response res{status, req.version()};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(text);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

// Whether `header` (Accept-Encoding) lists gzip without q=0.
bool AcceptsGzip(std::string_view header) {
  for (auto part : Split(header, ',')) {
    auto item = Trim(part);
    auto semi = item.find(';');
    auto coding = Trim(item.substr(0, semi));
    if (!EqualsIgnoreCase(coding, "gzip") && coding != "*") continue;
    if (semi != std::string_view::npos) {
      auto params = item.substr(semi + 1);
      auto q = params.find("q=");
      if (q != std::string_view::npos) {
        auto v = Trim(params.substr(q + 2));
        if (v == "0" || v == "0.0" || v == "0.00" || v == "0.000") return false;
      }
    }
    return true;
  }
  return false;
}

// If-None-Match holds `etag` (or *).
bool Matches(std::string_view header, std::string_view etag) {
  for (auto part : Split(header, ',')) {
    auto tag = Trim(part);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag || tag == "*") return true;
  }
  return false;
}

}  // namespace

const Asset* UiHandler::Find(std::string_view path) const {
  for (const auto& a : assets_)
    if (a.path == path) return &a;
  return nullptr;
}

http::Response UiHandler::Respond(const http::Request& req) const {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  // GET only: the server derives Content-Length from the body it sends, so a HEAD answer could
  // not state the length of the body it omits.
  if (req.method() != bhttp::verb::get) {
    auto res = Text(http::Status::method_not_allowed, "the dashboard is read with GET\n", req);
    res.set(bhttp::field::allow, "GET");
    return res;
  }
  if (path == kPrefix) {
    http::Response res{http::Status::permanent_redirect, req.version()};
    res.set(bhttp::field::location,
            std::string(kPrefix) + "/" + std::string(target.substr(path.size())));
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  if (!path.starts_with("/ui/")) return Text(http::Status::not_found, "not found\n", req);
  std::string_view name = path.substr(4);
  if (name.empty()) name = "index.html";
  const Asset* asset = Find(name);
  if (!asset) {
    if (assets_.empty())
      return Text(
          http::Status::service_unavailable,
          "this agentplane was built without its dashboard (Node.js was missing at build time); "
          "install node and npm (scripts/install-deps.sh) and rebuild\n",
          req);
    return Text(http::Status::not_found, "no such dashboard file: " + std::string(name) + "\n",
                req);
  }
  http::Response res{http::Status::ok, req.version()};
  res.keep_alive(req.keep_alive());
  res.set(bhttp::field::etag, asset->etag);
  res.set(bhttp::field::cache_control,
          asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.set(bhttp::field::vary, "Accept-Encoding");
  if (name == "index.html") {
    // The page may only talk to its own origin and load its own files.
    res.set("content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'");
    res.set("x-content-type-options", "nosniff");
  }
  if (auto inm = req[bhttp::field::if_none_match]; !inm.empty() && Matches(inm, asset->etag)) {
    res.result(http::Status::not_modified);
    res.prepare_payload();
    return res;
  }
  res.set(bhttp::field::content_type, asset->content_type);
  bool gzip = !asset->gzip.empty() && AcceptsGzip(req[bhttp::field::accept_encoding]);
  std::string_view body = gzip ? asset->gzip : asset->body;
  if (gzip) res.set(bhttp::field::content_encoding, "gzip");
  res.body().assign(body.data(), body.size());
  res.prepare_payload();
  return res;
}

http::net::awaitable<void> UiHandler::Handle(http::Request& request, http::Responder& responder) {
  co_await responder.Send(Respond(request));
}

http::Response UiHandler::ProtocolError(http::Status status, std::string_view message) {
  http::Response res{status, 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(message);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

}  // namespace ap::ui
