// scheduler/metrics.cc — atomic histograms and Prometheus text helpers.
#include "scheduler/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ap::scheduler {

AtomicHistogram::AtomicHistogram(std::initializer_list<double> bounds) {
  for (double b : bounds)
    if (n_ < kMaxBuckets) bounds_[n_++] = b;
}

void AtomicHistogram::Observe(double seconds) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.begin() + n_, seconds) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e9), std::memory_order_relaxed);
}

double AtomicHistogram::Quantile(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  uint64_t want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t i = 0; i < n_; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= want) return bounds_[i];
  }
  return INFINITY;
}

void AppendNumber(std::string* out, double v) {
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AtomicHistogram::Render(std::string* out, std::string_view name, std::string_view labels) const {
  std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= n_; ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out->append(name).append("_bucket{").append(prefix).append("le=\"");
    if (i < n_) AppendNumber(out, bounds_[i]);
    else out->append("+Inf");
    out->append("\"} ");
    AppendNumber(out, static_cast<double>(cumulative));
    out->push_back('\n');
  }
  auto sample = [&](std::string_view suffix, double v) {
    out->append(name).append(suffix);
    if (!labels.empty()) out->append("{").append(labels).append("}");
    out->push_back(' ');
    AppendNumber(out, v);
    out->push_back('\n');
  };
  sample("_sum", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  sample("_count", static_cast<double>(cumulative));
}

void AppendFamily(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

std::string EscapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace ap::scheduler
