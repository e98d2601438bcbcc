#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 and runs each for FUZZ_SECONDS (default 60), seeded
# from fuzz/corpus/<name>/ (the committed seeds); what it learns goes to build-fuzz/corpus/<name>/.
# A crash leaves its input in build-fuzz/: fix the bug, then add the input to fuzz/corpus/<name>/
# so `make test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
CXX=clang++-14 cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz
for name in openai sse response_parser request_parser config limits; do
  echo "== ${name}_fuzzer: ${seconds}s"
  mkdir -p "build-fuzz/corpus/$name"
  (cd build-fuzz && ./"${name}_fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=5 -rss_limit_mb=4096 \
     -print_final_stats=1 "corpus/$name" "../fuzz/corpus/$name" 2>&1 | grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR)' || true)
done
