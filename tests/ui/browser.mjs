// tests/ui/browser.mjs — Debian's chromium, headless, driven by playwright-core (no browser
// download: CHROMIUM or /usr/bin/chromium). openPage() records console errors and uncaught
// page errors so a test can assert there were none.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`chromium not found at ${executablePath} (apt-get install chromium)`);
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

// A page at `url` with sessionStorage prepared (e.g. the key box's key) before any script runs.
export async function openPage(browser, url, { key } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  if (key) await context.addInitScript((k) => sessionStorage.setItem('agentplane.key', k), key);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const close = page.close.bind(page);
  page.close = async () => { await close(); await context.close(); };
  await page.goto(url);
  return { page, errors };
}
