// bench/dashboard/measure.mjs — for each dashboard page, with a cold cache: bytes transferred
// by the first load (document, script, stylesheet, as sent, gzip included), bytes of the API
// answers it then fetched, and the time from navigation start until the page first showed its
// data (main.js marks `agentplane:ready:<page>`; the page is interactive then). Then the median
// latency of the API calls behind the pages. Usage: node measure.mjs BASE_URL TRACES
import { launchBrowser } from '../../tests/ui/browser.mjs';

const [base, traces] = process.argv.slice(2);
const pages = ['overview', 'traces', 'sessions', 'costs', 'models', 'fleet'];
const browser = await launchBrowser();
const rows = [];

async function measure(hash, name) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map();
  let assetBytes = 0, apiBytes = 0;
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    const url = urls.get(e.requestId) ?? '';
    if (url.includes('/api/') || url.includes('/admin/')) apiBytes += e.encodedDataLength;
    else assetBytes += e.encodedDataLength;
  });
  await page.goto(`${base}/ui/${hash}`);
  await page.waitForFunction((n) => performance.getEntriesByName('agentplane:ready:' + n).length > 0, name,
    { timeout: 30000, polling: 10 });
  const ready = await page.evaluate((n) => performance.getEntriesByName('agentplane:ready:' + n)[0].startTime, name);
  await context.close();
  return { ready, assetBytes, apiBytes };
}

for (const name of pages) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(`#/${name}`, name));
  runs.sort((a, b) => a.ready - b.ready);
  rows.push({ name, ...runs[1] });
}
// A trace opened from the list.
const list = await (await fetch(`${base}/api/telemetry/traces?limit=1`)).json();
const id = list.traces[0].id;
const project = encodeURIComponent(list.traces[0].projectId);
const detail = [];
for (let i = 0; i < 3; i++) detail.push(await measure(`#/traces/${id}?project=${project}`, 'traces'));
detail.sort((a, b) => a.ready - b.ready);
rows.push({ name: 'trace detail', ...detail[1] });
await browser.close();

console.log(`\nDashboard with ${Number(traces).toLocaleString('en-US')} traces in the store (median of 3 cold loads):\n`);
console.log('| page | first load (HTML+JS+CSS, gzip) | API bytes | interactive after |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.name} | ${(r.assetBytes / 1024).toFixed(1)} KB | ${(r.apiBytes / 1024).toFixed(1)} KB | ${r.ready.toFixed(0)} ms |`);

const now = Date.now();
const calls = {
  'timeseries, 24 h': `/api/telemetry/timeseries?from=${now - 86400e3}&to=${now}`,
  'timeseries, 7 d': `/api/telemetry/timeseries?from=${now - 7 * 86400e3}&to=${now}`,
  'traces, 1 h, first page': `/api/telemetry/traces?from=${now - 3600e3}&to=${now}&limit=50`,
  'traces, 24 h, first page': `/api/telemetry/traces?from=${now - 86400e3}&to=${now}&limit=50`,
  'traces, 24 h, user filter': `/api/telemetry/traces?from=${now - 86400e3}&to=${now}&limit=50&user=user-7`,
  'sessions, 1 h': `/api/telemetry/sessions?from=${now - 3600e3}&to=${now}&limit=50`,
  'usage by model, 24 h': `/api/telemetry/usage?from=${now - 86400e3}&to=${now}&group_by=model`,
  'one trace (with its project, as the dashboard asks)': `/api/telemetry/traces/${id}?project=${project}`,
  'one trace (any project)': `/api/telemetry/traces/${id}`,
  'scheduler replicas': '/api/scheduler/replicas',
  'fleet GPUs': '/api/fleet/gpus',
};
console.log('\n| API call | median of 5 |\n|---|---|');
for (const [label, path] of Object.entries(calls)) {
  const t = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(base + path);
    await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(`| ${label} | ${t[2].toFixed(1)} ms |`);
}
