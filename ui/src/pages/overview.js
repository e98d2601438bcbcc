// ui/src/pages/overview.js — traffic at a glance: requests/s, error rate, latency and TTFT
// percentiles, tokens/s and spend over the selected range, from
// GET /api/telemetry/timeseries (the per-minute rollup: fast whatever the store holds).
import { get, rangeParams } from '../api.js';
import { h, clear, fmt, tile, card } from '../util.js';
import { lineChart } from '../chart.js';

export function overview(ctx) {
  const tiles = h('div', { class: 'tiles' });
  const charts = h('div', { class: 'grid2' });
  const el = h('div', {}, h('h1', {}, 'Overview'), tiles, charts);

  async function update() {
    const data = await get('/api/telemetry/timeseries', rangeParams(ctx.range()));
    const b = data.buckets;
    const step = data.step_seconds;
    const times = b.map((x) => x.t);
    const sum = (f) => b.reduce((n, x) => n + f(x), 0);
    const requests = sum((x) => x.requests), errors = sum((x) => x.errors);
    const tokens = sum((x) => x.input_tokens + x.output_tokens), spend = sum((x) => x.cost_usd);
    const secs = ctx.range();
    // The range's percentile is not the mean of bucket percentiles; the worst bucket p90 is an
    // honest upper bound and says what an operator wants to know.
    const worst = (f) => b.reduce((m, x) => (f(x) !== null && f(x) > m ? f(x) : m), -1);
    clear(tiles,
      tile('Requests', fmt.num(requests), fmt.rate(requests / secs) + ' req/s'),
      tile('Error rate', fmt.pct(requests ? errors / requests : null, 2), fmt.num(errors) + ' errors'),
      tile('Latency p90 (worst)', fmt.secs(worst((x) => x.latency_p90)), 'p99 ' + fmt.secs(worst((x) => x.latency_p99))),
      tile('TTFT p90 (worst)', fmt.secs(worst((x) => x.ttft_p90)), 'p99 ' + fmt.secs(worst((x) => x.ttft_p99))),
      tile('Tokens', fmt.num(tokens), fmt.rate(tokens / secs) + ' tok/s'),
      tile('Spend', fmt.usd(spend), fmt.usd((spend / secs) * 3600) + ' / h'));
    const ms = (v) => (v === null ? null : v * 1000);
    const msFmt = (v) => fmt.num(v, 0) + ' ms';
    clear(charts,
      card('Requests / s', lineChart({ times, title: 'requests per second', format: fmt.rate,
        series: [{ name: 'req/s', values: b.map((x) => x.requests / step) },
                 { name: 'errors/s', values: b.map((x) => x.errors / step) }] })),
      card('Error rate', lineChart({ times, title: 'error rate', format: (v) => fmt.pct(v, 1),
        series: [{ name: 'errors', values: b.map((x) => (x.requests ? x.errors / x.requests : null)) }] })),
      card('Latency', lineChart({ times, title: 'latency percentiles', format: msFmt,
        series: ['p50', 'p90', 'p99'].map((p) => ({ name: p, values: b.map((x) => ms(x['latency_' + p])) })) })),
      card('Time to first token', lineChart({ times, title: 'TTFT percentiles', format: msFmt,
        series: ['p50', 'p90', 'p99'].map((p) => ({ name: p, values: b.map((x) => ms(x['ttft_' + p])) })) })),
      card('Tokens / s', lineChart({ times, title: 'tokens per second', format: fmt.rate,
        series: [{ name: 'input', values: b.map((x) => x.input_tokens / step) },
                 { name: 'output', values: b.map((x) => x.output_tokens / step) }] })),
      card('Spend per ' + (step >= 3600 ? step / 3600 + ' h' : step / 60 + ' min'), lineChart({ times, title: 'spend',
        format: fmt.usd, series: [{ name: 'USD', values: b.map((x) => x.cost_usd) }] })));
  }
  return { el, title: 'Overview', update };
}
