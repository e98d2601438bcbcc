#!/usr/bin/env node
// Turns the gateway benchmark's raw lines (results.jsonl written by run.sh) into the markdown
// tables printed on stdout, agentplane's PASS/FAIL targets, and the JSON file OUT.
// usage: report.js RESULTS.jsonl OUT.json
//
// Added latency = a system's percentile minus the direct (no proxy) percentile of the same
// scenario; ratios are to nginx's added latency and nginx's requests/s.
'use strict';
const fs = require('fs');

const [inPath, outPath] = process.argv.slice(2);
const lines = fs.readFileSync(inPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const meta = lines.find((l) => l.type === 'meta') || {};
const checks = lines.filter((l) => l.type === 'check');
const clkTck = meta.clk_tck || 100;

const SYSTEMS = ['direct', 'nginx', 'portkey', 'agentplane'];
const SCENARIOS = ['chat-c1', 'chat-c32', 'stream-c8'];
const TARGET = { addedLatency: 1.5, rps: 0.8, rssMB: 50 };
const NGINX_ADDED_FLOOR_MS = 0.010;

// ---- per-run figures ------------------------------------------------------------------------
// Each run belongs to a round (run.sh rotates the systems' order from round to round). Added
// latency and ratios are computed within a round — against that round's direct and nginx runs,
// taken minutes apart at most — and every figure is then summarised by its median over rounds.
const rounds = {};
for (const l of lines.filter((x) => x.type === 'run')) {
  const w = l.wrk;
  const r = { system: l.system, scenario: l.scenario, connections: l.connections, round: l.round || 1 };
  if (w) {
    const e = w.errors;
    Object.assign(r, {
      requests: w.requests,
      rps: w.requests / (w.duration_us / 1e6),
      p50_ms: w.p50_us / 1000, p90_ms: w.p90_us / 1000, p99_ms: w.p99_us / 1000, p999_ms: w.p999_us / 1000,
      mean_ms: w.mean_us / 1000, max_ms: w.max_us / 1000,
      errors: e.connect + e.read + e.write + e.timeout, non2xx: e.status,
      cpu_us_per_req: w.requests ? (l.cpu_ticks * 1e6) / clkTck / w.requests : null,
    });
  } else {
    r.failed = true;
  }
  ((rounds[r.round] ||= {})[l.system] ||= {})[l.scenario] = r;
}
const ok = (r) => r && !r.failed;

for (const inRound of Object.values(rounds)) {
  for (const scen of SCENARIOS) {
    const d = (inRound.direct || {})[scen], n = (inRound.nginx || {})[scen];
    for (const sys of SYSTEMS) {
      const r = (inRound[sys] || {})[scen];
      if (!ok(r) || sys === 'direct') continue;
      if (ok(d)) {
        r.added_p50_ms = r.p50_ms - d.p50_ms;
        r.added_p99_ms = r.p99_ms - d.p99_ms;
      }
      if (ok(n) && ok(d)) {
        // nginx's added latency can be within noise of zero (or below it); floor it at 10 µs, about
        // the least one proxy hop costs here, so ratios stay finite and meaningful
        // and a negative added latency (the system's percentile below direct's: noise) counts as 0
        r.added_p50_vs_nginx = Math.max(r.added_p50_ms, 0) / Math.max(n.p50_ms - d.p50_ms, NGINX_ADDED_FLOOR_MS);
        r.added_p99_vs_nginx = Math.max(r.added_p99_ms, 0) / Math.max(n.p99_ms - d.p99_ms, NGINX_ADDED_FLOOR_MS);
      }
      if (ok(n)) r.rps_vs_nginx = r.rps / n.rps;
    }
  }
}

// The median of each figure over the rounds in which the run succeeded; `per_round` keeps the
// ratios round by round for the targets' detail.
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const FIGURES = ['requests', 'rps', 'p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'mean_ms', 'max_ms', 'cpu_us_per_req',
  'added_p50_ms', 'added_p99_ms', 'added_p50_vs_nginx', 'added_p99_vs_nginx', 'rps_vs_nginx'];
const runs = {};
for (const sys of SYSTEMS) {
  for (const scen of SCENARIOS) {
    const all = Object.keys(rounds).sort((a, b) => a - b).map((k) => (rounds[k][sys] || {})[scen]).filter(Boolean);
    if (!all.length) continue;
    const good = all.filter(ok);
    const r = { system: sys, scenario: scen, connections: all[0].connections, rounds: all.length, rounds_ok: good.length };
    if (!good.length) r.failed = true;
    for (const k of FIGURES) r[k] = median(good.map((x) => x[k]));
    r.errors = good.reduce((a, x) => a + x.errors, 0) + (all.length - good.length);
    r.non2xx = good.reduce((a, x) => a + x.non2xx, 0);
    r.per_round = all.map((x) => ({ round: x.round, failed: !!x.failed, p50_ms: x.p50_ms, p99_ms: x.p99_ms, rps: x.rps,
      cpu_us_per_req: x.cpu_us_per_req, added_p50_vs_nginx: x.added_p50_vs_nginx, added_p99_vs_nginx: x.added_p99_vs_nginx,
      rps_vs_nginx: x.rps_vs_nginx }));
    (runs[sys] ||= {})[scen] = r;
  }
}
const get = (sys, scen) => (runs[sys] || {})[scen];

// ---- memory ---------------------------------------------------------------------------------
const memory = {};
for (const m of lines.filter((x) => x.type === 'memory')) {
  memory[m.system] = {
    rss_idle_mb: (m.rss_idle_kb * 1024) / 1e6,
    rss_conns_mb: (m.rss_conns_kb * 1024) / 1e6,
    idle_conns: m.idle_conns,
    answered: m.open ? m.open.ok : null,
    still_open: m.at_exit ? m.at_exit.still_open : null,
  };
}

// ---- tables ---------------------------------------------------------------------------------
const f = (v, digits = 3) => (v === undefined || v === null || Number.isNaN(v) ? '–' : v.toFixed(digits));
const x = (v) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v.toFixed(2) + '×');
const rpsFmt = (v) => (v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const failedCheck = (sys) => checks.filter((c) => c.system === sys && !c.ok);
const pending = (sys) => sys === 'agentplane' && failedCheck(sys).some((c) => c.kind === 'start');

const out = [];
out.push(`### Gateway benchmark — ${meta.started || ''}`);
out.push('');
out.push(`${meta.nproc} × ${meta.cpu}, kernel ${meta.kernel}; wrk ${meta.wrk} (${meta.wrk_threads} thread${meta.wrk_threads > 1 ? 's' : ''}` +
  `${meta.wrk_cpu ? `, taskset -c ${meta.wrk_cpu}` : ', not pinned'}; mock upstream ${meta.upstream_cpu ? `taskset -c ${meta.upstream_cpu}` : 'not pinned'}), ` +
  `${meta.rounds || 1} round${(meta.rounds || 1) > 1 ? 's' : ''} of ${meta.warmup_s}s warm-up + ${meta.duration_s}s per scenario and system, the systems' order rotating; ` +
  `nginx ${meta.nginx}, Node ${meta.node}, @portkey-ai/gateway ${meta.portkey}.`);
out.push('');
out.push('Medians over the rounds. Latency in ms (wrk, full response). Added = system − direct at the same percentile, ' +
  'and ratios to nginx, taken within each round. CPU/req = the system\'s own CPU time per request.');
out.push('');
out.push('| Scenario | System | p50 | p99 | Req/s | Added p50 | Added p99 | Added p50 ÷ nginx | Added p99 ÷ nginx | Req/s ÷ nginx | CPU/req (µs) | Errors |');
out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
for (const scen of SCENARIOS) {
  for (const sys of SYSTEMS) {
    const r = get(sys, scen);
    if (!r) {
      if (pending(sys) || failedCheck(sys).length) {
        out.push(`| ${scen} | ${sys} | ${pending(sys) ? 'pending' : 'failed'} | | | | | | | | | |`);
      }
      continue;
    }
    if (r.failed) { out.push(`| ${scen} | ${sys} | failed | | | | | | | | | |`); continue; }
    const errs = r.errors + r.non2xx ? `${r.errors} io, ${r.non2xx} non-2xx` : '0';
    out.push(`| ${scen} | ${sys} | ${f(r.p50_ms)} | ${f(r.p99_ms)} | ${rpsFmt(r.rps)} | ${f(r.added_p50_ms)} | ${f(r.added_p99_ms)} | ` +
      `${x(r.added_p50_vs_nginx)} | ${x(r.added_p99_vs_nginx)} | ${x(r.rps_vs_nginx)} | ${f(r.cpu_us_per_req, 1)} | ${errs} |`);
  }
}
const noisy = SCENARIOS.map((sc) => get('direct', sc)).filter((d) => ok(d) && d.p99_ms > 10 * d.p50_ms && d.p99_ms > 1);
if (noisy.length) {
  out.push('');
  out.push(`Note: direct (no proxy) p99 is ${noisy.map((d) => `${f(d.p99_ms)} ms in ${d.scenario}`).join(', ')} — the tail is ` +
    'scheduler noise on this machine (other load, CPU contention), so added p99 and its ratios are indicative only; ' +
    'a negative added latency counts as 0 in the ratios.');
}
out.push('');
out.push('| System | RSS idle (MB) | RSS with idle connections (MB) | Idle connections answered / still open |');
out.push('|---|--:|--:|--:|');
for (const sys of SYSTEMS) {
  const m = memory[sys];
  if (!m) { if (pending(sys)) out.push(`| ${sys} | pending | pending | |`); continue; }
  out.push(`| ${sys}${sys === 'nginx' ? ' (2 workers)' : ''} | ${f(m.rss_idle_mb, 1)} | ${f(m.rss_conns_mb, 1)} | ${m.answered ?? '–'} / ${m.still_open ?? '–'} of ${m.idle_conns} |`);
}

// ---- agentplane's targets -------------------------------------------------------------------
const targets = [];
const byRound = (r, k) => r.per_round.map((one) => (one.failed ? 'failed' : x(one[k]))).join(', ');
const target = (name, value, limit, pass, detail) => targets.push({ name, value, limit, result: pass, detail });
const agentplaneRan = runs.agentplane || memory.agentplane || checks.some((c) => c.system === 'agentplane');
if (!agentplaneRan) {
  target('agentplane', null, null, 'SKIPPED', 'not in BENCH_SYSTEMS');
} else if (pending('agentplane')) {
  target('agentplane', null, null, 'PENDING', failedCheck('agentplane').map((c) => c.detail).join('; '));
} else {
  for (const scen of SCENARIOS) {
    const r = get('agentplane', scen), n = get('nginx', scen);
    for (const p of ['p50', 'p99']) {
      const v = r && r[`added_${p}_vs_nginx`];
      const clean = ok(r) && r.errors + r.non2xx === 0;
      if (!ok(get('direct', scen)) || !ok(n)) {
        target(`${scen} added latency ${p} ≤ ${TARGET.addedLatency}× nginx`, null, TARGET.addedLatency, 'SKIPPED', 'needs the direct and nginx runs');
        continue;
      }
      target(`${scen} added latency ${p} ≤ ${TARGET.addedLatency}× nginx`, v, TARGET.addedLatency,
        v !== undefined && clean && v <= TARGET.addedLatency ? 'PASS' : 'FAIL',
        ok(r) && ok(n) ? `agentplane +${f(r[`added_${p}_ms`])} ms, nginx +${f(n[`added_${p}_ms`])} ms; by round ${byRound(r, `added_${p}_vs_nginx`)}${clean ? '' : ', with errors'}` : 'no result');
    }
  }
  const r = get('agentplane', 'chat-c32');
  const v = r && r.rps_vs_nginx;
  target(`chat-c32 requests/s ≥ ${TARGET.rps}× nginx`, v, TARGET.rps,
    !ok(get('nginx', 'chat-c32')) ? 'SKIPPED' : v !== undefined && r.errors + r.non2xx === 0 && v >= TARGET.rps ? 'PASS' : 'FAIL',
    ok(r) && ok(get('nginx', 'chat-c32')) ? `agentplane ${rpsFmt(r.rps)}/s, nginx ${rpsFmt(get('nginx', 'chat-c32').rps)}/s; by round ${byRound(r, 'rps_vs_nginx')}` : 'no result');
  const m = memory.agentplane;
  const held = m && m.answered === m.idle_conns && m.still_open === m.idle_conns;
  target(`RSS with ${m ? m.idle_conns : 1000} idle connections ≤ ${TARGET.rssMB} MB`, m && m.rss_conns_mb, TARGET.rssMB,
    m && held && m.rss_conns_mb <= TARGET.rssMB ? 'PASS' : 'FAIL',
    m ? `${f(m.rss_conns_mb, 1)} MB, ${m.answered} answered, ${m.still_open} still open` : 'no result');
  for (const c of failedCheck('agentplane')) target(`correctness: ${c.kind}`, null, null, 'FAIL', c.detail);
}
out.push('');
out.push('agentplane targets:');
out.push('');
for (const t of targets) {
  const v = typeof t.value === 'number' ? (t.name.includes('RSS') ? ` ${f(t.value, 1)} MB` : ` ${x(t.value)}`) : '';
  out.push(`- ${t.result}: ${t.name}:${v} (${t.detail})`);
}
const otherFailures = checks.filter((c) => !c.ok && c.system !== 'agentplane');
if (otherFailures.length) {
  out.push('');
  for (const c of otherFailures) out.push(`- note: ${c.system} ${c.kind} check failed: ${c.detail}`);
}
console.log(out.join('\n'));

const flat = [];
for (const sys of SYSTEMS) for (const scen of SCENARIOS) if (get(sys, scen)) flat.push(get(sys, scen));
fs.writeFileSync(outPath, JSON.stringify({ meta, checks, runs: flat, memory, targets }, null, 2) + '\n');
