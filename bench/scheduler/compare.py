#!/usr/bin/env python3
"""bench/scheduler/compare.py — the scheduler comparison (driven by run.sh; see docs/benchmarks.md).

For each scheduling mode (round-robin, random, load, prefix, default) it starts a fresh simulated
fleet (`agentplane sim`) and a gateway whose model uses that mode, then runs the shared-prefix
workload (`agentplane bench`) at each QPS level, recording TTFT p50/p90, output tokens/s, errors
and the simulators' own prefix-cache hit rate (vllm:prefix_cache_hits_total / queries_total,
delta over the run). Prints a markdown table, checks the targets and writes JSON.
Everything it starts listens on 127.0.0.1 and is killed before it returns (also on errors).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

PROCS = []


def log(msg):
    print(f"[scheduler-bench] {msg}", file=sys.stderr, flush=True)


def start(cmd, pattern, count, timeout=30):
    """Starts cmd, returns (proc, [ports]) once `count` lines match `pattern` on stdout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)
    PROCS.append(p)
    ports, deadline = [], time.time() + timeout
    while len(ports) < count and time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            ports.append(int(m.group(1)))
    if len(ports) < count:
        raise RuntimeError(f"{cmd[1]} did not start: {' '.join(cmd)}")
    return p, ports


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def prefix_counters(ports):
    hits = queries = 0.0
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith("vllm:prefix_cache_hits_total"):
                hits += float(line.split()[-1])
            elif line.startswith("vllm:prefix_cache_queries_total"):
                queries += float(line.split()[-1])
    return hits, queries


def cache_tokens(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(r'vllm:cache_config_info\{[^}]*block_size="(\d+)"[^}]*num_gpu_blocks="(\d+)"', text)
    if not m:
        m2 = re.search(r'vllm:cache_config_info\{[^}]*num_gpu_blocks="(\d+)"[^}]*block_size="(\d+)"', text)
        return int(m2.group(1)) * int(m2.group(2))
    return int(m.group(1)) * int(m.group(2))


def run_mode(a, mode, tmp):
    sim_cmd = [a.bin, "sim", "--port", "0", "--replicas", str(a.replicas), "--gpu", a.gpu,
               "--gpu-memory-utilization", str(a.gpu_mem), "--time-scale", str(a.time_scale),
               "--seed", "1", "--log-level", "error"]
    sim, ports = start(sim_cmd, r"sim replica \d+ listening on http://127\.0\.0\.1:(\d+)", a.replicas)
    rows = []
    try:
        kv_tokens = cache_tokens(ports[0])
        cfg = os.path.join(tmp, f"gateway-{mode}.yaml")
        with open(cfg, "w") as f:
            f.write("server: {host: 127.0.0.1, port: 0, access_log: off, threads: %d}\nbackends:\n" % a.gateway_threads)
            for i, p in enumerate(ports):
                f.write(f"  - {{name: r{i}, url: http://127.0.0.1:{p}/v1, model: meta-llama/Llama-3.1-8B-Instruct, retries: {{attempts: 1}}, "
                        "timeouts: {first_byte: 600s, total: 900s}}\n")
            f.write("models:\n  - name: m\n    backends: [%s]\n" % ", ".join(f"r{i}" for i in range(len(ports))))
            f.write(f"    scheduler: {{mode: {mode}, queue: {{max: 100000, timeout: 600s}}}}\n")
        gw, gw_ports = start([a.bin, "gateway", "--config", cfg, "--log-level", "error"],
                             r"listening on http://127\.0\.0\.1:(\d+)", 1)
        try:
            for qps in a.qps:
                h0, q0 = prefix_counters(ports)
                out = os.path.join(tmp, f"{mode}-{qps}.json")
                cmd = [a.bin, "bench", "--url", f"http://127.0.0.1:{gw_ports[0]}/v1", "--model", "m",
                       "--qps", str(qps), "--duration", f"{a.duration}s", "--warmup", f"{a.warmup}s",
                       "--workload", "shared-prefix", "--groups", str(a.groups), "--users", str(a.users),
                       "--prefix-tokens", str(a.prefix_tokens), "--question-tokens", str(a.question_tokens),
                       "--output-tokens", str(a.output_tokens), "--timeout", "900s", "--seed", "7",
                       "--json-out", out, "--json"]
                t0 = time.time()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1200)
                h1, q1 = prefix_counters(ports)
                r = json.load(open(out))
                ttft = r.get("ttft_ms", {})
                row = {"mode": mode, "qps": qps, "requests": r.get("requests"), "ok": r.get("ok"),
                       "failed": r.get("failed"), "ttft_p50_ms": ttft.get("p50"), "ttft_p90_ms": ttft.get("p90"),
                       "output_tok_s": r.get("output_token_rate"), "request_rate": r.get("request_rate"),
                       "prefix_hit_rate": (h1 - h0) / (q1 - q0) if q1 > q0 else 0.0,
                       "wall_s": round(time.time() - t0, 1), "kv_tokens_per_replica": kv_tokens}
                rows.append(row)
                log(f"{mode:12s} qps {qps:6.2f}: ttft p50 {row['ttft_p50_ms'] or 0:9.1f} ms, "
                    f"p90 {row['ttft_p90_ms'] or 0:9.1f} ms, {row['output_tok_s'] or 0:8.1f} out tok/s, "
                    f"hit {row['prefix_hit_rate']:.2f}, failed {row['failed']}")
        finally:
            stop(gw)
    finally:
        stop(sim)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--modes", default="round-robin,random,load,prefix,default")
    ap.add_argument("--qps", default="4,8,12,16")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--gpu", default="H100")
    ap.add_argument("--gpu-mem", type=float, default=0.2245)
    ap.add_argument("--time-scale", type=float, default=2.0)
    ap.add_argument("--groups", type=int, default=16)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--prefix-tokens", type=int, default=6000)
    ap.add_argument("--question-tokens", type=int, default=200)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--gateway-threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    a.qps = [float(x) for x in a.qps.split(",")]
    modes = a.modes.split(",")
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="agentplane-sched-bench.")
    rows = []
    try:
        for mode in modes:
            rows += run_mode(a, mode, tmp)
    finally:
        for p in list(PROCS):
            stop(p)
    report(a, modes, rows)


