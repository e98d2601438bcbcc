// tests/ui/agentplane_up.mjs — starts `agentplane up` for the dashboard tests (port 0, loopback,
// a temporary data directory, a small simulated fleet running ten times faster than real GPUs)
// and sends it traffic through the OpenAI API with users, sessions and tags, so every page has
// data. stop() sends SIGINT, escalating to SIGKILL; nothing outlives the test process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function binary() {
  const bin = process.env.AGENTPLANE_BIN || path.resolve(here, '../../build/agentplane');
  if (!existsSync(bin)) throw new Error(`agentplane binary not found at ${bin} (set AGENTPLANE_BIN)`);
  return bin;
}

const live = new Set();
process.on('exit', () => { for (const c of live) try { c.kill('SIGKILL'); } catch { /* gone */ } });

// extraConfig: YAML lines appended to the config; env: extra environment.
export async function startUp({ extraConfig = '', env = {} } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'agentplane-ui-'));
  const config = path.join(dir, 'up.yaml');
  writeFileSync(config, `server: {port: 0, access_log: off}
telemetry: {capture: full}
fleet:
  - {model: small, served_model: meta-llama/Llama-3.1-8B-Instruct, gpu: H100, replicas: 2, time_scale: 0.1}
  - {model: big, served_model: meta-llama/Llama-3.1-70B-Instruct, gpu: H200, replicas: 1, time_scale: 0.1}
${extraConfig}`);
  const child = spawn(binary(), ['up', '--config', config, '--data-dir', path.join(dir, 'data')],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  let stdout = '', stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); }));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agentplane up did not start:\n${stdout}\n${stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Ctrl-C stops everything')) {
        clearTimeout(timer);
        resolve(Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)[1]));
      }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base, dir,
    logs: () => stdout + stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// One chat completion through the gateway; `i` varies model, user, session, streaming; users and
// sessions are named with `prefix` (a team's, say).
export async function chat(base, i, { key, model, prefix = '' } = {}) {
  const headers = { 'content-type': 'application/json', 'x-session-id': `${prefix}session-${i % 3}`,
                    'x-user-id': `${prefix}user-${i % 4}`, 'x-tags': i % 2 ? 'batch' : 'interactive' };
  if (key) headers.authorization = `Bearer ${key}`;
  const stream = i % 2 === 0;
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers,
    body: JSON.stringify({ model: model ?? (i % 3 === 2 ? 'big' : 'small'), max_tokens: 16, stream,
      stream_options: stream ? { include_usage: true } : undefined,
      messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: `Question number ${i}: what is ${i} + ${i}?` }] }),
  });
  await res.text();
  return res.status;
}

// Sends `n` requests, `parallel` at a time; resolves with their statuses.
export async function traffic(base, n, opts = {}, parallel = 4) {
  const statuses = [];
  for (let i = 0; i < n; i += parallel) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + parallel); j++) batch.push(chat(base, j, opts));
    statuses.push(...await Promise.all(batch));
  }
  return statuses;
}

// Waits until `check()` is truthy (polling), or throws after `ms`.
export async function eventually(check, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { if ((last = await check())) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}
