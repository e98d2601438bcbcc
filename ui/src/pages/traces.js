// ui/src/pages/traces.js — the trace list (filters: range, user, session, model, tag, status;
// cursor paging; live while on the newest page) and one trace: its observations on a timeline
// with TTFT marks, and the selected observation's usage, cost, status and captured payloads.
import { get, rangeParams } from '../api.js';
import { h, clear, fmt, table, card } from '../util.js';

const kFilters = ['user', 'session', 'model', 'tag', 'status', 'name'];

export function traces(ctx) {
  if (ctx.args[0]) return traceDetail(ctx, ctx.args[0]);
  const form = h('form', { class: 'filters' },
    kFilters.map((f) => f === 'status'
      ? h('label', {}, 'status', h('select', { name: f },
          ['', 'ok', 'error'].map((v) => h('option', { value: v, selected: ctx.params.get(f) === v }, v || 'any'))))
      : h('label', {}, f, h('input', { name: f, value: ctx.params.get(f) ?? '', placeholder: 'any' }))),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const f of kFilters) if (form.elements[f].value) q.set(f, form.elements[f].value);
    ctx.navigate('#/traces' + (q.toString() ? '?' + q : ''));
  });
  const summary = h('p', { class: 'muted' });
  const list = h('div');
  const pager = h('div', { class: 'pager' });
  const el = h('div', {}, h('h1', {}, 'Traces'), form, summary, list, pager);
  let cursors = [];  // cursor of each page after the first
  let page = 0;
  let filters = {};
  for (const f of kFilters) if (ctx.params.get(f)) filters[f] = ctx.params.get(f);

  async function load() {
    const range = rangeParams(ctx.range());
    const params = { ...filters, ...range, limit: 50, cursor: page > 0 ? cursors[page - 1] : undefined };
    const data = await get('/api/telemetry/traces', params);
    if (data.next_cursor) cursors[page] = data.next_cursor;
    if (data.total !== undefined) summary.textContent = `${fmt.num(data.total)} traces in range` + (page ? ` · page ${page + 1}` : '');
    const rows = data.traces.map((t) => ({
      data: t,
      cells: [fmt.dateTime(t.timestamp), h('a', { href: traceLink(t) }, t.name ?? t.id.slice(0, 12)),
        t.userId ?? '–', t.sessionId ? h('a', { href: '#/sessions/' + encodeURIComponent(t.sessionId) }, t.sessionId) : '–',
        fmt.secs(t.latency), fmt.num(t.inputTokens) + ' / ' + fmt.num(t.outputTokens), fmt.usd(t.totalCost),
        { cls: 'status ' + t.status, v: t.status }],
    }));
    clear(list, table(['time', 'trace', 'user', 'session', 'latency', 'tokens in/out', 'cost', 'status'], rows,
      { onRow: (t) => ctx.navigate(traceLink(t)), empty: 'No traces match in this range.' }));
    clear(pager,
      page > 0 ? h('button', { onclick: () => { page = 0; load(); } }, '« Newest') : null,
      page > 0 ? h('button', { onclick: () => { page -= 1; load(); } }, '‹ Newer') : null,
      data.next_cursor ? h('button', { onclick: () => { page += 1; load(); } }, 'Older ›') : null);
  }
  // Live only on the newest page: an older page stays put while it is read.
  const update = () => (page === 0 || cursors.length === 0 ? load() : Promise.resolve());
  return { el, title: 'Traces', update, rangeChanged: () => { page = 0; cursors = []; } };
}

// A trace's page; the project lets the admin's lookup use the (project, id) index.
export function traceLink(t) {
  return '#/traces/' + encodeURIComponent(t.id) + (t.projectId ? '?project=' + encodeURIComponent(t.projectId) : '');
}

function flatten(nodes, depth, out) {
  for (const n of nodes) {
    out.push({ n, depth });
    flatten(n.children ?? [], depth + 1, out);
  }
  return out;
}

function pretty(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
  }
  return JSON.stringify(v, null, 2);
}

