// ui/src/pages/sessions.js — sessions (traces sharing a session id) and one session read as a
// conversation: each turn's user message and the model's answer, from the captured payloads.
import { get, rangeParams } from '../api.js';
import { h, clear, fmt, table, card } from '../util.js';
import { traceLink } from './traces.js';

export function sessions(ctx) {
  if (ctx.args[0]) return conversation(ctx, ctx.args[0]);
  const list = h('div');
  const el = h('div', {}, h('h1', {}, 'Sessions'), list);
  async function update() {
    const data = await get('/api/telemetry/sessions', { ...rangeParams(ctx.range()), limit: 50 });
    clear(list, h('p', { class: 'muted' }, `${fmt.num(data.total)} sessions in range`),
      table(['last activity', 'session', 'user', 'traces', 'tokens in/out', 'cost'], data.sessions.map((s) => ({
        data: s,
        cells: [fmt.dateTime(s.lastTraceAt), h('a', { href: '#/sessions/' + encodeURIComponent(s.id) }, s.id), s.userId ?? '–',
          fmt.num(s.traceCount), fmt.num(s.inputTokens) + ' / ' + fmt.num(s.outputTokens), fmt.usd(s.totalCost)],
      })), { onRow: (s) => ctx.navigate('#/sessions/' + encodeURIComponent(s.id)), empty: 'No sessions in this range (requests carry one with x-session-id).' }));
  }
  return { el, title: 'Sessions', update };
}

function parse(v) {
  if (typeof v !== 'string') return v;
  try { return JSON.parse(v); } catch { return v; }
}

// The last user message of an OpenAI-style request, or the input as text.
function userText(input) {
  const v = parse(input);
  const msgs = v?.messages ?? (Array.isArray(v) ? v : null);
  if (Array.isArray(msgs)) {
    const last = [...msgs].reverse().find((m) => m.role === 'user');
    if (last) return typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
  }
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function answerText(output) {
  const v = parse(output);
  const msg = v?.choices?.[0]?.message;
  if (msg) return msg.content ?? JSON.stringify(msg.tool_calls ?? msg);
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function conversation(ctx, id) {
  const el = h('div', {}, h('p', { class: 'muted' }, 'Loading session…'));
  let shown = '';
  async function update() {
    const list = await get('/api/telemetry/traces', { session: id, limit: 50 });
    const key = list.traces.map((t) => t.id).join();
    if (key === shown) return;  // nothing new in the conversation
    shown = key;
    const turns = list.traces.slice(0, 30).reverse();
    const details = await Promise.all(turns.map((t) =>
      get('/api/telemetry/traces/' + encodeURIComponent(t.id), { project: t.projectId })));
    const items = details.map((t) => {
      const gen = flat(t.observations).find((o) => o.type === 'GENERATION');
      const said = userText(gen?.input ?? t.input), answered = answerText(gen?.output ?? t.output);
      return h('div', { class: 'turn' },
        h('div', { class: 'turn-meta' }, h('a', { href: traceLink(t) }, fmt.dateTime(t.timestamp)),
          ` · ${gen?.model ?? ''} · ${fmt.secs(t.latency)} · ${fmt.usd(t.totalCost)}`),
        h('div', { class: 'msg user' }, said ?? '(input not captured)'),
        h('div', { class: 'msg assistant' }, answered ?? '(output not captured)'));
    });
    clear(el, h('p', {}, h('a', { href: '#/sessions' }, '‹ Sessions')), h('h1', {}, 'Session ' + id),
      h('p', { class: 'muted' }, `${list.total ?? list.traces.length} traces` + (list.traces.length > 30 ? ' (latest 30 shown)' : '')),
      card('Conversation', items.length ? items : h('p', { class: 'empty' }, 'No traces in this session.')));
  }
  return { el, title: 'Session', update };
}

function flat(nodes, out = []) {
  for (const n of nodes ?? []) {
    out.push(n);
    flat(n.children, out);
  }
  return out;
}
