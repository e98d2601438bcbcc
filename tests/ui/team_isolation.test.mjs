// tests/ui/team_isolation.test.mjs — a team key sees its own team only, in the API and on every
// page of the dashboard: two teams (red, blue) with keys and budgets made through the admin API,
// traffic with each key, then chromium with red's key in the key box. Red's traces, sessions,
// costs and budget are shown; nothing of blue's is; the operator pages (models, fleet) refuse
// red's key with 403 while the admin key reads them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUp, traffic, eventually } from './agentplane_up.mjs';
import { launchBrowser, openPage } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = process.env.AGENTPLANE_UI_SCREENSHOTS || path.resolve(here, '../../build/ui-screenshots');
mkdirSync(shots, { recursive: true });
const kAdmin = 'sk-admin-ui-test-0123456789';

let up, browser;
const keys = {};

async function admin(method, p, body) {
  const res = await fetch(`${up.base}${p}`, {
    method, headers: { authorization: `Bearer ${kAdmin}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function as(key, p) {
  return fetch(`${up.base}${p}`, { headers: { authorization: `Bearer ${key}` } });
}

before(async () => {
  up = await startUp({ extraConfig: `limits: {admin_key: ${kAdmin}}\n` });
  for (const [team, budget] of [['red', 5], ['blue', 10]]) {
    await admin('POST', '/admin/teams', { name: team, budget_usd: budget, soft_budget_usd: budget / 2, budget_period: '30d' });
    keys[team] = (await admin('POST', '/admin/keys', { team, name: `${team}-app` })).key;
  }
  for (const team of ['red', 'blue']) {
    const statuses = await traffic(up.base, 6, { key: keys[team], prefix: `${team}-` });
    assert.ok(statuses.every((s) => s === 200), `${team} traffic: ${statuses}`);
  }
  await eventually(async () => (await (await as(kAdmin, '/api/telemetry/traces?limit=1')).json()).total >= 12,
    10000, 'both teams\' traces in the store');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await up?.stop();
});

test('the API answers a team key with its own team only', async () => {
  const red = await (await as(keys.red, '/api/telemetry/traces?limit=100')).json();
  assert.equal(red.total, 6);
  assert.ok(red.traces.every((t) => t.userId.startsWith('red-')), JSON.stringify(red.traces.map((t) => t.userId)));
  const blue = await (await as(keys.blue, '/api/telemetry/traces?limit=1')).json();
  // Red cannot open blue's trace even by id, nor narrow itself into blue's project.
  assert.equal((await as(keys.red, `/api/telemetry/traces/${blue.traces[0].id}`)).status, 404);
  assert.equal((await (await as(keys.red, '/api/telemetry/traces?project=blue')).json()).total, 6);
  const usage = await (await as(keys.red, '/api/telemetry/usage?group_by=team')).json();
  assert.deepEqual(usage.rows.map((r) => r.team), ['red']);
  const series = await (await as(keys.red, `/api/telemetry/timeseries?from=${Date.now() - 3600e3}`)).json();
  assert.equal(series.buckets.reduce((n, b) => n + b.requests, 0), 6);
  for (const p of ['/api/scheduler/replicas', '/api/fleet/gpus']) {
    assert.equal((await as(keys.red, p)).status, 403, p);
    assert.equal((await as(kAdmin, p)).status, 200, p);
  }
});

async function redPage(hash, ready, name) {
  const { page } = await openPage(browser, `${up.base}/ui/${hash}`, { key: keys.red });
  try {
    await ready(page);
    const text = await page.locator('body').textContent();
    assert.doesNotMatch(text, /blue/, `${hash} shows blue's data`);
    await page.screenshot({ path: path.join(shots, `team-${name}.png`), fullPage: true });
    return text;
  } finally {
    await page.close();
  }
}

test('the dashboard with a team key shows that team and nothing of another', async () => {
  await redPage('#/traces', async (page) => {
    await page.waitForSelector('tbody tr.click');
    const users = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    assert.equal(users.length, 6);
    assert.ok(users.every((u) => u.startsWith('red-user-')), users.join());
  }, 'traces');
  await redPage('#/overview', async (page) => {
    await page.waitForFunction(() => document.querySelector('.tile .value')?.textContent === '6');
  }, 'overview');
  await redPage('#/sessions', async (page) => {
    await page.waitForSelector('tbody tr.click');
    const ids = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    assert.ok(ids.length > 0 && ids.every((s) => s.startsWith('red-session-')), ids.join());
  }, 'sessions');
  const costs = await redPage('#/costs', async (page) => {
    await page.waitForFunction(() => document.querySelector('.bar span')?.textContent.includes('/ $5.00'));
  }, 'costs');
  assert.match(costs, /team red/);
  assert.match(costs, /red-app \(key-[0-9a-f]+\)/);  // keys named through the admin API
  for (const name of ['models', 'fleet']) {
    await redPage(`#/${name}`, async (page) => {
      await page.waitForFunction(() => !document.getElementById('banner').hidden);
      assert.match(await page.locator('#banner').textContent(), /403.*operator data/);
    }, name);
  }
});

test('the admin key sees both teams', async () => {
  const { page } = await openPage(browser, `${up.base}/ui/#/costs`, { key: kAdmin });
  try {
    await page.waitForFunction(() => document.querySelectorAll('.bar span').length >= 2 &&
      document.body.textContent.includes('blue') && document.body.textContent.includes('red'));
  } finally {
    await page.close();
  }
});
