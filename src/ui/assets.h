// ui/assets.h — the dashboard's built files as the binary carries them.
//
// The table is generated at build time (embed_assets.py, run by src/ui/CMakeLists.txt) from the
// esbuild output of ui/: one entry per file, with a gzip copy when that is smaller and a strong
// ETag over the content. Nothing here is written by hand and nothing is read from disk at run
// time, so the binary serves the same dashboard wherever it runs.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace ap::ui {

struct Asset {
  std::string_view path;          // relative to /ui/, e.g. "index.html", "app-3F2A.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted, e.g. "\"b1946ac92492\""
  std::string_view body;          // the file
  std::string_view gzip;          // gzip-compressed copy; empty when compression did not pay
  bool immutable = false;         // content-hashed name: cacheable for a year
};

// The assets embedded in this binary (generated). Empty when the build had no Node.js.
std::span<const Asset> EmbeddedAssets();

}  // namespace ap::ui
