// http/request_parser_fuzzer.cc — libFuzzer target: the server's request parser
// (http/internal/request_parser.h) on arbitrary bytes. Whatever a client sends, it must not
// crash; the request it yields (and where it stops) must not depend on how the bytes arrive; and
// where both it and Beast's request parser accept a request, they must agree on its method,
// target, version, header fields, body and keep-alive.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/strings.h"
#include "http/internal/request_parser.h"

namespace {
namespace bhttp = boost::beast::http;
constexpr uint64_t kHeaderLimit = 8 * 1024, kBodyLimit = 1 << 20;

struct Parsed {
  bool ok = false;   // complete and without error
  size_t used = 0;   // bytes of the stream the request took
  std::string method, target, body;
  unsigned version = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> fields;

  bool operator==(const Parsed&) const = default;
};

// agentplane's parser, fed `stream` in pieces of at most `piece` bytes.
Parsed Agentplane(std::string_view stream, size_t piece) {
  ap::http::Request req;
  ap::http::internal::RequestParser p;
  p.Reset(&req, kHeaderLimit, kBodyLimit);
  Parsed out;
  std::string pending;
  for (size_t at = 0;;) {
    size_t n = std::min(piece, stream.size() - at);
    pending.append(stream.substr(at, n));
    at += n;
    boost::system::error_code ec;
    size_t used = p.Put(pending, ec);
    pending.erase(0, used);
    out.used += used;
    if (ec && ec != bhttp::error::need_more) return out;
    if (p.is_done()) break;
    if (at >= stream.size()) return out;
  }
  out.ok = true;
  out.method = req.method_string();
  out.target = req.target();
  out.version = req.version();
  out.body = req.body();
  out.keep_alive = req.keep_alive();
  for (const auto& f : req) out.fields.emplace_back(f.name_string(), f.value());
  return out;
}

// Beast's request parser on the whole stream, as the reference.
Parsed Beast(std::string_view stream) {
  bhttp::request_parser<bhttp::string_body> p;
  p.header_limit(kHeaderLimit);
  p.body_limit(kBodyLimit);
  p.eager(true);
  Parsed out;
  boost::system::error_code ec;
  while (out.used < stream.size() && !p.is_done()) {
    size_t used = p.put(boost::asio::buffer(stream.data() + out.used, stream.size() - out.used), ec);
    out.used += used;
    if (ec) return out;
    if (used == 0) return out;
  }
  if (!p.is_done()) return out;
  const auto& m = p.get();
  out.ok = true;
  out.method = m.method_string();
  out.target = m.target();
  out.version = m.version();
  out.body = m.body();
  out.keep_alive = m.keep_alive();
  for (const auto& f : m) out.fields.emplace_back(f.name_string(), f.value());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 32;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  Parsed whole = Agentplane(stream, stream.size() + 1);
  Parsed cut = Agentplane(stream, piece);
  if (whole.ok != cut.ok) std::abort();
  if (whole.ok && !(whole == cut)) std::abort();
  // Beast is the reference where both accept; agentplane's is stricter in places (see the header).
  // Beast merges trailer fields into the header, and agentplane drops them: compare the fields of
  // requests that have no trailer.
  Parsed beast = Beast(stream);
  if (whole.ok && beast.ok) {
    // Beast iterates a repeated name's fields together (in arrival order among themselves).
    auto by_name = [](const auto& a, const auto& b) {
      return std::lexicographical_compare(a.first.begin(), a.first.end(), b.first.begin(), b.first.end(),
                                          [](char x, char y) { return std::tolower(x) < std::tolower(y); });
    };
    std::stable_sort(whole.fields.begin(), whole.fields.end(), by_name);
    std::stable_sort(beast.fields.begin(), beast.fields.end(), by_name);
    // Beast reads only the first Connection field for keep-alive; agentplane reads them all as
    // one list (RFC 9110 5.3), so keep-alive is compared when there is at most one.
    size_t connection_fields = 0;
    for (const auto& f : whole.fields) connection_fields += ap::EqualsIgnoreCase(f.first, "connection");
    if (whole.method != beast.method || whole.target != beast.target || whole.version != beast.version ||
        whole.body != beast.body || whole.used != beast.used ||
        (connection_fields <= 1 && whole.keep_alive != beast.keep_alive))
      std::abort();
    if (beast.fields.size() == whole.fields.size() && beast.fields != whole.fields) std::abort();
    if (beast.fields.size() < whole.fields.size()) std::abort();
  }
  return 0;
}
