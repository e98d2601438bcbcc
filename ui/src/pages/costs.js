// ui/src/pages/costs.js — spend by team, key, model and day (GET /api/telemetry/usage, the
// daily rollup: whole UTC days overlapping the range), the top spenders, and each team's budget
// and key's budget as a bar (GET /admin/teams, or /admin/teams/{own} for a team key, and
// /admin/keys, which names the keys usage lists by id). A team key's answers hold only its own
// team.
import { get, rangeParams, ApiError } from '../api.js';
import { h, clear, fmt, table, card, bar } from '../util.js';
import { barChart } from '../chart.js';

const kBudgetEveryMs = 10000;  // budgets move slowly; spare the admin API

export function costs(ctx) {
  const byDay = h('div'), budgets = h('div'), tables = h('div', { class: 'grid2' });
  const el = h('div', {}, h('h1', {}, 'Costs'),
    h('p', { class: 'muted' }, 'Spend is summed over whole UTC days overlapping the range.'),
    h('div', { class: 'grid2' }, card('Spend by day', byDay), card('Budgets', budgets)), tables);
  let budgetAt = 0;
  let keyNames = new Map();  // key id → name, from the admin API

  // The admin API gives times in epoch seconds.
  const when = (v) => fmt.dateTime(typeof v === 'number' && v < 1e12 ? v * 1000 : v);
  const budgetRows = (list, label) => list.filter((x) => x.budget_usd > 0).map((x) => ({
    cells: [label(x), bar(x.spend_usd / x.budget_usd, { warn: x.soft_budget_usd ? x.soft_budget_usd / x.budget_usd : 0.8,
      bad: 1, label: `${fmt.usd(x.spend_usd)} / ${fmt.usd(x.budget_usd)}` }), x.budget_period ?? '–',
      x.budget_reset_at ? when(x.budget_reset_at) : '–'],
  }));

  const usage = (group_by) => get('/api/telemetry/usage', { ...rangeParams(ctx.range()), group_by });

  async function loadBudgets(teamRows) {
    let teams;
    try {
      teams = (await get('/admin/teams')).data;
    } catch (err) {
      // A team key may read only its own team.
      const own = teamRows.length === 1 ? teamRows[0].team : '';
      if (!(err instanceof ApiError) || err.status !== 403 || !own) throw err;
      teams = [await get('/admin/teams/' + encodeURIComponent(own))];
    }
    const keys = (await get('/admin/keys')).data;  // a team key sees its own team's keys
    keyNames = new Map(keys.map((k) => [k.id, k.name || k.id]));
    const rows = [...budgetRows(teams, (t) => 'team ' + t.name), ...budgetRows(keys, (k) => 'key ' + (k.name || k.id))];
    clear(budgets, rows.length === 0 ? h('p', { class: 'empty' }, 'No team or key has a budget.') :
      table(['who', 'spend / budget', 'period', 'resets'], rows));
  }

  async function update() {
    const [days, teams, keys, models, users] = await Promise.all(
      ['day', 'team', 'key', 'model', 'user'].map((g) => usage(g).then((r) => r.rows)));
    days.sort((a, b) => a.day.localeCompare(b.day));
    clear(byDay, days.length ? barChart({ labels: days.map((d) => d.day.slice(5)), values: days.map((d) => d.cost_usd),
      format: fmt.usd, title: 'spend by day' }) : h('p', { class: 'empty' }, 'No spend in this range.'));
    if (Date.now() - budgetAt > kBudgetEveryMs) {
      budgetAt = Date.now();
      try {
        await loadBudgets(teams);
      } catch (err) {
        clear(budgets, h('p', { class: 'empty' }, 'Budgets unavailable: ' + err.message));
      }
    }
    const named = (id) => (keyNames.has(id) && keyNames.get(id) !== id ? `${keyNames.get(id)} (${id})` : id);
    const rows = (list, name) => list.map((r) => ({
      cells: [(name === 'key' ? named(r.key) : r[name]) || '(none)', fmt.usd(r.cost_usd), fmt.num(r.generations),
        fmt.num(r.input_tokens + r.output_tokens)] }));
    const total = users.reduce((n, r) => n + r.cost_usd, 0);
    clear(tables,
      card('By team', table(['team', 'spend', 'requests', 'tokens'], rows(teams, 'team'))),
      card('By key', table(['key', 'spend', 'requests', 'tokens'], rows(keys, 'key'))),
      card('By model', table(['model', 'spend', 'requests', 'tokens'], rows(models, 'model'))),
      card('Top spenders', table(['user', 'spend', 'share'], users.slice(0, 10).map((r) => ({
        cells: [r.user || '(anonymous)', fmt.usd(r.cost_usd), bar(total ? r.cost_usd / total : 0, { warn: 2, bad: 2 })] })))));
  }
  return { el, title: 'Costs', update };
}
