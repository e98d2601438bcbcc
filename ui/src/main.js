// ui/src/main.js — the dashboard's shell: hash routing between pages, the time-range picker,
// the key box, and live updates (each page's update() every 2 s while the tab is visible, one
// at a time, so a slow answer never stacks requests).
import { getKey, setKey, ApiError } from './api.js';
import { overview } from './pages/overview.js';
import { traces } from './pages/traces.js';
import { sessions } from './pages/sessions.js';
import { costs } from './pages/costs.js';
import { models } from './pages/models.js';
import { fleet } from './pages/fleet.js';

const kPages = { overview, traces, sessions, costs, models, fleet };
const kIntervalMs = 2000;

const root = document.getElementById('page');
const banner = document.getElementById('banner');
const rangeSelect = document.getElementById('range');
const live = document.getElementById('live');

let current = null;   // { name, page, route }
let busy = false;
let timer = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [pathPart, query = ''] = hash.split('?');
  const parts = pathPart.split('/').map(decodeURIComponent);
  return { name: parts[0], args: parts.slice(1), params: new URLSearchParams(query) };
}

const savedRange = sessionStorage.getItem('agentplane.range');
if (savedRange) rangeSelect.value = savedRange;

const ctx = {
  range: () => Number(rangeSelect.value),
  navigate: (hash) => { location.hash = hash; },
};

function showError(err) {
  if (!err) {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  let msg = err.message;
  if (err instanceof ApiError && (err.status === 401 || err.status === 403))
    msg += err.status === 401 ? ' — enter a key above.' : ' — this key may not see this.';
  banner.textContent = msg;
}

async function tick() {
  if (!current || busy) return;
  busy = true;
  live.classList.add('busy');
  try {
    const page = current;
    await page.page.update();
    showError(null);
    // The first data on a page: what the dashboard benchmark times (bench/dashboard).
    if (!page.ready) {
      page.ready = true;
      root.dataset.ready = page.name;
      performance.mark('agentplane:ready:' + page.name);
    }
    live.classList.remove('stale');
  } catch (err) {
    showError(err);
    live.classList.add('stale');
    if (!(err instanceof ApiError)) console.warn(err);
  } finally {
    busy = false;
    live.classList.remove('busy');
  }
}

function show() {
  const r = route();
  const factory = kPages[r.name];
  if (!factory) {
    location.hash = '#/overview';
    return;
  }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === r.name);
  const page = factory({ ...ctx, args: r.args, params: r.params });
  current = { name: r.name, page, ready: false };
  delete root.dataset.ready;
  root.replaceChildren(page.el);
  document.title = `${page.title} · agentplane`;
  busy = false;
  tick();
}

function schedule() {
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) tick(); }, kIntervalMs);
}

window.addEventListener('hashchange', show);
rangeSelect.addEventListener('change', () => {
  sessionStorage.setItem('agentplane.range', rangeSelect.value);
  if (current) current.page.rangeChanged?.();
  tick();
});
const keyInput = document.getElementById('key');
keyInput.value = getKey();
document.getElementById('keyform').addEventListener('submit', (ev) => {
  ev.preventDefault();
  setKey(keyInput.value.trim());
  show();
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });

show();
schedule();
