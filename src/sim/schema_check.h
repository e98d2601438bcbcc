// sim/schema_check.h — a tiny JSON-schema checker for tests only (type, properties, required,
// enum, items, minimum/maximum, minLength). Test code: never link it into the request path.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace ap::sim::testing_schema {

inline bool TypeMatches(std::string_view type, const boost::json::value& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "null") return v.is_null();
  if (type == "integer") return v.is_int64() || v.is_uint64();
  if (type == "number") return v.is_number();
  return false;
}

inline bool Validate(const boost::json::value& schema, const boost::json::value& v, std::string* why) {
  if (!schema.is_object()) return true;
  const auto& s = schema.as_object();
  if (const auto* e = s.if_contains("enum")) {
    for (const auto& x : e->as_array())
      if (x == v) return true;
    *why = "not in enum";
    return false;
  }
  if (const auto* t = s.if_contains("type")) {
    bool ok = false;
    if (t->is_string()) ok = TypeMatches(t->as_string(), v);
    if (t->is_array())
      for (const auto& x : t->as_array()) ok = ok || TypeMatches(x.as_string(), v);
    if (!ok) {
      *why = "wrong type";
      return false;
    }
  }
  if (v.is_number()) {
    double d = v.to_number<double>();
    if (const auto* m = s.if_contains("minimum"); m && d < m->to_number<double>()) return *why = "below minimum", false;
    if (const auto* m = s.if_contains("maximum"); m && d > m->to_number<double>()) return *why = "above maximum", false;
  }
  if (v.is_string())
    if (const auto* m = s.if_contains("minLength"); m && v.as_string().size() < m->to_number<uint64_t>())
      return *why = "too short", false;
  if (v.is_object()) {
    if (const auto* req = s.if_contains("required"))
      for (const auto& r : req->as_array())
        if (!v.as_object().contains(r.as_string())) return *why = "missing " + std::string(r.as_string()), false;
    if (const auto* props = s.if_contains("properties"))
      for (const auto& kv : v.as_object()) {
        const auto* p = props->as_object().if_contains(kv.key());
        if (p && !Validate(*p, kv.value(), why)) return false;
      }
  }
  if (v.is_array())
    if (const auto* items = s.if_contains("items"))
      for (const auto& x : v.as_array())
        if (!Validate(*items, x, why)) return false;
  return true;
}

}  // namespace ap::sim::testing_schema
