#!/usr/bin/env bash
# Gateway requests/s with telemetry on against off, on the real binary: `agentplane gateway`
# processes with the same config but `telemetry.enabled`, the gateway benchmark's mock upstream
# (nginx serving a fixed chat.completion), wrk at 32 connections on the chat body; the load side
# (wrk + upstream) on CPU 0 as in `make bench`.
#
# Two processes per side (off-a, off-b, on-a, on-b): on this shared VM two identical processes
# differ by up to ±3 % from memory layout and thread placement alone, so one process per side
# measured that as often as telemetry. Each round runs all four for DURATION seconds in a
# rotating order (no side always first), and its ratio is (on-a + on-b) ÷ (off-a + off-b); the
# machine's speed itself drifts by ±15 % from second to second, so the figure is the median of
# many short rounds. Also reported: p50/p99 per side, the writers' drops, written items and
# priority boosts (telemetry/writer.h).
#
#   bench/telemetry/gateway_onoff.sh                       # 20 rounds of 1 s each
#   BENCH_ROUNDS=40 BENCH_CONNS=8 bench/telemetry/gateway_onoff.sh
#
# Complements telemetry_bench's in-process gateway phase (docs/benchmarks.md, Telemetry).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AGENTPLANE=${AGENTPLANE_BIN:-$ROOT/build/agentplane}
ROUNDS=${BENCH_ROUNDS:-20}
DURATION=${BENCH_DURATION:-1}
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
NAMES=(off-a on-a off-b on-b)
read -r UP P0 P1 P2 P3 <<<"$(free_ports 5)"
PORTS=("$P0" "$P1" "$P2" "$P3")
node "$ROOT/bench/gateway/fixtures.js" "$TMP"
mkdir -p "$TMP/upstream"
mock_upstream_conf "$TMP" "$UP" >"$TMP/upstream/nginx.conf"
taskset -c 0 "$NGINX" -p "$TMP/upstream" -c "$TMP/upstream/nginx.conf" -g 'daemon off;' >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)

config() { # PORT TELEMETRY-BLOCK
  printf 'server:\n  host: 127.0.0.1\n  port: %s\n  threads: 2\n  access_log: off\nbackends:\n  - name: mock\n    url: http://127.0.0.1:%s/v1\nmodels:\n  - name: gpt-4o-mini\n    backends: [{name: mock, weight: 1}]\ntelemetry:\n%s\n' "$1" "$UP" "$2"
}
for i in 0 1 2 3; do
  name=${NAMES[$i]}
  if [[ $name == off-* ]]; then config "${PORTS[$i]}" "  enabled: false" >"$TMP/$name.yaml"
  else mkdir -p "$TMP/data-$name"; config "${PORTS[$i]}" "  data_dir: $TMP/data-$name" >"$TMP/$name.yaml"; fi
  "$AGENTPLANE" gateway --config "$TMP/$name.yaml" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
done
for port in "${PORTS[@]}"; do
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -d @"$TMP/req-json.json" -H 'content-type: application/json' \
      "http://127.0.0.1:$port/v1/chat/completions")" = 200 ] && continue 2
    sleep 0.1
  done
  echo "gateway on port $port did not answer 200: $(tail -3 "$TMP"/*.log)" >&2
  exit 1
done

cat >"$TMP/chat.lua" <<EOF2
local f = assert(io.open("$TMP/req-json.json", "rb")); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
EOF2
# run PORT SECONDS: prints "req/s p50_ms p99_ms"
run() {
  taskset -c 0 wrk -t1 -c"$CONNS" -d"$2"s --latency -s "$TMP/chat.lua" "http://127.0.0.1:$1/v1/chat/completions" |
    awk 'function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v + 0 } sub(/s/, "", v); return v * 1000 }
         $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
         END { printf "%d %.3f %.3f\n", rps, p50, p99 }'
}
for port in "${PORTS[@]}"; do run "$port" 1 >/dev/null; done
echo "### Gateway with telemetry on vs off — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "$(nproc) CPUs; wrk $CONNS connections and the mock upstream on CPU 0; two processes per side; $ROUNDS rounds of ${DURATION}s per process, the order rotating."
echo
echo "| round | off req/s (a + b) | on req/s (a + b) | on ÷ off | off p50 / p99 (ms) | on p50 / p99 (ms) |"
echo "|--:|--:|--:|--:|--:|--:|"
ratios=()
for r in $(seq "$ROUNDS"); do
  declare -A rps=() p50=() p99=()
  for k in 0 1 2 3; do
    i=$(((k + r) % 4))
    read -r "rps[$i]" "p50[$i]" "p99[$i]" <<<"$(run "${PORTS[$i]}" "$DURATION")"
  done
  off=$((rps[0] + rps[2]))
  on=$((rps[1] + rps[3]))
  ratio=$(awk -v a="$off" -v b="$on" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
  ratios+=("$ratio")
  echo "| $r | $off | $on | ${ratio}× | ${p50[0]} / ${p99[0]} | ${p50[1]} / ${p99[1]} |"
done
written=0 dropped=0 boosts=0
for i in 1 3; do
  metrics=$(curl -s "http://127.0.0.1:${PORTS[$i]}/metrics")
  read -r w d b <<<"$(awk '$1 == "agentplane_telemetry_written_items_total" { w = $2 }
                          $1 == "agentplane_telemetry_dropped_items_total" { d = $2 }
                          $1 == "agentplane_telemetry_writer_boosts_total" { b = $2 }
                          END { print w + 0, d + 0, b + 0 }' <<<"$metrics")"
  written=$((written + w)) dropped=$((dropped + d)) boosts=$((boosts + b))
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
quartiles=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int(NR / 4) + 1] "–" v[int(3 * NR / 4)] }')
echo
echo "Telemetry writers: $written items written, $dropped dropped; a write returned from idle priority $boosts times."
verdict=FAIL
awk -v m="$median" 'BEGIN { exit !(m >= 0.95) }' && verdict=PASS
[ "$dropped" = 0 ] || verdict=FAIL
echo "- $verdict: requests/s with telemetry on ≥ 0.95× off: median ${median}× (middle half $quartiles), $dropped dropped"
