#!/usr/bin/env bash
# Gateway requests/s and CPU per request with every limit on vs off (issue 6: >= 0.9x).
# One `agentplane gateway` process in front of nginx serving a fixed chat completion (the same
# mock as bench/gateway), driven by wrk with 32 connections on 127.0.0.1. Modes, alternated
# round by round so drift hits each alike:
#   off    no limits: block (a static key)
#   local  limits with a key in a team, both with rpm, tpm, max_parallel and a budget (8
#          counters per request), counters in the gateway process
#   redis  the same with counters in redis-server on loopback (started here)
# Modes run one after another in each round, in an order that rotates round by round.
# Prints a Markdown table (docs/benchmarks.md, "## Limits").
#   BENCH_DURATION=8 BENCH_ROUNDS=3 bench/limits/gateway.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${BENCH_DURATION:-8}
ROUNDS=${BENCH_ROUNDS:-3}
AGENTPLANE=${AGENTPLANE_BIN:-$ROOT/build/agentplane}
TMP=$(mktemp -d -t agentplane-limits-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
for tool in wrk nginx redis-server curl node; do
  command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done

port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

node "$ROOT/bench/gateway/fixtures.js" "$TMP" >/dev/null
UP=$(port)
REDIS=$(port)
{
  echo "worker_processes 1; pid $TMP/upstream.pid; error_log $TMP/upstream-error.log warn;"
  echo "events { worker_connections 8192; }"
  echo "http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s; etag off;"
  echo "  server { listen 127.0.0.1:$UP backlog=4096; root $TMP/www; types {}"
  echo "    location /v1/ { default_type application/json; error_page 405 =200 \$uri; } } }"
} >"$TMP/upstream.conf"
taskset -c 0 nginx -p "$TMP" -c "$TMP/upstream.conf" -g 'daemon off;' &
PIDS+=($!)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning &
PIDS+=($!)
wait_http "http://127.0.0.1:$UP/v1/chat/completions"

ADMIN=admin-key-for-the-benchmark-01
{
  echo 'local f = assert(io.open(os.getenv("BENCH_BODY"), "rb")); wrk.body = f:read("*a"); f:close()'
  echo 'wrk.method = "POST"'
  echo 'wrk.headers["Content-Type"] = "application/json"'
  echo 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")'
  echo 'function done(summary, latency, requests)'
  echo '  io.write(string.format("BENCH %d %d %d %d\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99)))'
  echo 'end'
} >"$TMP/wrk.lua"

# start_gateway MODE: sets GW_PID, GW_PORT and KEY.
start_gateway() {
  local mode=$1 cfg="$TMP/$1.yaml"
  GW_PORT=$(port)
  {
    echo "server: {host: 127.0.0.1, port: $GW_PORT, threads: 1, access_log: off}"
    echo "backends: [{name: mock, url: \"http://127.0.0.1:$UP/v1\", model: gpt-4o-mini}]"
    echo "models: [{name: gpt-4o-mini, backends: [mock]}]"
    case $mode in
      off) echo "auth: {keys: [sk-static-bench-key-000001]}" ;;
      local) echo "limits: {admin_key: $ADMIN, data_dir: $TMP/keys-$RANDOM}" ;;
      redis) echo "limits: {admin_key: $ADMIN, redis: \"redis://127.0.0.1:$REDIS\", redis_timeout: 1s}" ;;
    esac
  } >"$cfg"
  "$AGENTPLANE" gateway --config "$cfg" >"$TMP/$mode.log" 2>&1 &
  GW_PID=$!
  wait_http "http://127.0.0.1:$GW_PORT/healthz"
  KEY=sk-static-bench-key-000001
  if [ "$mode" != off ]; then
    local limits='"rpm":1000000000,"tpm":1000000000000,"max_parallel":100000,"budget_usd":1000000000'
    local team="bench$RANDOM"
    curl -sf -XPOST "http://127.0.0.1:$GW_PORT/admin/teams" -H "authorization: Bearer $ADMIN" -d "{\"name\":\"$team\",$limits}" >/dev/null
    KEY=$(curl -sf -XPOST "http://127.0.0.1:$GW_PORT/admin/keys" -H "authorization: Bearer $ADMIN" \
            -d "{\"team\":\"$team\",$limits}" | node -p 'JSON.parse(require("fs").readFileSync(0)).key')
  fi
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$GW_PORT/v1/chat/completions" \
           -H "authorization: Bearer $KEY" -H 'content-type: application/json' --data-binary @"$TMP/req-json.json")
  [ "$code" = 200 ] || { echo "gateway $mode answered $code: $(cat "$TMP/$mode.log")" >&2; exit 1; }
}

declare -A RPS CPU P50 P99
for mode in off local redis; do RPS[$mode]=""; CPU[$mode]=""; P50[$mode]=""; P99[$mode]=""; done
MODES=(off local redis)
for round in $(seq "$ROUNDS"); do
  # The order rotates round by round, so no mode always runs first or last.
  for i in 0 1 2; do
    mode=${MODES[$(((i + round) % 3))]}
    start_gateway "$mode"
    BENCH_BODY="$TMP/req-json.json" BENCH_KEY=$KEY taskset -c 0 wrk -t1 -c32 -d2s -s "$TMP/wrk.lua" \
      "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null
    t0=$(cpu_ticks "$GW_PID")
    out=$(BENCH_BODY="$TMP/req-json.json" BENCH_KEY=$KEY taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" -s "$TMP/wrk.lua" \
            "http://127.0.0.1:$GW_PORT/v1/chat/completions" | grep '^BENCH')
    t1=$(cpu_ticks "$GW_PID")
    kill "$GW_PID"
    wait "$GW_PID" 2>/dev/null || true
    read -r _ n us p50 p99 <<<"$out"
    RPS[$mode]+="$(awk -v n="$n" -v us="$us" 'BEGIN{printf "%.0f", n/(us/1e6)}') "
    CPU[$mode]+="$(awk -v n="$n" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz*1e6/n}') "
    P50[$mode]+="$p50 "
    P99[$mode]+="$p99 "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
OFF=$(echo "${RPS[off]}" | median)
echo "| gateway, 1 event loop, wrk 32 connections (median of $ROUNDS x ${DURATION}s) | req/s | vs off | gateway CPU µs/request | p50 µs | p99 µs | target |"
echo "|---|---|---|---|---|---|---|"
for mode in off local redis; do
  r=$(echo "${RPS[$mode]}" | median)
  if [ "$mode" = off ]; then label="limits off (a static key)"; target=""; else label="all limits on, $mode counters"; target=">= 0.9x"; fi
  printf "| %s | %s | %.3fx | %s | %s | %s | %s |\n" "$label" "$r" "$(awk -v a="$r" -v b="$OFF" 'BEGIN{print a/b}')" \
    "$(echo "${CPU[$mode]}" | median)" "$(echo "${P50[$mode]}" | median)" "$(echo "${P99[$mode]}" | median)" "$target"
done
echo
echo "runs (req/s): off ${RPS[off]}| local ${RPS[local]}| redis ${RPS[redis]}"
