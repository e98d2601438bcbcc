// ui/src/pages/fleet.js — each GPU's utilisation, memory, temperature and power (DCGM-exporter
// series, from the simulator or real exporters, as the scheduler last scraped them), grouped by
// cluster and node, with a short utilisation history kept in the page.
// GET /api/fleet/gpus: operator data (admin key or local mode).
import { get } from '../api.js';
import { h, s, clear, fmt, card, bar } from '../util.js';

const kHistory = 60;  // samples (2 minutes at one every 2 s)

function spark(values) {
  const w = 120, ht = 24;
  const pts = values.map((v, i) => `${((i / (kHistory - 1)) * w).toFixed(1)},${(ht - (v / 100) * ht).toFixed(1)}`).join(' ');
  return s('svg', { viewBox: `0 0 ${w} ${ht}`, class: 'spark' }, s('polyline', { points: pts }));
}

export function fleet() {
  const body = h('div');
  const el = h('div', {}, h('h1', {}, 'GPU fleet'), body);
  const history = new Map();

  async function update() {
    const data = await get('/api/fleet/gpus');
    let count = 0;
    const clusters = data.clusters.map((c) => card(`cluster ${c.name}`, c.nodes.map((n) =>
      h('div', { class: 'node' }, h('h3', {}, `node ${n.name} · ${n.gpus.length} GPU${n.gpus.length === 1 ? '' : 's'}`),
        h('div', { class: 'gpus' }, n.gpus.map((g) => {
          count++;
          const id = g.uuid || g.replica + '/' + g.gpu;
          const hist = history.get(id) ?? [];
          if (g.util_percent !== null) hist.push(g.util_percent);
          while (hist.length > kHistory) hist.shift();
          history.set(id, hist);
          return h('div', { class: 'gpu' + (g.stale ? ' stale' : ''), 'data-uuid': g.uuid },
            h('div', { class: 'gpu-head' }, h('b', {}, 'GPU ' + g.gpu), ' ', g.model_name),
            h('div', { class: 'muted' }, `${g.model} · ${g.replica}` + (g.stale ? ' · stale' : '')),
            h('label', {}, 'utilisation'), bar(g.util_percent === null ? null : g.util_percent / 100, { warn: 0.85, bad: 0.97 }),
            h('label', {}, 'memory'), bar(g.fb_total_mib ? g.fb_used_mib / g.fb_total_mib : null,
              { warn: 0.95, bad: 0.99, label: `${fmt.mib(g.fb_used_mib)} / ${fmt.mib(g.fb_total_mib)}` }),
            h('div', { class: 'gpu-facts' }, h('span', {}, `${fmt.num(g.temp_c, 0)} °C`), h('span', {}, `${fmt.num(g.power_w, 0)} W`)),
            spark(hist));
        }))))));
    clear(body, count ? clusters : h('p', { class: 'empty' }, 'No GPU metrics yet: replicas expose DCGM-exporter series on /metrics (the simulator does).'));
  }
  return { el, title: 'Fleet', update };
}
