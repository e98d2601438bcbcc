#!/usr/bin/env bash
# Gateway benchmark (`make bench`): agentplane's gateway side by side with nginx (a plain reverse
# proxy, the floor) and Portkey's gateway (@portkey-ai/gateway), all in front of the same mock
# OpenAI upstream (nginx serving fixed bodies), measured with wrk on 127.0.0.1 only. Prints a
# markdown table (latency p50/p99, requests/s, added latency and ratios to nginx, CPU per request,
# resident memory with 1,000 idle connections) and PASS/FAIL lines for agentplane's targets, and
# writes bench/results/gateway-<timestamp>.json. See docs/benchmarks.md.
#
# Every system is started first and stays up; then BENCH_ROUNDS rounds each run every scenario on
# every system, the order of the systems rotating from round to round, so a slow minute of this
# machine lands on all of them alike. The report gives each figure's median over the rounds, and
# added latency and ratios are taken within a round (against that round's direct and nginx runs).
#
# Environment (all optional):
#   BENCH_DURATION=4        seconds measured per scenario and round (after BENCH_WARMUP=1 second of warm-up)
#   BENCH_ROUNDS=5          rounds (medians are reported)
#   BENCH_SYSTEMS="direct nginx portkey agentplane"   which systems to run
#   BENCH_IDLE_CONNS=1000   idle keep-alive connections held open for the memory check
#   BENCH_WRK_CPU=0         CPU list for `taskset -c` on wrk (set empty to leave it unpinned)
#   BENCH_UPSTREAM_CPU=0    same for the mock upstream. By default the load side (wrk + upstream)
#                           shares CPU 0 and the proxy under test is unpinned (may use both CPUs).
#   BENCH_WRK_THREADS=1     wrk threads
#   AGENTPLANE_BIN=build/agentplane
#   BENCH_KEEP_TMP=1        keep the temp dir (configs, logs) for inspection
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-5}
SYSTEMS=${BENCH_SYSTEMS:-"direct nginx portkey agentplane"}
IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
WRK_CPU=${BENCH_WRK_CPU-0}
UPSTREAM_CPU=${BENCH_UPSTREAM_CPU-0}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
AGENTPLANE=${AGENTPLANE_BIN:-$ROOT/build/agentplane}
PORTKEY_JS=$HERE/node_modules/@portkey-ai/gateway/build/start-server.js
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
HARD_LIMIT_S=${BENCH_HARD_LIMIT_S:-900} # the whole run is killed after this many seconds

# name connections body-file upstream-path: the three scenarios every system runs
SCENARIOS=(
  "chat-c1 1 req-json.json /v1"
  "chat-c32 32 req-json.json /v1"
  "stream-c8 8 req-sse.json /stream/v1"
)

# shellcheck source=mock_upstream.sh
. "$HERE/mock_upstream.sh"

