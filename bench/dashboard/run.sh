#!/usr/bin/env bash
# Dashboard benchmark: first-load bytes and time to interactive of every page, and the latency
# of the APIs behind them, with a store of 1,000,000 traces (docs/benchmarks.md, "Dashboard").
#
#   bench/dashboard/run.sh                        # 1M gateway traces over the last 24 h
#   bench/dashboard/run.sh --generations 100000   # smaller
#
# Fills a store with bench/telemetry's fill phase, starts `agentplane up` on it (local mode,
# loopback, port 0; its simulated fleet feeds the models and fleet pages), then
# bench/dashboard/measure.mjs drives headless chromium (playwright-core from tests/ui) over
# each page with a cold cache. Prints a Markdown table; removes its temp directory at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
generations=1000000
days=1
while [ $# -gt 0 ]; do
  case "$1" in
    --generations) generations="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh npm tests/ui >/dev/null
cmake --build build --target agentplane telemetry_bench >/dev/null
dir=$(mktemp -d /tmp/ap-dashboard-bench.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/data"
build/bench/telemetry/telemetry_bench --phases fill --generations "$generations" --fill-days "$days" \
  --fill-path "$dir/data/telemetry.db" | tail -1 >&2
cat > "$dir/up.yaml" <<'YAML'
server: {port: 0, access_log: off}
fleet:
  - {model: small, served_model: meta-llama/Llama-3.1-8B-Instruct, gpu: H100, replicas: 2, time_scale: 0.1}
  - {model: big, served_model: meta-llama/Llama-3.1-70B-Instruct, gpu: H200, replicas: 1, time_scale: 0.1}
YAML
build/agentplane up --config "$dir/up.yaml" --data-dir "$dir/data" > "$dir/up.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'Ctrl-C stops everything' "$dir/up.log" && break; sleep 0.1; done
port=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/up.log")
[ -n "$port" ] || { cat "$dir/up.log" >&2; exit 1; }
node bench/dashboard/measure.mjs "http://127.0.0.1:$port" "$generations"
