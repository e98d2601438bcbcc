// http/request.h — an HTTP/1.1 request as the server hands it to a handler: method, target,
// version, header fields in arrival order, and the body.
//
// The parsed head is kept as one string and every field is a pair of views into it, so reading a
// request costs one copy of its head and no allocation per field (Beast's basic_fields allocated
// one node per field and kept them in a tree sorted by name). Lookups compare names ignoring
// case over the handful of fields a request carries. A server connection reuses one Request for
// all its requests (clear() keeps the capacity). Fields can also be set, inserted and erased, for
// handlers that pass a modified request on and for tests that build one; what they add is kept
// apart, so a view taken from the request (its target, a value) stays valid until clear().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

namespace ap::http {

namespace internal {
class RequestParser;
}

class Request {
 public:
  struct Field {
    std::string_view name;
    std::string_view text;
    uint32_t key = 0;  // NameKey(name): most lookups are told apart by it alone
    std::string_view name_string() const { return name; }
    std::string_view value() const { return text; }
  };
  // A name's length and its first and last characters, case folded.
  static uint32_t NameKey(std::string_view name) {
    if (name.empty()) return 0;
    auto fold = [](char c) { return static_cast<uint32_t>(static_cast<unsigned char>(c) | 0x20); };
    return static_cast<uint32_t>(name.size()) << 16 | fold(name.front()) << 8 | fold(name.back());
  }
  using const_iterator = const Field*;

  Request() = default;
  Request(boost::beast::http::verb method, std::string_view target, unsigned version);
  Request(const Request& other);
  Request& operator=(const Request& other);
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;

  boost::beast::http::verb method() const { return verb_; }
  std::string_view method_string() const { return method_; }
  std::string_view target() const { return target_; }
  void target(std::string_view target);
  unsigned version() const { return version_; }
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const;

  const_iterator begin() const { return fields_.data(); }
  const_iterator end() const { return fields_.data() + fields_.size(); }
  // The first field named `name` (any case), or end().
  const_iterator find(std::string_view name) const;
  const_iterator find(boost::beast::http::field name) const;
  // The first value of `name`, "" when absent.
  std::string_view operator[](std::string_view name) const;
  std::string_view operator[](boost::beast::http::field name) const;
  size_t count(std::string_view name) const;
  // Replaces every field named `name` with one (appended at the end).
  void set(std::string_view name, std::string_view value);
  void set(boost::beast::http::field name, std::string_view value);
  // Appends a field (a name may repeat).
  void insert(std::string_view name, std::string_view value);
  void erase(std::string_view name);

  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  // Empties the request for the connection's next one, keeping (moderate) capacity.
  void clear();

 private:
  friend class internal::RequestParser;

  Request(std::string_view method_name, boost::beast::http::verb method, std::string_view target, unsigned version);
  // Keeps a copy of `s` apart from the parsed head (an added field or target); the copy does
  // not move while the request lives.
  std::string_view Keep(std::string_view s);

  std::string storage_;  // the parsed head (or a built request's method and target)
  std::deque<std::string> added_;  // values set after parsing (a deque: no element ever moves)
  std::vector<Field> fields_;
  std::string_view method_, target_;
  boost::beast::http::verb verb_ = boost::beast::http::verb::unknown;
  unsigned version_ = 11;
  std::string body_;
};

}  // namespace ap::http
