// ui/src/util.js — DOM building and number/time formatting shared by every page.
//
// h() builds elements without innerHTML (no injection from trace payloads; styles go through
// the CSSOM, which the page's Content-Security-Policy allows where inline style attributes
// would be refused).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Dates and numbers are formatted by hand, not with Intl/toLocaleString: the first Intl call in
// a fresh page loads locale data and cost ~100 ms of every page's time to interactive.
const kMonths = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n) => String(n).padStart(2, '0');
const grouped = (s) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

export const fmt = {
  num(v, digits = 0) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    return v.toFixed(digits);
  },
  rate(v) { return v === null || v === undefined ? '–' : v < 10 ? v.toFixed(2) : fmt.num(v, 1); },
  pct(v, digits = 1) { return v === null || v === undefined || Number.isNaN(v) ? '–' : (v * 100).toFixed(digits) + '%'; },
  usd(v) {
    if (v === null || v === undefined) return '–';
    if (v !== 0 && Math.abs(v) < 0.01) return '$' + v.toPrecision(2);
    const [whole, cents] = Math.abs(v).toFixed(2).split('.');
    return (v < 0 ? '-$' : '$') + grouped(whole) + '.' + cents;
  },
  secs(v) {
    if (v === null || v === undefined || v < 0) return '–';
    if (v < 1) return (v * 1000).toFixed(v < 0.01 ? 1 : 0) + ' ms';
    return v.toFixed(2) + ' s';
  },
  // Local time: 14:03:05.
  time(ms) {
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  },
  hm(ms) {
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  },
  day(ms) {
    const d = new Date(ms);
    return `${kMonths[d.getMonth()]} ${d.getDate()}`;
  },
  // Nov 30, 14:03:05 (from an ISO string or epoch ms).
  dateTime(t) {
    const ms = typeof t === 'number' ? t : Date.parse(t);
    return `${fmt.day(ms)}, ${fmt.time(ms)}`;
  },
  ago(ms) {
    if (ms < 1000) return Math.round(ms) + ' ms ago';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s ago';
    return Math.round(ms / 60000) + ' min ago';
  },
  mib(v) { return v === null || v === undefined ? '–' : v >= 1024 ? (v / 1024).toFixed(1) + ' GiB' : v.toFixed(0) + ' MiB'; },
};

// A horizontal bar for a share in [0, 1] (KV cache, budget, utilisation); `warn`/`bad` are the
// thresholds past which it turns amber/red.
export function bar(share, { warn = 0.8, bad = 0.95, label } = {}) {
  const v = share === null || share === undefined || Number.isNaN(share) ? 0 : Math.max(0, Math.min(1, share));
  const cls = share >= bad ? 'bad' : share >= warn ? 'warn' : 'ok';
  return h('div', { class: 'bar', title: label ?? fmt.pct(share) },
    h('div', { class: 'fill ' + cls, style: { width: (v * 100).toFixed(1) + '%' } }),
    h('span', {}, label ?? fmt.pct(share)));
}

export function table(headers, rows, { onRow, empty = 'Nothing here yet.' } = {}) {
  const body = h('tbody');
  for (const r of rows) {
    const tr = h('tr', onRow ? { class: 'click', onclick: () => onRow(r.data ?? r) } : {},
      r.cells.map((c) => h('td', c && c.cls ? { class: c.cls } : {}, c && c.cls ? c.v : c)));
    body.append(tr);
  }
  return h('div', { class: 'table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), body),
    rows.length === 0 ? h('p', { class: 'empty' }, empty) : null);
}

export function card(title, ...content) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...content);
}

export function tile(label, value, sub) {
  return h('div', { class: 'tile' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null);
}
