// http/request.cc — see request.h.
#include "http/request.h"

#include <algorithm>

#include <boost/beast/http/field.hpp>

#include "base/strings.h"
#include "http/internal/syntax.h"

namespace ap::http {
namespace bhttp = boost::beast::http;

Request::Request(bhttp::verb method, std::string_view target, unsigned version)
    : Request(bhttp::to_string(method), method, target, version) {}

Request::Request(std::string_view method_name, bhttp::verb method, std::string_view target, unsigned version)
    : verb_(method), version_(version) {
  storage_.reserve(std::max<size_t>(method_name.size() + target.size(), 32));  // never in the object (see the move)
  storage_.append(method_name);
  storage_.append(target);
  method_ = std::string_view(storage_.data(), method_name.size());
  target_ = std::string_view(storage_.data() + method_name.size(), target.size());
}

// A copy is rebuilt field by field (rare: tests and handlers that keep a request).
Request::Request(const Request& other) : Request(other.method_, other.verb_, other.target_, other.version_) {
  for (const auto& f : other.fields_) insert(f.name, f.text);
  body_ = other.body_;
}

Request& Request::operator=(const Request& other) {
  if (this != &other) *this = Request(other);
  return *this;
}

Request::Request(Request&& other) noexcept { *this = std::move(other); }

Request& Request::operator=(Request&& other) noexcept {
  if (this == &other) return *this;
  const char* from = other.storage_.data();
  const size_t size = other.storage_.size();
  storage_ = std::move(other.storage_);
  added_ = std::move(other.added_);  // a deque's elements stay where they are
  fields_ = std::move(other.fields_);
  method_ = other.method_;
  target_ = other.target_;
  verb_ = other.verb_;
  version_ = other.version_;
  body_ = std::move(other.body_);
  if (storage_.data() != from) {  // a short string lived inside `other`: views into it follow it
    auto follow = [&](std::string_view& v) {
      if (v.data() >= from && v.data() < from + size) v = std::string_view(storage_.data() + (v.data() - from), v.size());
    };
    follow(method_);
    follow(target_);
    for (auto& f : fields_) {
      follow(f.name);
      follow(f.text);
    }
  }
  other.clear();
  return *this;
}

std::string_view Request::Keep(std::string_view s) { return added_.emplace_back(s); }

void Request::target(std::string_view target) { target_ = Keep(target); }

bool Request::keep_alive() const {
  internal::ConnectionTokens connection;
  for (const auto& f : fields_)
    if (internal::EqualsLower(f.name, "connection")) connection.Read(f.text);
  return connection.Persistent(version_);
}

Request::const_iterator Request::find(std::string_view name) const {
  const uint32_t key = NameKey(name);
  for (const auto& f : fields_)
    if (f.key == key && EqualsIgnoreCase(f.name, name)) return &f;
  return end();
}

Request::const_iterator Request::find(bhttp::field name) const { return find(bhttp::to_string(name)); }

std::string_view Request::operator[](std::string_view name) const {
  auto it = find(name);
  return it == end() ? std::string_view() : it->text;
}

std::string_view Request::operator[](bhttp::field name) const { return (*this)[bhttp::to_string(name)]; }

size_t Request::count(std::string_view name) const {
  const uint32_t key = NameKey(name);
  size_t n = 0;
  for (const auto& f : fields_) n += f.key == key && EqualsIgnoreCase(f.name, name);
  return n;
}

void Request::set(std::string_view name, std::string_view value) {
  erase(name);
  insert(name, value);
}

void Request::set(bhttp::field name, std::string_view value) { set(bhttp::to_string(name), value); }

void Request::insert(std::string_view name, std::string_view value) {
  fields_.push_back({Keep(name), Keep(value), NameKey(name)});
}

void Request::erase(std::string_view name) {
  const uint32_t key = NameKey(name);
  std::erase_if(fields_, [name, key](const Field& f) { return f.key == key && EqualsIgnoreCase(f.name, name); });
}

void Request::clear() {
  static constexpr size_t kKeepBytes = 16 * 1024;  // an unusually large head is not kept
  static constexpr size_t kKeepFields = 64;
  if (storage_.capacity() > kKeepBytes) std::string().swap(storage_);
  if (fields_.capacity() > kKeepFields) std::vector<Field>().swap(fields_);
  if (body_.capacity() > kKeepBytes) std::string().swap(body_);
  storage_.clear();
  added_.clear();
  fields_.clear();
  body_.clear();
  method_ = target_ = {};
  verb_ = bhttp::verb::unknown;
  version_ = 11;
}

}  // namespace ap::http
