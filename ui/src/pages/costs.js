// ui/src/pages/costs.js — spend by team, key, model and day (GET /api/telemetry/usage, the
// daily rollup: whole UTC days overlapping the range), the top spenders, and each team's budget
// as a bar (GET /admin/teams, or /admin/teams/{own} for a team key). A team key's usage
// answers hold only its own team.
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
    const withBudget = teams.filter((t) => t.budget_usd > 0);
    clear(budgets, withBudget.length === 0 ? h('p', { class: 'empty' }, 'No team has a budget.') :
      table(['team', 'spend / budget', 'period', 'resets'], withBudget.map((t) => ({
        cells: [t.name, bar(t.spend_usd / t.budget_usd, { warn: t.soft_budget_usd ? t.soft_budget_usd / t.budget_usd : 0.8, bad: 1,
          label: `${fmt.usd(t.spend_usd)} / ${fmt.usd(t.budget_usd)}` }), t.budget_period ?? '–',
          t.budget_reset_at ? fmt.dateTime(t.budget_reset_at) : '–'],
      }))));
  }

  async function update() {
    const [days, teams, keys, models, users] = await Promise.all(
      ['day', 'team', 'key', 'model', 'user'].map((g) => usage(g).then((r) => r.rows)));
    days.sort((a, b) => a.day.localeCompare(b.day));
    clear(byDay, days.length ? barChart({ labels: days.map((d) => d.day.slice(5)), values: days.map((d) => d.cost_usd),
      format: fmt.usd, title: 'spend by day' }) : h('p', { class: 'empty' }, 'No spend in this range.'));
    const rows = (list, name) => list.map((r) => ({
      cells: [r[name] || '(none)', fmt.usd(r.cost_usd), fmt.num(r.generations), fmt.num(r.input_tokens + r.output_tokens)] }));
    const total = users.reduce((n, r) => n + r.cost_usd, 0);
    clear(tables,
      card('By team', table(['team', 'spend', 'requests', 'tokens'], rows(teams, 'team'))),
      card('By key', table(['key', 'spend', 'requests', 'tokens'], rows(keys, 'key'))),
      card('By model', table(['model', 'spend', 'requests', 'tokens'], rows(models, 'model'))),
      card('Top spenders', table(['user', 'spend', 'share'], users.slice(0, 10).map((r) => ({
        cells: [r.user || '(anonymous)', fmt.usd(r.cost_usd), bar(total ? r.cost_usd / total : 0, { warn: 2, bad: 2 })] })))));
    if (Date.now() - budgetAt > kBudgetEveryMs) {
      budgetAt = Date.now();
      try {
        await loadBudgets(teams);
      } catch (err) {
        clear(budgets, h('p', { class: 'empty' }, 'Budgets unavailable: ' + err.message));
      }
    }
  }
  return { el, title: 'Costs', update };
}
