#!/usr/bin/env bash
# Scheduler benchmark: round-robin, random, load-only, prefix-only and the default mix side by
# side on a simulated fleet of 8 replicas under llm-d's shared-prefix ("KV-cache wins") workload
# at rising QPS. Prints a markdown table (TTFT p50/p90, output tokens/s, the simulators' prefix
# cache hit rate), PASS/FAIL for the targets, and writes bench/results/scheduler-<time>.json.
# Loopback only; every process it starts is stopped before it exits. See docs/benchmarks.md.
#
#   bench/scheduler/run.sh                 # the full comparison (~10 minutes)
#   bench/scheduler/run.sh --smoke         # 2 replicas, 2 modes, a few seconds (ctest runs this)
#   bench/scheduler/run.sh --qps 4,8 --modes default,round-robin   # any compare.py flag
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${AGENTPLANE_BIN:-$ROOT/build/agentplane}
OUT=$ROOT/bench/results
ARGS=()
SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[ -x "$BIN" ] || { echo "agentplane binary not found at $BIN (build it first)" >&2; exit 1; }
if [ "$SMOKE" = 1 ]; then
  # Small and quick: the pipeline end to end, not a measurement.
  ARGS=(--smoke --replicas 2 --modes round-robin,default --qps 4 --duration 3 --warmup 1
        --groups 4 --users 2 --prefix-tokens 500 --question-tokens 20 --output-tokens 8
        --time-scale 0.2 --gpu-mem 0.9 "${ARGS[@]}")
fi
exec timeout -k 10 900 python3 "$HERE/compare.py" --bin "$BIN" --out "$OUT" "${ARGS[@]}"