log() { echo "[bench] $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk node curl "$NGINX"; do command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"; done
[ -f "$PORTKEY_JS" ] || die "Portkey not installed: run scripts/install-deps.sh npm bench/gateway"

# 1,000 idle connections need ~2,000 descriptors on this side plus the server's.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d -t agentplane-bench.XXXXXX)
chmod 755 "$TMP" # nginx workers drop to 'nobody' when started as root; they must read the bodies
PIDS=()          # every process this script started (killed on exit)
WATCHDOG=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$WATCHDOG" ]; then # the subshell first (so it reports nothing), then its sleep
    local sleeper; sleeper=$(pgrep -P "$WATCHDOG" || true)
    kill "$WATCHDOG" 2>/dev/null || true
    [ -n "$sleeper" ] && kill $sleeper 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
# Watchdog: a subshell whose only child is the sleep; cleanup kills both (by pid), so no orphan
# holds this script's stdout open.
(sleep "$HARD_LIMIT_S" >/dev/null 2>&1 && echo "[bench] hard limit of ${HARD_LIMIT_S}s reached, stopping" >&2 && kill -TERM $$) &
WATCHDOG=$!


# wait_http URL SECONDS: polls until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

# start NAME CMD...: runs CMD in the background with its output in $TMP/NAME.log; sets $LAST_PID.
start() {
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# forget PID: drops a process that has exited from PIDS, so cleanup never signals a reused pid.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop PID: terminates one process this script started and waits for it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# pids of a process and its children (nginx master + workers)
tree_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }

# cpu_ticks PIDS...: utime+stime of these processes, in clock ticks
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${f% *} + ${f#* }))
  done
  echo "$t"
}

rss_kb() { # sum of VmRSS over PIDS, in kB
  local t=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

RESULTS=$TMP/results.jsonl
: >"$RESULTS"

# check SYSTEM URL UPSTREAM_PATH: one request of each kind through the system; the streamed body
# must come back whole (100 events and [DONE]). Records a "check" line; returns 1 on failure.
check() {
  local sys=$1 url=$2 upath=$3 kind=$4 out code ok=true detail=""
  out=$TMP/check-$sys-$kind.out
  code=$(curl -s -m 10 -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'Authorization: Bearer sk-bench-not-a-real-key' -H 'x-portkey-provider: openai' \
    -H "x-portkey-custom-host: http://127.0.0.1:$UPSTREAM_PORT$upath" \
    --data-binary "@$TMP/req-$kind.json" "$url" || true)
  if [ "$code" != 200 ]; then ok=false; detail="HTTP $code: $(head -c 200 "$out" | tr -d '\n"\\')"
  elif [ "$kind" = sse ]; then
    local events last
    events=$(grep -c '^data: ' "$out" || true); last=$(grep '^data: ' "$out" | tail -1)
    if [ "$events" != 101 ] || [ "$last" != 'data: [DONE]' ]; then ok=false; detail="got $events data events, last: ${last:0:40}"; fi
  elif ! grep -q '"chat.completion"' "$out"; then ok=false; detail="body: $(head -c 200 "$out" | tr -d '\n"\\')"
  fi
  echo "{\"type\":\"check\",\"system\":\"$sys\",\"kind\":\"$kind\",\"ok\":$ok,\"detail\":\"$detail\"}" >>"$RESULTS"
  $ok || log "$sys: $kind check failed: $detail"
  $ok
}

# measure SYSTEM SCENARIO URL PIDS...: warm-up, then a measured wrk run; records a "run" line
# for round $ROUND.
ROUND=1
measure() {
  local sys=$1 scen=$2 url=$3; shift 3
  local conns body upath s name c b p
  for s in "${SCENARIOS[@]}"; do
    read -r name c b p <<<"$s"
    [ "$name" = "$scen" ] && { conns=$c; body=$b; upath=$p; }
  done
  local wrk=(wrk -t"$WRK_THREADS" -c"$conns" -s "$HERE/chat.lua" --timeout 5s)
  ((WRK_THREADS > conns)) && wrk=(wrk -t"$conns" -c"$conns" -s "$HERE/chat.lua" --timeout 5s)
  [ -n "$WRK_CPU" ] && wrk=(taskset -c "$WRK_CPU" "${wrk[@]}")
  export BENCH_BODY=$TMP/$body BENCH_CUSTOM_HOST=http://127.0.0.1:$UPSTREAM_PORT$upath
  log "round $ROUND/$ROUNDS: $sys $scen: ${conns} connections, ${WARMUP}s warm-up + ${DURATION}s"
  timeout $((WARMUP + 15)) "${wrk[@]}" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  local t0 t1 out line
  t0=$(cpu_ticks "$@")
  out=$(timeout $((DURATION + 15)) "${wrk[@]}" -d"${DURATION}s" "$url" 2>&1) || true
  t1=$(cpu_ticks "$@")
  line=$(grep '^BENCH_RESULT ' <<<"$out" | sed 's/^BENCH_RESULT //') || true
  if [ -z "$line" ]; then log "$sys $scen: wrk gave no result: $(tail -3 <<<"$out")"; line=null; fi
  echo "{\"type\":\"run\",\"round\":$ROUND,\"system\":\"$sys\",\"scenario\":\"$scen\",\"connections\":$conns,\"cpu_ticks\":$((t1 - t0)),\"wrk\":$line}" >>"$RESULTS"
}

# memory SYSTEM PORT PATH IDLE_RSS_KB PIDS...: holds $IDLE_CONNS idle keep-alive connections and
# reads the resident memory of PIDS; records a "memory" line.
memory() {
  local sys=$1 port=$2 path=$3 idle=$4; shift 4
  log "$sys: memory with $IDLE_CONNS idle connections"
  local fifo=$TMP/idle-$sys.out pid opened rss still
  node "$HERE/idle-conns.js" 127.0.0.1 "$port" "$path" "$IDLE_CONNS" >"$fifo" 2>&1 &
  pid=$!; PIDS+=("$pid")
  for _ in $(seq 300); do grep -q opened "$fifo" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  sleep 0.5
  rss=$(rss_kb "$@")
  opened=$(grep opened "$fifo" | head -1); [ -n "$opened" ] || opened=null
  kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; forget "$pid"
  still=$(grep still_open "$fifo" | head -1); [ -n "$still" ] || still=null
  echo "{\"type\":\"memory\",\"system\":\"$sys\",\"rss_idle_kb\":$idle,\"rss_conns_kb\":$rss,\"idle_conns\":$IDLE_CONNS,\"open\":$opened,\"at_exit\":$still}" >>"$RESULTS"
}

# ---- fixtures and the mock upstream ---------------------------------------------------------
node "$HERE/fixtures.js" "$TMP"
read -r UPSTREAM_PORT NGINX_JSON_PORT NGINX_SSE_PORT PORTKEY_PORT AP_JSON_PORT AP_SSE_PORT <<<"$(free_ports 6)"
mkdir -p "$TMP/upstream" "$TMP/nginx"

mock_upstream_conf "$TMP" "$UPSTREAM_PORT" >"$TMP/upstream/nginx.conf"
UPSTREAM_CMD=("$NGINX")
[ -n "$UPSTREAM_CPU" ] && UPSTREAM_CMD=(taskset -c "$UPSTREAM_CPU" "$NGINX")
start upstream "${UPSTREAM_CMD[@]}" -p "$TMP/upstream" -c "$TMP/upstream/nginx.conf" -g 'daemon off;'
UPSTREAM_PID=$LAST_PID
wait_http "http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions" 10 || die "mock upstream did not start: $(cat "$TMP/upstream.log" "$TMP/upstream/error.log" 2>/dev/null)"

echo "{\"type\":\"meta\",\"started\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\",\"kernel\":\"$(uname -r)\",\"duration_s\":$DURATION,\"rounds\":$ROUNDS,\"warmup_s\":$WARMUP,\"wrk_threads\":$WRK_THREADS,\"wrk_cpu\":\"$WRK_CPU\",\"upstream_cpu\":\"$UPSTREAM_CPU\",\"nginx\":\"$("$NGINX" -v 2>&1 | cut -d/ -f2)\",\"node\":\"$(node --version)\",\"portkey\":\"$(node -p "require('$HERE/node_modules/@portkey-ai/gateway/package.json').version")\",\"wrk\":\"$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)\",\"clk_tck\":$(getconf CLK_TCK)}" >>"$RESULTS"

# ---- the systems ----------------------------------------------------------------------------
# Each start_SYSTEM starts it, checks one request of each kind through it and records its idle
# memory; it sets URL[system:scenario] (the wrk target per scenario) and the processes whose CPU
# time counts, and adds the system to UP. memory_SYSTEM runs after the rounds.
UP=()
declare -A URL CPU_PIDS IDLE_KB

start_direct() {
  local s name upath
  for s in "${SCENARIOS[@]}"; do
    read -r name _ _ upath <<<"$s"
    URL[direct:$name]="http://127.0.0.1:$UPSTREAM_PORT$upath/chat/completions"
  done
  CPU_PIDS[direct]=$(tree_pids "$UPSTREAM_PID")
  UP+=(direct)
}

start_nginx() {
  # Two listeners (one per upstream path) so the client request is the same POST /v1/chat/completions.
  cat >"$TMP/nginx/nginx.conf" <<EOF
# nginx as a plain reverse proxy (the floor): 2 workers, keep-alive upstream connections.
worker_processes 2;
worker_rlimit_nofile 65536;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream mock { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; keepalive_requests 1000000; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server {
    listen 127.0.0.1:$NGINX_JSON_PORT backlog=4096;
    location = /healthz { return 200 "ok\n"; }
    location /v1/ { proxy_pass http://mock/v1/; }
  }
  server {
    listen 127.0.0.1:$NGINX_SSE_PORT backlog=4096;
    location /v1/ { proxy_pass http://mock/stream/v1/; proxy_buffering off; }
  }
}
EOF
  start nginx "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;'
  NGINX_PID=$LAST_PID
  wait_http "http://127.0.0.1:$NGINX_JSON_PORT/healthz" 10 || { log "nginx did not start: $(cat "$TMP/nginx.log")"; return; }
  sleep 0.2
  NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
  IDLE_KB[nginx]=$(rss_kb $NGINX_WORKERS)
  local json="http://127.0.0.1:$NGINX_JSON_PORT/v1/chat/completions" sse="http://127.0.0.1:$NGINX_SSE_PORT/v1/chat/completions"
  check nginx "$json" /v1 json || true
  check nginx "$sse" /stream/v1 sse || true
  URL[nginx:chat-c1]=$json; URL[nginx:chat-c32]=$json; URL[nginx:stream-c8]=$sse
  CPU_PIDS[nginx]=$(tree_pids "$NGINX_PID")
  UP+=(nginx)
}
# workers only: the master holds no connections
memory_nginx() { memory nginx "$NGINX_JSON_PORT" /healthz "${IDLE_KB[nginx]}" $NGINX_WORKERS; }

start_portkey() {
  # Single Node process. The upstream is chosen per request by x-portkey-custom-host (chat.lua).
  start portkey env NODE_ENV=production node --require "$HERE/portkey-preload.cjs" "$PORTKEY_JS" \
    --port="$PORTKEY_PORT" --headless
  PORTKEY_PID=$LAST_PID
  wait_http "http://127.0.0.1:$PORTKEY_PORT/" 30 || { log "portkey did not start: $(tail -c 500 "$TMP/portkey.log")"; return; }
  sleep 0.2
  IDLE_KB[portkey]=$(rss_kb "$PORTKEY_PID")
  local url="http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions"
  check portkey "$url" /v1 json || true
  check portkey "$url" /stream/v1 sse || true
  URL[portkey:chat-c1]=$url; URL[portkey:chat-c32]=$url; URL[portkey:stream-c8]=$url
  CPU_PIDS[portkey]=$PORTKEY_PID
  UP+=(portkey)
}
memory_portkey() { memory portkey "$PORTKEY_PORT" / "${IDLE_KB[portkey]}" "$PORTKEY_PID"; }

# start_agentplane_one NAME PORT UPSTREAM_PATH: starts one gateway; sets $LAST_PID; returns 1 if it fails.
start_agentplane_one() {
  local name=$1 port=$2 upath=$3
  start "$name" "$AGENTPLANE" gateway --host 127.0.0.1 --port "$port" \
    --backend "http://127.0.0.1:$UPSTREAM_PORT$upath" --threads 2 --access-log off
  local pid=$LAST_PID deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    grep -q "listening on http://127.0.0.1:$port" "$TMP/$name.log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! wait_http "http://127.0.0.1:$port/healthz" 5; then
    log "agentplane did not start: $(tail -c 500 "$TMP/$name.log")"
    echo "{\"type\":\"check\",\"system\":\"agentplane\",\"kind\":\"start\",\"ok\":false,\"detail\":\"did not start\"}" >>"$RESULTS"
    stop "$pid"; return 1
  fi
}

start_agentplane() {
  if [ ! -x "$AGENTPLANE" ]; then
    log "agentplane: $AGENTPLANE not built, its rows will read 'pending'"
    echo '{"type":"check","system":"agentplane","kind":"start","ok":false,"detail":"binary not built"}' >>"$RESULTS"
    return
  fi
  # The backend is fixed per process: one instance per upstream path, both up during the rounds.
  start_agentplane_one agentplane-json "$AP_JSON_PORT" /v1 || return 0
  AP_JSON_PID=$LAST_PID
  start_agentplane_one agentplane-sse "$AP_SSE_PORT" /stream/v1 || return 0
  AP_SSE_PID=$LAST_PID
  sleep 0.2
  IDLE_KB[agentplane]=$(rss_kb "$AP_JSON_PID")
  local json="http://127.0.0.1:$AP_JSON_PORT/v1/chat/completions" sse="http://127.0.0.1:$AP_SSE_PORT/v1/chat/completions"
  check agentplane "$json" /v1 json || true
  check agentplane "$sse" /stream/v1 sse || true
  URL[agentplane:chat-c1]=$json; URL[agentplane:chat-c32]=$json; URL[agentplane:stream-c8]=$sse
  CPU_PIDS[agentplane:json]=$AP_JSON_PID; CPU_PIDS[agentplane:sse]=$AP_SSE_PID
  UP+=(agentplane)
}
memory_agentplane() {
  memory agentplane "$AP_JSON_PORT" /healthz "${IDLE_KB[agentplane]}" "$AP_JSON_PID"
  kill -0 "$AP_JSON_PID" 2>/dev/null || log "agentplane (json) exited during the run: $(tail -c 500 "$TMP/agentplane-json.log")"
  kill -0 "$AP_SSE_PID" 2>/dev/null || log "agentplane (sse) exited during the run: $(tail -c 500 "$TMP/agentplane-sse.log")"
}

# cpu_pids SYSTEM SCENARIO: the processes whose CPU time a run of SCENARIO on SYSTEM counts.
cpu_pids() {
  case "$1" in
    agentplane) if [ "$2" = stream-c8 ]; then echo "${CPU_PIDS[agentplane:sse]}"; else echo "${CPU_PIDS[agentplane:json]}"; fi ;;
    *) echo "${CPU_PIDS[$1]}" ;;
  esac
}

for sys in $SYSTEMS; do
  case "$sys" in
    direct | nginx | portkey | agentplane) "start_$sys" ;;
    *) die "unknown system $sys" ;;
  esac
done

# The rounds: scenario by scenario, every system, the systems' order rotating by one each round.
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  for s in "${SCENARIOS[@]}"; do
    read -r scen _ _ _ <<<"$s"
    n=${#UP[@]}
    for ((i = 0; i < n; i++)); do
      sys=${UP[$(((i + ROUND - 1) % n))]}
      [ -n "${URL[$sys:$scen]:-}" ] || continue
      measure "$sys" "$scen" "${URL[$sys:$scen]}" $(cpu_pids "$sys" "$scen")
    done
  done
done

for sys in "${UP[@]}"; do
  [ "$sys" = direct ] || "memory_$sys"
done

mkdir -p "$ROOT/bench/results"
OUT_JSON=$ROOT/bench/results/gateway-$(date -u +%Y%m%dT%H%M%SZ).json
node "$HERE/report.js" "$RESULTS" "$OUT_JSON"
log "results: $OUT_JSON"
