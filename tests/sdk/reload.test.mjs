// SIGHUP reloads the config file in the real process without dropping connections; a broken file
// is reported with file:line and the running config stays in force.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { startMockUpstream } from './mock_upstream.mjs';
import { startGateway } from './gateway_process.mjs';

let dir, file, mock, gw;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function config(backendModel) {
  return `
server: {access_log: json}
backends:
  - {name: mock, url: "${mock.baseURL}", model: ${backendModel}}
models:
  - {name: public, backends: [mock]}
`;
}

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${gw.origin}/v1/chat/completions`, {
      method: 'POST', agent, headers: { 'content-type': 'application/json' },
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data, socket: res.socket }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  mock = await startMockUpstream();
  dir = mkdtempSync(path.join(tmpdir(), 'agentplane-reload-'));
  file = path.join(dir, 'gateway.yaml');
  writeFileSync(file, config('first-model'));
  gw = await startGateway(['--config', file]);
});

after(async () => {
  agent.destroy();
  if (gw) await gw.stop();
  if (mock) await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGHUP swaps the config and keeps the client connection', async () => {
  const first = await post({ model: 'public', messages: [] });
  assert.equal(first.status, 200);
  assert.equal(mock.requests.at(-1).body.model, 'first-model');
  const socket = first.socket;

  writeFileSync(file, config('second-model'));
  gw.child.kill('SIGHUP');
  const reloaded = await gw.waitForLog(() => gw.stderr().includes('config reloaded'), 3000);
  assert.ok(gw.stderr().includes('config reloaded'), gw.stderr());
  void reloaded;

  const second = await post({ model: 'public', messages: [] });
  assert.equal(second.status, 200);
  assert.equal(mock.requests.at(-1).body.model, 'second-model');
  assert.equal(second.socket, socket, 'the keep-alive connection survived the reload');
});

test('a changed limits block is reported as needing a restart; the rest is reloaded', async () => {
  writeFileSync(file, config('limits-model') + `limits: {admin_key: reload-admin-key-0001, data_dir: ${path.join(dir, 'keys')}}\n`);
  gw.child.kill('SIGHUP');
  for (let i = 0; i < 60 && !gw.stderr().includes('limits block changed'); i++) await sleep(50);
  assert.match(gw.stderr(), /the limits block changed; it takes effect when the gateway restarts/);
  assert.doesNotMatch(gw.stderr(), /reload-admin-key-0001/, 'the admin key is never logged');
  const r = await post({ model: 'public', messages: [] });
  assert.equal(r.status, 200);  // no limits in force until a restart: the request needs no key
  assert.equal(mock.requests.at(-1).body.model, 'limits-model');
  writeFileSync(file, config('second-model'));  // back to the running limits for the next test
  gw.child.kill('SIGHUP');
  await sleep(300);
});

test('a broken file is reported with its line and the running config is kept', async () => {
  writeFileSync(file, config('third-model') + '  - {name: broken, backends: [nope]}\n');
  gw.child.kill('SIGHUP');
  for (let i = 0; i < 60 && !gw.stderr().includes('config reload failed'); i++) await sleep(50);
  assert.match(gw.stderr(), /config reload failed.*gateway\.yaml:\d+: models\[1\]/);
  const r = await post({ model: 'public', messages: [] });
  assert.equal(r.status, 200);
  assert.equal(mock.requests.at(-1).body.model, 'second-model');
  assert.equal(gw.unexpectedExit(), null);
});
