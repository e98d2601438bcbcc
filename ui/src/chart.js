// ui/src/chart.js — small SVG charts drawn by hand (no chart library: the whole dashboard stays
// a few tens of KB). lineChart draws time series with gaps for missing points, y ticks, time
// ticks and a hover readout; barChart draws one bar per label.
import { h, s, fmt } from './util.js';

const W = 640, H = 180, L = 52, R = 8, T = 10, B = 22;
export const COLORS = ['#4f8cff', '#f5a524', '#e5484d', '#30a46c', '#8e4ec6', '#12a594'];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// An empty chart with its horizontal grid and y ticks (0 … max in quarters).
function frame(max, y, format, title) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title ?? '' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: L - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, format(v)));
  }
  return svg;
}

// times: ms epoch per point; series: [{name, values: [number|null]}]; format: y tick formatter.
export function lineChart({ times, series, format = (v) => fmt.num(v, 1), title }) {
  let max = 0;
  for (const se of series) for (const v of se.values) if (v !== null && v > max) max = v;
  max = niceMax(max);
  const t0 = times[0] ?? 0, t1 = times[times.length - 1] ?? 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = frame(max, y, format, title);
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const label = t1 - t0 > 2 * 86400e3 ? fmt.day(t) : fmt.hm(t);
    svg.append(s('text', { x: x(t), y: H - 6, class: 'tick', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, label));
  }
  series.forEach((se, k) => {
    let d = '';
    let pen = false;
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? 'L' : 'M') + x(times[i]).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
    });
    // A lone point between gaps still shows as a dot.
    se.values.forEach((v, i) => {
      const prev = se.values[i - 1], next = se.values[i + 1];
      if (v !== null && v !== undefined && (prev === null || prev === undefined) && (next === null || next === undefined))
        svg.append(s('circle', { cx: x(times[i]), cy: y(v), r: 2, fill: COLORS[k % COLORS.length] }));
    });
    if (d) svg.append(s('path', { d, class: 'line', stroke: COLORS[k % COLORS.length] }));
  });
  const cursor = s('line', { y1: T, y2: H - B, class: 'cursor', visibility: 'hidden' });
  svg.append(cursor);
  const readout = h('div', { class: 'readout' }, '\u00a0');
  svg.addEventListener('mousemove', (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    let best = 0;
    for (let i = 1; i < times.length; i++) if (Math.abs(x(times[i]) - px) < Math.abs(x(times[best]) - px)) best = i;
    if (!times.length) return;
    cursor.setAttribute('x1', x(times[best]));
    cursor.setAttribute('x2', x(times[best]));
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = fmt.time(times[best]) + '  ' +
      series.map((se) => `${se.name} ${se.values[best] === null || se.values[best] === undefined ? '–' : format(se.values[best])}`).join('  ');
  });
  svg.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden'); readout.textContent = '\u00a0'; });
  const legend = h('div', { class: 'legend' }, series.map((se, k) =>
    h('span', {}, h('i', { style: { background: COLORS[k % COLORS.length] } }), se.name)));
  const points = series.reduce((n, se) => n + se.values.filter((v) => v !== null && v !== undefined).length, 0);
  return h('div', { class: 'chart-box', 'data-points': points }, legend, svg, readout);
}

// labels: strings; values: numbers.
export function barChart({ labels, values, format = (v) => fmt.num(v, 1), title }) {
  const max = niceMax(Math.max(0, ...values));
  const n = Math.max(1, labels.length);
  const bw = (W - L - R) / n;
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = frame(max, y, format, title);
  const every = Math.ceil(n / 8);
  labels.forEach((label, i) => {
    const v = values[i];
    svg.append(s('rect', { x: L + i * bw + bw * 0.15, y: y(v), width: bw * 0.7, height: Math.max(0, H - B - y(v)), class: 'barfill' },
      s('title', {}, `${label}: ${format(v)}`)));
    if (i % every === 0) svg.append(s('text', { x: L + i * bw + bw / 2, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, label));
  });
  return h('div', { class: 'chart-box', 'data-points': values.length }, svg);
}
