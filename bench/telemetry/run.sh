#!/usr/bin/env bash
# Telemetry benchmarks: ingestion rate, bytes per generation, cost aggregate over 10M
# generations, gateway throughput with telemetry on vs off. Prints a Markdown table
# (docs/benchmarks.md, "## Telemetry"). Takes a few minutes; pass flags through, e.g.
#   bench/telemetry/run.sh --generations 1000000 --phases ingest,bytes
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --build build --target telemetry_bench >/dev/null
exec build/bench/telemetry/telemetry_bench "$@"
