#!/usr/bin/env bash
# Limits benchmark: limit check cost (local counters, Redis on loopback) and gateway requests/s
# with every limit on vs off. Prints Markdown tables (docs/benchmarks.md, "## Limits").
#   bench/limits/run.sh --rounds 5 --seconds 5
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --build build --target limits_bench >/dev/null
exec build/bench/limits/limits_bench "$@"
