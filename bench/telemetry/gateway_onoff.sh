#!/usr/bin/env bash
# Gateway requests/s with telemetry on against off, on the real binary: two `agentplane gateway`
# processes (same config but `telemetry.enabled`), the gateway benchmark's mock upstream (nginx
# serving a fixed chat.completion), wrk at 32 connections on the chat body; the load side (wrk +
# upstream) on CPU 0 as in `make bench`. Each round runs both, off first in odd rounds and on
# first in even ones (so a drift of the machine within a round favours neither); the report gives
# each round's ratio and the median, the telemetry writer's drops and written records, and
# p50/p99. On a shared VM single rounds swing by ±15 %: the median of many is the figure.
#
#   bench/telemetry/gateway_onoff.sh                 # 9 rounds of 3 s each
#   BENCH_ROUNDS=3 BENCH_CONNS=8 bench/telemetry/gateway_onoff.sh
#
# Complements telemetry_bench's in-process gateway phase (docs/benchmarks.md, Telemetry).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AGENTPLANE=${AGENTPLANE_BIN:-$ROOT/build/agentplane}
ROUNDS=${BENCH_ROUNDS:-9}
DURATION=${BENCH_DURATION:-3}
CONNS=${BENCH_CONNS:-32}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
for tool in wrk node curl "$NGINX"; do command -v "$tool" >/dev/null || { echo "$tool not found (scripts/install-deps.sh)" >&2; exit 1; }; done
[ -x "$AGENTPLANE" ] || { echo "build first: make build" >&2; exit 1; }

TMP=$(mktemp -d -t agentplane-onoff.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=../gateway/mock_upstream.sh
. "$ROOT/bench/gateway/mock_upstream.sh"
read -r UP OFF ON <<<"$(free_ports 3)"
node "$ROOT/bench/gateway/fixtures.js" "$TMP"
mkdir -p "$TMP/upstream" "$TMP/data"
mock_upstream_conf "$TMP" "$UP" >"$TMP/upstream/nginx.conf"
taskset -c 0 "$NGINX" -p "$TMP/upstream" -c "$TMP/upstream/nginx.conf" -g 'daemon off;' >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)

config() { # PORT TELEMETRY-BLOCK
  printf 'server:\n  host: 127.0.0.1\n  port: %s\n  threads: 2\n  access_log: off\nbackends:\n  - name: mock\n    url: http://127.0.0.1:%s/v1\nmodels:\n  - name: gpt-4o-mini\n    backends: [{name: mock, weight: 1}]\ntelemetry:\n%s\n' "$1" "$UP" "$2"
}
config "$OFF" "  enabled: false" >"$TMP/off.yaml"
config "$ON" "  data_dir: $TMP/data" >"$TMP/on.yaml"
"$AGENTPLANE" gateway --config "$TMP/off.yaml" >"$TMP/off.log" 2>&1 &
PIDS+=($!)
"$AGENTPLANE" gateway --config "$TMP/on.yaml" >"$TMP/on.log" 2>&1 &
PIDS+=($!)
for port in "$OFF" "$ON"; do
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -d @"$TMP/req-json.json" -H 'content-type: application/json' \
      "http://127.0.0.1:$port/v1/chat/completions")" = 200 ] && continue 2
    sleep 0.1
  done
  echo "gateway on port $port did not answer 200: $(tail -3 "$TMP"/*.log)" >&2
  exit 1
done

cat >"$TMP/chat.lua" <<EOF
local f = assert(io.open("$TMP/req-json.json", "rb")); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
EOF
# run PORT SECONDS: prints "req/s p50_ms p99_ms"
run() {
  taskset -c 0 wrk -t1 -c"$CONNS" -d"$2"s --latency -s "$TMP/chat.lua" "http://127.0.0.1:$1/v1/chat/completions" |
    awk 'function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v + 0 } sub(/s/, "", v); return v * 1000 }
         $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
         END { printf "%d %.3f %.3f\n", rps, p50, p99 }'
}
run "$OFF" 1 >/dev/null
run "$ON" 1 >/dev/null
echo "### Gateway with telemetry on vs off — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "$(nproc) CPUs; wrk $CONNS connections and the mock upstream on CPU 0; $ROUNDS rounds of ${DURATION}s each, the order alternating."
echo
echo "| round | off req/s | on req/s | on ÷ off | off p50 / p99 (ms) | on p50 / p99 (ms) |"
echo "|--:|--:|--:|--:|--:|--:|"
ratios=()
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then
    read -r a ap50 ap99 <<<"$(run "$OFF" "$DURATION")"
    read -r b bp50 bp99 <<<"$(run "$ON" "$DURATION")"
  else
    read -r b bp50 bp99 <<<"$(run "$ON" "$DURATION")"
    read -r a ap50 ap99 <<<"$(run "$OFF" "$DURATION")"
  fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
  ratios+=("$ratio")
  echo "| $r | $a | $b | ${ratio}× | $ap50 / $ap99 | $bp50 / $bp99 |"
done
metrics=$(curl -s "http://127.0.0.1:$ON/metrics")
written=$(awk '$1 == "agentplane_telemetry_written_items_total" { print $2 }' <<<"$metrics")
dropped=$(awk '$1 == "agentplane_telemetry_dropped_items_total" { print $2 }' <<<"$metrics")
boosts=$(awk '$1 == "agentplane_telemetry_writer_boosts_total" { print $2 }' <<<"$metrics")
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo
echo "Telemetry writer: ${written:-?} items written, ${dropped:-?} dropped; returned from idle to normal priority ${boosts:-?} times."
verdict=FAIL
awk -v m="$median" 'BEGIN { exit !(m >= 0.95) }' && verdict=PASS
[ "${dropped:-0}" = 0 ] || verdict=FAIL
echo "- $verdict: requests/s with telemetry on ≥ 0.95× off: median ${median}× (by round ${ratios[*]}), ${dropped:-?} dropped"
