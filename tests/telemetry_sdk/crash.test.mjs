// kill -9 during heavy ingestion: the database must open cleanly afterwards and hold every
// event that was acknowledged (207 with the event among `successes`).
//
// Eight concurrent writers post Langfuse batches (a trace + a generation per event pair) for
// about 1.5 s, the gateway gets SIGKILL mid-stream, then a new gateway opens the same data
// directory; every acknowledged trace must be readable, and `PRAGMA integrity_check` (sqlite3
// CLI) must say ok. Bounded: a fixed time budget, loopback only.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from '../sdk/gateway_process.mjs';

const PK = 'pk-crash';
const SK = 'sk-crash';
const auth = 'Basic ' + Buffer.from(`${PK}:${SK}`).toString('base64');

function makeConfig(dir) {
  const file = path.join(dir, 'gateway.yaml');
  writeFileSync(file, `
backends: [{name: none, url: "http://127.0.0.1:9/v1"}]
telemetry:
  data_dir: ${dir}
  queue: 1000000
  projects: [{name: default, public_key: ${PK}, secret_key: ${SK}}]
`);
  return file;
}

describe('kill -9 during ingestion', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ap-crash-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged event and opens cleanly', async () => {
    const config = makeConfig(dir);
    const gw = await startGateway(['--config', config]);
    const acked = new Set();
    let stop = false;
    let seq = 0;
    const writer = async (w) => {
      while (!stop) {
        const batch = [];
        const traces = [];
        for (let i = 0; i < 100; i++) {
          const id = `t-${w}-${seq++}`;
          traces.push(id);
          const ts = new Date().toISOString();
          batch.push({ id: `e-${id}`, type: 'trace-create', timestamp: ts, body: { id, name: 'crash', userId: `u${w}` } });
          batch.push({ id: `g-${id}`, type: 'generation-create', timestamp: ts,
                       body: { id: `gen-${id}`, traceId: id, model: 'gpt-4o-mini', usage: { input: 10, output: 2 } } });
        }
        try {
          const res = await fetch(`${gw.origin}/api/public/ingestion`, {
            method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' },
            body: JSON.stringify({ batch }),
          });
          if (res.status !== 207) continue;
          const body = await res.json();
          const ok = new Set(body.successes.map((s) => s.id));
          for (const id of traces) if (ok.has(`e-${id}`) && ok.has(`g-${id}`)) acked.add(id);
        } catch {
          return;  // the gateway is gone
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 1500));
    gw.child.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.size > 1000, `only ${acked.size} traces acknowledged before the kill`);

    const check = execFileSync('sqlite3', [path.join(dir, 'telemetry.db'), 'PRAGMA integrity_check;']).toString().trim();
    assert.equal(check, 'ok');

    const again = await startGateway(['--config', config]);
    try {
      const seen = new Set();
      let cursor = '';
      for (;;) {
        const res = await fetch(`${again.origin}/api/telemetry/traces?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
                                { headers: { authorization: auth } });
        assert.equal(res.status, 200);
        const page = await res.json();
        for (const t of page.traces) seen.add(t.id);
        if (!page.next_cursor) break;
        cursor = encodeURIComponent(page.next_cursor);
      }
      const missing = [...acked].filter((id) => !seen.has(id));
      assert.equal(missing.length, 0, `${missing.length} acknowledged traces lost, e.g. ${missing.slice(0, 3)}`);
      const usage = await (await fetch(`${again.origin}/api/telemetry/usage`, { headers: { authorization: auth } })).json();
      assert.ok(usage.rows[0].generations >= acked.size);
    } finally {
      await again.stop();
    }
  });
});