def report(a, modes, rows):
    kv = rows[0]["kv_tokens_per_replica"] if rows else 0
    shared = a.groups * a.prefix_tokens
    print(f"\nScheduler comparison: {a.replicas} simulated {a.gpu} replicas (Llama-3.1-8B profile, "
          f"{kv} KV tokens each, {a.replicas * kv} in all), shared-prefix {a.groups} groups x "
          f"{a.prefix_tokens} tokens = {shared} tokens ({shared / max(1, a.replicas * kv):.0%} of the fleet's KV cache), "
          f"{a.users} users/group, question {a.question_tokens}, output {a.output_tokens}; "
          f"time scale {a.time_scale} (real seconds per simulated second; latencies below are real)\n")
    print("| mode | QPS | ok/failed | TTFT p50 (ms) | TTFT p90 (ms) | output tok/s | sim prefix hit rate |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['qps']:g} | {r['ok']}/{r['failed']} | {r['ttft_p50_ms'] or 0:.1f} | "
              f"{r['ttft_p90_ms'] or 0:.1f} | {r['output_tok_s'] or 0:.1f} | {r['prefix_hit_rate']:.1%} |")
    verdict = {}
    if "round-robin" in modes and "default" in modes:
        by = {(r["mode"], r["qps"]): r for r in rows}
        sustained = [q for q in a.qps
                     if all(by.get((m, q)) and by[(m, q)]["ok"] and by[(m, q)]["failed"] <= 0.01 * by[(m, q)]["requests"]
                            for m in ("round-robin", "default"))]
        if sustained:
            q = max(sustained)
            rr, d = by[("round-robin", q)], by[("default", q)]
            ttft_ratio = (d["ttft_p90_ms"] or 0) / max(rr["ttft_p90_ms"] or 1e-9, 1e-9)
            tput_ratio = (d["output_tok_s"] or 0) / max(rr["output_tok_s"] or 1e-9, 1e-9)
            verdict = {"qps": q, "ttft_p90_ratio": ttft_ratio, "throughput_ratio": tput_ratio,
                       "ttft_target_met": ttft_ratio <= 0.1, "throughput_target_met": tput_ratio >= 1.8}
            print(f"\nAt {q:g} QPS (highest load both completed with <1% errors): default TTFT p90 = "
                  f"{ttft_ratio:.3f} x round-robin's (target <= 0.1: {'PASS' if ttft_ratio <= 0.1 else 'FAIL'}), "
                  f"output tok/s = {tput_ratio:.2f} x (target >= 1.8: {'PASS' if tput_ratio >= 1.8 else 'FAIL'})")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = os.path.join(a.out, f"scheduler-{'smoke-' if a.smoke else ''}{stamp}.json")
    with open(path, "w") as f:
        json.dump({"args": vars(a), "rows": rows, "verdict": verdict}, f, indent=1)
    print(f"\nwrote {path}")
    if not rows or any(not r["ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
