// `agentplane up` end to end: the gateway in local mode in front of a simulated fleet, driven by
// the official openai SDK; Ctrl-C (SIGINT) stops gateway and replicas cleanly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import OpenAI from 'openai';
import { gatewayBinary } from './gateway_process.mjs';

let dir, child, port, stdout = '', stderr = '', exited;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'agentplane-up-'));
  const config = path.join(dir, 'local.yaml');
  writeFileSync(config, `
server: {port: 0, access_log: json}
auth: {keys: [sk-only-for-remote-clients]}
fleet:
  - {model: small, served_model: meta-llama/Llama-3.1-8B-Instruct, gpu: H100, replicas: 2, time_scale: 0.1}
  - {model: big, served_model: meta-llama/Llama-3.1-70B-Instruct, gpu: H200, replicas: 1, time_scale: 0.1}
`);
  child = spawn(gatewayBinary(), ['up', '--config', config, '--data-dir', path.join(dir, 'data')],
                { stdio: ['ignore', 'pipe', 'pipe'] });
  exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d) => { stderr += d; });
  port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`up did not start:\n${stdout}\n${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Ctrl-C stops everything')) {
        clearTimeout(timer);
        resolve(Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)[1]));
      }
    });
  });
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('prints the URLs and a ready-to-paste curl command', () => {
  assert.match(stdout, /gateway\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
  assert.match(stdout, /curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
  assert.match(stdout, /small\s+2 x H100 replicas: http:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+/);
  const state = JSON.parse(readFileSync(path.join(dir, 'data', 'up.json'), 'utf8'));
  assert.equal(state.replicas.length, 3);
});

test('serves a chat completion end to end through the gateway', async () => {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused-locally', maxRetries: 0 });
  const reply = await client.chat.completions.create({
    model: 'small', messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 12,
  });
  assert.equal(reply.model, 'meta-llama/Llama-3.1-8B-Instruct');
  assert.ok(reply.choices[0].message.content.length > 0);
  assert.equal(reply.usage.completion_tokens, 12);

  const stream = await client.chat.completions.create({
    model: 'big', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(usage.completion_tokens, 5);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['big', 'small']);
});

test('loopback clients need no key in local mode', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 }),
  });
  assert.equal(res.status, 200);
});

test('but a page on another site cannot use that trust (cross-site requests need a key)', async () => {
  for (const [p, body] of [['/admin/keys', '{}'], ['/v1/chat/completions', '{"model":"small","messages":[]}']]) {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, {
      method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' },
      body,
    });
    assert.equal(res.status, 401, p);
  }
  const traces = await fetch(`http://127.0.0.1:${port}/api/telemetry/traces`, { headers: { origin: 'https://attacker.example' } });
  assert.equal(traces.status, 401);
});

test('Ctrl-C stops the gateway and every replica', async () => {
  const state = JSON.parse(readFileSync(path.join(dir, 'data', 'up.json'), 'utf8'));
  child.kill('SIGINT');
  const { code } = await exited;
  assert.equal(code, 0, stderr);
  for (const url of [state.gateway, ...state.replicas.map((r) => r.url)]) {
    const p = Number(new URL(url).port);
    const refused = await new Promise((resolve) => {
      const s = net.connect(p, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(false); });
      s.on('error', () => resolve(true));
    });
    assert.ok(refused, `${url} still accepts connections`);
  }
});