function traceDetail(ctx, id) {
  const el = h('div', {}, h('p', { class: 'muted' }, 'Loading trace…'));
  let loaded = null, selected = null;

  function render() {
    const t = loaded;
    const rows = flatten(t.observations, 0, []);
    const times = rows.flatMap(({ n }) => [Date.parse(n.startTime), n.endTime ? Date.parse(n.endTime) : Date.parse(n.startTime)]);
    const t0 = Math.min(...times), t1 = Math.max(...times);
    const span = Math.max(1, t1 - t0);
    if (!selected) selected = (rows.find(({ n }) => n.type === 'GENERATION') ?? rows[0])?.n.id;
    const timeline = h('div', { class: 'timeline' }, rows.map(({ n, depth }) => {
      const s0 = Date.parse(n.startTime), s1 = n.endTime ? Date.parse(n.endTime) : s0;
      const left = ((s0 - t0) / span) * 100, width = Math.max(0.5, ((s1 - s0) / span) * 100);
      const ttft = n.completionStartTime ? ((Date.parse(n.completionStartTime) - s0) / Math.max(1, s1 - s0)) * 100 : null;
      return h('div', { class: 'obs' + (n.id === selected ? ' selected' : '') + (n.level === 'ERROR' ? ' error' : ''),
                        'data-type': n.type, onclick: () => { selected = n.id; render(); } },
        h('div', { class: 'obs-name', style: { paddingLeft: depth * 14 + 'px' } },
          h('span', { class: 'type ' + n.type.toLowerCase() }, n.type[0]), n.name ?? n.type.toLowerCase()),
        h('div', { class: 'obs-track' },
          h('div', { class: 'obs-bar ' + n.type.toLowerCase(), style: { left: left + '%', width: width + '%' } },
            ttft !== null ? h('i', { class: 'ttft', title: 'first token', style: { left: ttft + '%' } }) : null)),
        h('div', { class: 'obs-dur' }, fmt.secs(n.latency)));
    }));
    const o = rows.find(({ n }) => n.id === selected)?.n;
    clear(el,
      h('p', {}, h('a', { href: '#/traces' }, '‹ Traces')),
      h('h1', {}, t.name ?? 'Trace'),
      h('dl', { class: 'facts' },
        fact('id', t.id), fact('time', fmt.dateTime(t.timestamp)), fact('user', t.userId ?? '–'),
        fact('session', t.sessionId ? h('a', { href: '#/sessions/' + encodeURIComponent(t.sessionId) }, t.sessionId) : '–'),
        fact('latency', fmt.secs(t.latency)), fact('cost', fmt.usd(t.totalCost)),
        fact('tags', (t.tags ?? []).join(', ') || '–')),
      card('Timeline', timeline),
      o ? observationCard(o) : null,
      t.scores?.length ? card('Scores', table(['name', 'value', 'comment'], t.scores.map((sc) => ({
        cells: [sc.name, sc.value ?? sc.stringValue ?? '–', sc.comment ?? ''] })))) : null);
  }

  async function update() {
    if (loaded) return;  // a finished trace does not change; the list is what updates live
    loaded = await get('/api/telemetry/traces/' + encodeURIComponent(id), { project: ctx.params.get('project') });
    render();
  }
  return { el, title: 'Trace', update };
}

function fact(k, v) { return [h('dt', {}, k), h('dd', {}, v)]; }

function observationCard(o) {
  const payload = (label, v) => {
    const text = pretty(v);
    return text ? h('div', { class: 'payload' }, h('h3', {}, label), h('pre', {}, text)) : null;
  };
  return card(`${o.type.toLowerCase()} · ${o.name ?? o.id}`,
    h('dl', { class: 'facts' },
      fact('model', o.model ?? '–'), fact('start', fmt.dateTime(o.startTime)), fact('latency', fmt.secs(o.latency)),
      fact('time to first token', fmt.secs(o.timeToFirstToken)),
      fact('tokens in / out', `${fmt.num(o.usage?.input)} / ${fmt.num(o.usage?.output)}`),
      fact('cost', fmt.usd(o.calculatedTotalCost)), fact('level', o.level),
      fact('status', o.statusCode ?? o.statusMessage ?? '–'), fact('backend', o.backend ?? '–')),
    payload('input', o.input), payload('output', o.output), payload('metadata', o.metadata),
    !o.input && !o.output ? h('p', { class: 'muted' }, 'No payloads captured (telemetry.capture: full records them).') : null);
}
