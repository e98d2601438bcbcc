// Teams, virtual keys, budgets and rate limits across three gateway replicas sharing one Redis
// (Debian's redis-server, started here on a free loopback port). Each replica is a separate
// `agentplane gateway` process; load is spread over all three. Checks: a global requests/minute
// and tokens/minute limit hold within 5 %, a team budget stops within one request of its limit,
// revocation reaches every replica within a second, expired keys, hashed storage (no plaintext
// key in Redis, on disk or in logs), tenant isolation in the query and admin APIs, OpenAI's
// x-ratelimit-* headers, a killed replica's parallel slots reaped, and failing open with local
// limits when Redis goes away.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { startGateway, gatewayBinary } from './gateway_process.mjs';
import { startMockUpstream, kUsage } from './mock_upstream.mjs';

const kAdmin = 'admin-key-for-tests-0001';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let dir, redis, redisPort, upstream, replicas = [];
const plaintextKeys = [];

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function redisCli(...args) {
  return execFileSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8' });
}

async function admin(method, p, body, key = kAdmin, replica = 0) {
  const res = await fetch(`${replicas[replica].origin}${p}`, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function createKey(body) {
  const r = await admin('POST', '/admin/keys', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  plaintextKeys.push(r.body.key);
  await sleep(300);  // other replicas learn of new keys within one directory poll (200 ms)
  return r.body;
}

async function chat(key, replica, { maxTokens = 7, headers = {} } = {}) {
  const res = await fetch(`${replicas[replica].baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: maxTokens }),
  });
  const body = await res.json();
  return { status: res.status, headers: res.headers, body };
}

// Sends as fast as `workers` loops can over every replica for `ms`; counts answers by status.
async function hammer(key, ms, workers = 24) {
  const counts = {};
  const deadline = Date.now() + ms;
  const started = Date.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (Date.now() < deadline) {
      const r = await chat(key, w % replicas.length);
      counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (r.status === 429) assert.ok(['rate_limit_exceeded', 'tokens_rate_limit_exceeded'].includes(r.body.error.code));
    }
  }));
  return { counts, seconds: (Date.now() - started) / 1000 };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'agentplane-limits-'));
  redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
                { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try { await redisCli('PING'); break; } catch { await sleep(20); }
  }
  upstream = await startMockUpstream();
  for (let i = 0; i < 3; i++) {
    const config = path.join(dir, `replica${i}.yaml`);
    writeFileSync(config, `
limits: {admin_key: ${kAdmin}, redis: "redis://127.0.0.1:${redisPort}", settle_interval: 10ms, redis_timeout: 1s}
telemetry:
  data_dir: ${path.join(dir, `data${i}`)}
  prices: [{match: '^mock-model$', input: 1000, output: 1000}]
backends: [{name: mock, url: "http://127.0.0.1:${upstream.port}/v1", model: mock-model}]
models: [{name: chat, backends: [mock]}]
`);
    replicas.push(await startGateway(['--config', config]));
  }
});

after(async () => {
  for (const r of replicas) await r.stop();
  await upstream?.close();
  if (redis && redis.exitCode === null) redis.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function fallbackAdmissions() {
  let n = 0;
  for (const r of replicas) {
    const text = await (await fetch(`${r.origin}/metrics`, { headers: { authorization: `Bearer ${kAdmin}` } })).text();
    n += Number(/agentplane_limits_fallback_admissions_total (\d+)/.exec(text)?.[1] ?? 'NaN');
  }
  return n;
}

test('a global requests/minute limit holds within 5% across three replicas', async () => {
  const key = await createKey({ name: 'rpm', rpm: 300 });
  const { counts, seconds } = await hammer(key.key, 3000);
  // A bucket of 300 that refills 5/s: the first 300 at once, then 5 per second.
  const expected = 300 + 5 * seconds;
  assert.ok(counts[429] > 0, `load never reached the limit: ${JSON.stringify(counts)}`);
  assert.equal(await fallbackAdmissions(), 0, 'every check reached Redis');
  assert.ok(Math.abs(counts[200] - expected) <= 0.05 * expected,
            `admitted ${counts[200]} in ${seconds}s, expected ${expected.toFixed(0)} ±5% (${JSON.stringify(counts)})`);
});

test('a tokens/minute limit counts real usage and holds within 5%', async () => {
  const key = await createKey({ name: 'tpm', tpm: 3600 });
  const { counts, seconds } = await hammer(key.key, 3000);
  // Each request uses kUsage.total_tokens (18) after reconciliation; the bucket is 3600 + 60/s.
  const expected = (3600 + 60 * seconds) / kUsage.total_tokens;
  assert.ok(counts[429] > 0, JSON.stringify(counts));
  assert.ok(Math.abs(counts[200] - expected) <= 0.05 * expected,
            `admitted ${counts[200]} in ${seconds}s, expected ${expected.toFixed(0)} ±5% (${JSON.stringify(counts)})`);
});

test('a team budget stops spending within one request of its limit', async () => {
  const team = await admin('POST', '/admin/teams', { name: 'budgeted', budget_usd: 0.5, soft_budget_usd: 0.25 });
  assert.equal(team.status, 201);
  const k1 = await createKey({ team: 'budgeted', name: 'a' });
  const k2 = await createKey({ team: 'budgeted', name: 'b' });
  // Each request costs (11 + 7) tokens x $0.001 = $0.018.
  let ok = 0, refused = 0;
  await Promise.all(Array.from({ length: 12 }, async (_, w) => {
    while (true) {
      const r = await chat(w % 2 ? k1.key : k2.key, w % 3);
      if (r.status === 200) { ok++; continue; }
      assert.equal(r.status, 429);
      assert.equal(r.body.error.code, 'budget_exceeded');
      assert.match(r.body.error.message, /team 'budgeted'/);
      refused++;
      break;
    }
  }));
  // Concurrent requests stop while others' reservations are in flight; finish sequentially so
  // the spend that is left to use is below one request, wherever the concurrent phase stopped.
  for (let i = 0; i < 50; i++) {
    await sleep(30);  // settlements are batched every 10 ms
    const r = await chat(k1.key, i % 3);
    if (r.status === 429) break;
    assert.equal(r.status, 200);
    ok++;
  }
  await sleep(100);
  const state = await admin('GET', '/admin/teams/budgeted');
  const perRequest = 0.018;
  assert.ok(state.body.spend_usd <= 0.5 + perRequest + 1e-9, `spent ${state.body.spend_usd}`);
  assert.ok(state.body.spend_usd >= 0.5 - perRequest - 1e-9, `spent ${state.body.spend_usd}`);
  assert.ok(Math.abs(state.body.spend_usd - ok * perRequest) < 1e-6, `spend ${state.body.spend_usd} vs ${ok} requests`);
  const log = replicas.map((r) => r.stderr()).join('');
  assert.match(log, /soft budget reached/);
});

test('revoking a key takes effect on every replica within a second', async () => {
  const key = await createKey({ name: 'to-revoke' });
  for (let i = 0; i < 3; i++) assert.equal((await chat(key.key, i)).status, 200);
  const revoked = await admin('DELETE', `/admin/keys/${key.id}`, undefined, kAdmin, 1);
  assert.equal(revoked.status, 200);
  const start = Date.now();
  const seen = [false, false, false];
  while (seen.includes(false) && Date.now() - start < 3000) {
    for (let i = 0; i < 3; i++) {
      if (seen[i]) continue;
      const r = await chat(key.key, i);
      if (r.status === 401) {
        assert.equal(r.body.error.code, 'key_revoked');
        seen[i] = Date.now() - start;
      }
    }
    await sleep(10);
  }
  for (let i = 0; i < 3; i++) assert.ok(seen[i] !== false && seen[i] <= 1000, `replica ${i}: ${seen[i]} ms`);
});

test('expired keys are refused', async () => {
  const key = await createKey({ name: 'short-lived', expires_in: '3s' });
  assert.equal((await chat(key.key, 0)).status, 200);
  await sleep(3100);
  const r = await chat(key.key, 2);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'key_expired');
});

test('answers carry OpenAI rate-limit headers and refusals name the limit', async () => {
  const key = await createKey({ name: 'headers', rpm: 2, tpm: 100000 });
  const first = await chat(key.key, 0);
  assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2');
  assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1');
  assert.match(first.headers.get('x-ratelimit-reset-requests'), /^\d+s$/);
  assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '100000');
  assert.ok(Number(first.headers.get('x-ratelimit-remaining-tokens')) < 100000);
  assert.ok(first.headers.get('x-ratelimit-reset-tokens'));
  await chat(key.key, 1);
  const refused = await chat(key.key, 2);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error.type, 'rate_limit_error');
  assert.match(refused.body.error.message, /requests per minute on key key-[0-9a-f]{12}: limit 2/);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
});

test('model allowlists answer 403 and /v1/models lists only what a key may use', async () => {
  await admin('POST', '/admin/teams', { name: 'no-chat', models: ['other'] });
  const key = await createKey({ team: 'no-chat' });
  const r = await chat(key.key, 0);
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, 'model_not_allowed');
  const models = await fetch(`${replicas[0].baseURL}/models`, { headers: { authorization: `Bearer ${key.key}` } });
  assert.deepEqual((await models.json()).data, []);
});

test('tenants are isolated: a team key reads only its own traces, costs and keys', async () => {
  await admin('POST', '/admin/teams', { name: 'alpha' });
  await admin('POST', '/admin/teams', { name: 'beta' });
  const a = await createKey({ team: 'alpha' });
  const b = await createKey({ team: 'beta' });
  const ra = await chat(a.key, 0, { headers: { 'x-trace-id': 'trace-alpha-1' } });
  const rb = await chat(b.key, 0, { headers: { 'x-trace-id': 'trace-beta-1' } });
  assert.equal(ra.status, 200);
  assert.equal(rb.status, 200);
  const get = async (p, key) => {
    for (let i = 0; i < 50; i++) {  // the writer commits within ~20 ms
      const res = await fetch(`${replicas[0].origin}${p}`, { headers: { authorization: `Bearer ${key}` } });
      const body = await res.json();
      if (res.status !== 200 || (body.traces ?? body.rows ?? []).length > 0 || i === 49) return { status: res.status, body };
      await sleep(50);
    }
  };
  const mine = await get('/api/telemetry/traces', a.key);
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.body.traces.map((t) => t.id), ['trace-alpha-1']);
  assert.equal((await get('/api/telemetry/traces/trace-beta-1', a.key)).status, 404);
  assert.equal((await get('/api/public/traces/trace-beta-1', a.key)).status, 404);
  const usage = await get('/api/telemetry/usage?group_by=team', a.key);
  assert.ok(usage.body.rows.length > 0 && usage.body.rows.every((row) => row.team === 'alpha'), JSON.stringify(usage.body));
  const all = await get('/api/telemetry/traces', kAdmin);
  const ids = all.body.traces.map((t) => t.id);
  assert.ok(ids.includes('trace-alpha-1') && ids.includes('trace-beta-1'));
  // The admin API: own team yes, another team no, writes no.
  assert.equal((await admin('GET', '/admin/teams/alpha', undefined, a.key)).status, 200);
  assert.equal((await admin('GET', '/admin/teams/beta', undefined, a.key)).status, 404);
  assert.equal((await admin('POST', '/admin/keys', { team: 'alpha' }, a.key)).status, 403);
  const keys = await admin('GET', '/admin/keys', undefined, a.key);
  assert.ok(keys.body.data.every((k) => k.team === 'alpha'));
  assert.equal((await fetch(`${replicas[0].origin}/api/telemetry/traces`, { headers: { authorization: 'Bearer sk-ap-wrong' } })).status, 401);
  // A team named like the default project reads its own namespace, not the default project
  // (where the admin key's own requests land).
  assert.equal((await chat(kAdmin, 0, { headers: { 'x-trace-id': 'trace-untenanted-1' } })).status, 200);
  await admin('POST', '/admin/teams', { name: 'default' });
  const d = await createKey({ team: 'default' });
  await sleep(200);
  const seen = await (await fetch(`${replicas[0].origin}/api/telemetry/traces`, { headers: { authorization: `Bearer ${d.key}` } })).json();
  assert.deepEqual(seen.traces.map((t) => t.id), []);
});

test('the CLI wraps the admin API: teams create, keys create/list/revoke', async () => {
  const run = (...args) => execFileSync(gatewayBinary(), args, {
    encoding: 'utf8', env: { ...process.env, AGENTPLANE_URL: replicas[2].origin, AGENTPLANE_ADMIN_KEY: kAdmin },
  });
  assert.match(run('teams', 'create', 'cli-team', '--budget-usd', '5', '--rpm', '60'), /cli-team\s+60/);
  const created = run('keys', 'create', '--team', 'cli-team', '--name', 'from-cli', '--tpm', '1000');
  const key = /key:\s+(sk-ap-\S+)/.exec(created)[1];
  const id = /id:\s+(key-[0-9a-f]{12})/.exec(created)[1];
  plaintextKeys.push(key);
  assert.match(created, /not shown again/);
  const listed = run('keys', 'list', '--team', 'cli-team');
  assert.match(listed, new RegExp(`${id}\\s+cli-team\\s+from-cli`));
  assert.ok(!listed.includes(key));
  // A user in the team; a key of the user belongs to the team too.
  assert.match(run('users', 'create', 'ada', '--team', 'cli-team', '--rpm', '30'), /ada\s+30/);
  const userKey = run('keys', 'create', '--user', 'ada', '--json');
  plaintextKeys.push(JSON.parse(userKey).key);
  assert.equal(JSON.parse(userKey).team, 'cli-team');
  assert.equal(JSON.parse(userKey).user, 'ada');
  await sleep(300);
  assert.equal((await chat(key, 0)).status, 200);
  run('keys', 'revoke', id);
  await sleep(300);
  assert.equal((await chat(key, 0)).status, 401);
  assert.throws(() => execFileSync(gatewayBinary(), ['teams', 'list'], {
    stdio: 'pipe', env: { ...process.env, AGENTPLANE_URL: replicas[0].origin, AGENTPLANE_ADMIN_KEY: 'wrong-key-000000000' },
  }), /401/);
});

test('keys are stored only as hashes: no plaintext in Redis, on disk or in logs', async () => {
  assert.ok(plaintextKeys.length >= 5);
  const stored = await redisCli('--no-raw', 'HGETALL', 'ap:admin:keys');
  const everything = (await redisCli('--scan')).split('\n').filter(Boolean);
  let redisText = stored;
  for (const k of everything.slice(0, 2000)) redisText += k;
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dir);
  const logs = replicas.map((r) => r.stdout() + r.stderr()).join('\n');
  for (const key of plaintextKeys) {
    assert.ok(!redisText.includes(key), 'a plaintext key is in Redis');
    assert.ok(!logs.includes(key), 'a plaintext key is in the logs');
    for (const f of files) assert.ok(!readFileSync(f).includes(key), `a plaintext key is in ${f}`);
  }
  assert.ok(!logs.includes(kAdmin), 'the admin key is in the logs');
});

test('budgets hold without telemetry too: the price table stands alone', async () => {
  const config = path.join(dir, 'no-telemetry.yaml');
  writeFileSync(config, `
limits: {admin_key: ${kAdmin}, data_dir: ${path.join(dir, 'keys-alone')}}
backends: [{name: mock, url: "http://127.0.0.1:${upstream.port}/v1", model: gpt-4o-mini}]
models: [{name: chat, backends: [mock]}]
`);
  const alone = await startGateway(['--config', config]);
  try {
    const call = (m, p, body) => fetch(`${alone.origin}${p}`, {
      method: m, headers: { authorization: `Bearer ${kAdmin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await call('POST', '/admin/teams', { name: 'frugal', budget_usd: 0.00002 })).status, 201);
    const key = (await (await call('POST', '/admin/keys', { team: 'frugal' })).json()).key;
    plaintextKeys.push(key);
    // gpt-4o-mini's list price: (11 x 0.15 + 7 x 0.60) / 1e6 = $0.00000585 per request.
    let ok = 0, last;
    for (let i = 0; i < 10; i++) {
      last = await fetch(`${alone.baseURL}/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 7 }) });
      if (last.status !== 200) break;
      assert.ok(Number(last.headers.get('x-agentplane-cost-usd')) > 0);
      ok++;
    }
    assert.equal(last.status, 429);
    assert.equal((await last.json()).error.code, 'budget_exceeded');
    assert.ok(ok >= 2 && ok <= 4, `${ok} requests before the budget stopped`);
  } finally {
    await alone.stop();
  }
});

test('a replica killed while holding parallel slots gives them back within seconds', async () => {
  const key = await createKey({ name: 'crash', max_parallel: 2 });
  // A fourth replica that also serves "slow": the mock holds those requests for 5 s.
  const config = path.join(dir, 'crashing.yaml');
  writeFileSync(config, readFileSync(path.join(dir, 'replica0.yaml'), 'utf8')
    .replace('models: [{name: chat, backends: [mock]}]',
             'models: [{name: chat, backends: [mock]}, {name: slow, backends: [slow]}]')
    .replace('backends: [{name: mock,',
             `backends: [{name: slow, url: "http://127.0.0.1:${upstream.port}/v1", model: slow-first-byte}, {name: mock,`)
    .replace(/data0/g, 'data-crashing'));
  const extra = await startGateway(['--config', config]);
  try {
    const held = [0, 1].map(() => fetch(`${extra.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'wait' }] }),
    }).catch(() => null));
    let refused;
    for (let i = 0; i < 40 && refused?.status !== 429; i++) {
      await sleep(50);
      refused = await chat(key.key, 0);
    }
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'parallel_limit_exceeded');
    extra.child.kill('SIGKILL');  // no goodbye: its slots stay in Redis until it is reaped
    await Promise.all(held);
  } finally {
    await extra.stop(100);
  }
  const killed = Date.now();
  let r;
  do {
    await sleep(250);
    r = await chat(key.key, 1);
  } while (r.status === 429 && Date.now() - killed < 20000);
  assert.equal(r.status, 200, `slots still held ${Date.now() - killed} ms after the kill: ${JSON.stringify(r.body)} ${replicas[1].stderr().slice(-1500)}`);
  // A replica counts as alive for 10 s after its last beat (one a second); the next beat of a
  // live replica reaps it.
  assert.ok(Date.now() - killed <= 12500, `reaped after ${Date.now() - killed} ms`);
});

test('without Redis the gateway fails open with local limits and says so', async () => {
  const key = await createKey({ name: 'fail-open', rpm: 1000 });
  redis.kill('SIGKILL');
  await sleep(100);
  const r = await chat(key.key, 0);
  assert.equal(r.status, 200);
  const metrics = await (await fetch(`${replicas[0].origin}/metrics`, { headers: { authorization: `Bearer ${kAdmin}` } })).text();
  assert.match(metrics, /agentplane_limits_redis_up 0/);
  assert.match(metrics, /agentplane_limits_fallback_admissions_total [1-9]/);
  assert.match(replicas[0].stderr(), /redis unreachable: failing open with local limits/);
});
