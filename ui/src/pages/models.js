// ui/src/pages/models.js — every scheduled model's replicas, live: health, waiting/running
// requests, KV-cache use, the replica's own prefix-cache hit rate (vLLM's counters, over the
// last update), requests in flight and picks per second, and the scheduler's latest picks.
// GET /api/scheduler/replicas: operator data (admin key or local mode).
import { get } from '../api.js';
import { h, clear, fmt, table, card, bar } from '../util.js';

export function models() {
  const body = h('div');
  const el = h('div', {}, h('h1', {}, 'Models and replicas'), body);
  let prev = null, prevAt = 0;

  async function update() {
    const data = await get('/api/scheduler/replicas');
    const now = Date.now();
    const dt = prev ? (now - prevAt) / 1000 : 0;
    const before = new Map();
    if (prev) for (const m of prev.models) for (const r of m.replicas) before.set(m.model + '/' + r.name, r);
    if (!data.models.length) {
      clear(body, h('p', { class: 'empty' }, 'No model is scheduled (models need a scheduler: block; agentplane up schedules its fleet).'));
    } else {
      clear(body, data.models.map((m) => card(m.model,
        h('p', { class: 'muted' }, `mode ${m.mode} · queue ${m.queue_depth} waiting at the gateway · ` +
          `estimated prefix hit ${fmt.pct(m.prefix_hit_ratio)} · refused ${m.rejected_queue_full + m.rejected_queue_timeout}`),
        table(['replica', 'health', 'waiting', 'running', 'in flight', 'KV cache', 'prefix-cache hits', 'picks/s', 'picks'],
          m.replicas.map((r) => {
            const p = before.get(m.model + '/' + r.name);
            const dq = p && r.prefix_cache_queries !== null ? r.prefix_cache_queries - p.prefix_cache_queries : 0;
            const dh = p && r.prefix_cache_hits !== null ? r.prefix_cache_hits - p.prefix_cache_hits : 0;
            const hit = dq > 0 ? dh / dq : r.prefix_cache_queries ? r.prefix_cache_hits / r.prefix_cache_queries : null;
            const health = !r.up ? 'down' : r.fresh ? 'up' : 'stale';
            return { cells: [r.name, { cls: 'status ' + (health === 'up' ? 'ok' : 'error'), v: health }, r.waiting, r.running,
              r.in_flight, r.kv_cache_usage === null ? '–' : bar(r.kv_cache_usage, { warn: 0.7, bad: 0.9 }),
              hit === null ? '–' : fmt.pct(hit), p && dt > 0 ? fmt.rate((r.picks - p.picks) / dt) : '–', fmt.num(r.picks)] };
          })),
        h('h3', {}, 'Latest picks'),
        h('ol', { class: 'picks' }, m.recent_picks.slice(-10).reverse().map((p) =>
          h('li', {}, h('b', {}, p.replica), ` score ${p.score.toFixed(2)}`,
            p.prefix_share !== null ? ` · prefix ${fmt.pct(p.prefix_share, 0)}` : '', h('span', { class: 'muted' }, ' ' + fmt.ago(p.ago_ms))))))));
    }
    prev = data;
    prevAt = now;
  }
  return { el, title: 'Models', update };
}
