// tests/ui/dashboard.test.mjs — the dashboard end to end: playwright-core drives Debian's
// chromium (headless) against `agentplane up` with simulated traffic. Every page loads without
// console errors and renders its data, charts included; a trace opens from the list and shows
// its generation; the bundle stays within the first-load budget. Screenshots go to
// $AGENTPLANE_UI_SCREENSHOTS (build/ui-screenshots under ctest), never into the repository.
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

let up, browser, background = true;

before(async () => {
  up = await startUp();
  const statuses = await traffic(up.base, 24);
  assert.ok(statuses.every((s) => s === 200), `traffic statuses ${statuses}`);
  // The store commits in batches: wait until the traces are readable.
  await eventually(async () => (await (await fetch(`${up.base}/api/telemetry/traces?limit=1`)).json()).total >= 24,
    10000, 'traces in the store');
  // Keep some traffic flowing so live pages have something to update.
  (async () => { for (let i = 100; background; i++) { await traffic(up.base, 2, {}, 2).catch(() => {}); await new Promise((r) => setTimeout(r, 300)); } })();
  browser = await launchBrowser();
});

after(async () => {
  background = false;
  await browser?.close();
  await up?.stop();
});

async function visit(hash, ready, name) {
  const { page, errors } = await openPage(browser, `${up.base}/ui/${hash}`);
  try {
    await ready(page);
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
    assert.deepEqual(errors, [], `console errors on ${hash}`);
    return page;
  } catch (e) {
    await page.screenshot({ path: path.join(shots, `${name}-failed.png`), fullPage: true }).catch(() => {});
    throw new Error(`${hash}: ${e.message}\nconsole: ${errors.join('\n')}`);
  } finally {
    await page.close();
  }
}

// Every chart on the page has drawn points.
async function chartsHaveData(page, min) {
  await page.waitForFunction((n) => {
    const charts = [...document.querySelectorAll('.chart-box')];
    return charts.length >= n && charts.every((c) => Number(c.dataset.points) > 0);
  }, min, { timeout: 10000 });
}

test('the first load stays within 300 KB and assets are cached by content hash', async () => {
  const res = await fetch(`${up.base}/ui/`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(res.status, 200);
  const html = await res.text();
  const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  assert.equal(assets.length, 2, html);
  let bytes = Number(res.headers.get('content-length') ?? html.length);
  for (const a of assets) {
    const r = await fetch(`${up.base}/ui/${a}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('cache-control'), /immutable/);
    assert.equal(r.headers.get('content-encoding'), 'gzip');
    bytes += Number(r.headers.get('content-length'));
    const again = await fetch(`${up.base}/ui/${a}`, { headers: { 'if-none-match': r.headers.get('etag') } });
    assert.equal(again.status, 304);
  }
  assert.ok(bytes < 300 * 1024, `first load ${bytes} bytes`);
  assert.equal((await fetch(`${up.base}/ui`, { redirect: 'manual' })).status, 308);
});

test('overview: every chart renders the traffic', async () => {
  await visit('#/overview', async (page) => {
    await chartsHaveData(page, 6);
    const tiles = await page.locator('.tile .value').allTextContents();
    assert.ok(Number(tiles[0].replace(/[^0-9.]/g, '')) >= 24, `requests tile ${tiles[0]}`);
  }, 'overview');
});

test('traces: a trace opens from the list and shows its generation', async () => {
  const { page, errors } = await openPage(browser, `${up.base}/ui/#/traces?user=user-1`);
  try {
    await page.waitForSelector('tbody tr.click', { timeout: 10000 });
    const users = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    assert.ok(users.length > 0 && users.every((u) => u === 'user-1'), `filtered users ${users}`);
    await page.locator('tbody tr.click td:nth-child(2) a').first().click();  // the trace's link
    await page.waitForSelector('.obs[data-type="GENERATION"]', { timeout: 10000 });
    assert.match(page.url(), /#\/traces\/[0-9a-f]+/);
    const card = await page.locator('.card', { hasText: 'generation ·' }).innerText();
    assert.match(card, /meta-llama\/Llama-3\.1-/);   // the model that served it
    assert.match(card, /Question number/);           // the captured request payload
    await page.screenshot({ path: path.join(shots, 'trace.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } catch (e) {
    await page.screenshot({ path: path.join(shots, 'trace-failed.png'), fullPage: true }).catch(() => {});
    throw new Error(`${e.message}\nurl: ${page.url()}\nconsole: ${errors.join('\n')}`);
  } finally {
    await page.close();
  }
});

test('sessions: a session reads as a conversation', async () => {
  await visit('#/sessions', async (page) => {
    await page.waitForSelector('tbody tr.click');
    await page.locator('tbody tr.click a').first().click();
    await page.waitForSelector('.turn .msg.user');
    assert.match(await page.locator('.turn .msg.user').first().innerText(), /Question number/);
  }, 'sessions');
});

test('costs: spend by day, team, key, model and top spenders', async () => {
  await visit('#/costs', async (page) => {
    await chartsHaveData(page, 1);
    await page.waitForFunction(() => document.body.textContent.includes('Top spenders') &&
      document.querySelectorAll('.card table tbody tr').length >= 4);
    assert.match(await page.locator('.card', { hasText: 'Top spenders' }).innerText(), /user-\d/);
  }, 'costs');
});

test('models: replicas with health, KV cache and the latest picks, live', async () => {
  await visit('#/models', async (page) => {
    await page.waitForSelector('.picks li');
    const text = await page.locator('main').innerText();
    assert.match(text, /sim-small-0/);
    assert.match(text, /sim-big-0/);
    // Live: the picks list changes while traffic flows.
    const first = await page.locator('.picks').first().innerText();
    await page.waitForFunction((t) => document.querySelector('.picks').innerText !== t, first, { timeout: 8000 });
  }, 'models');
});

test('fleet: GPUs grouped by cluster and node with utilisation, memory, temperature, power', async () => {
  await visit('#/fleet', async (page) => {
    await page.waitForSelector('.gpu');
    assert.equal(await page.locator('.gpu').count(), 4);  // 2 × H100 (TP 1) + 1 × H200 (TP 2)
    const text = await page.locator('main').textContent();
    assert.match(text, /cluster local/);
    assert.match(text, /NVIDIA H100 80GB HBM3/);
    assert.match(text, /°C/);
    assert.match(text, / W/);
  }, 'fleet');
});
