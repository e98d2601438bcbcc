// End-to-end: telemetry's config reload on SIGHUP (Telemetry::Reload, called from the gateway's
// SIGHUP handler). A gateway starts with full capture and no redaction or price override; the
// test rewrites its config file with a price for the backend model and a redaction pattern,
// sends SIGHUP, and checks that the next request is priced and redacted with the new config —
// without a restart. A config with an invalid pattern is refused and the running one is kept.
// Reads go through the Langfuse API (fetch, Basic auth); no timed assertions, only polling.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTelemetryGateway } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('telemetry config reload on SIGHUP', () => {
  let env;
  let gateway;
  const writeConfig = (extra) => env.writeConfig(`  capture: full\n${extra}`);

  // Sends one chat request and returns its generation as the Langfuse API reads it.
  async function generationOf(content) {
    const traceId = randomUUID().replaceAll('-', '');
    const res = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace-id': traceId },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content }] }),
    });
    assert.equal(res.status, 200);
    await res.json();
    for (let i = 0; i < 100; i++) {  // recorded after the response, then committed
      const r = await fetch(`${gateway.origin}/api/public/traces/${traceId}`, { headers: { authorization: env.auth } });
      if (r.status === 200) {
        const t = await r.json();
        if (t.observations?.length) return t.observations[0];
      }
      await sleep(50);
    }
    throw new Error(`trace ${traceId} was not recorded`);
  }

  // Telemetry's log lines (JSON or text) that contain `marker`.
  const count = (marker) => gateway.stderr().split('\n').filter((l) => l.includes('telemetry') && l.includes(marker)).length;

  async function reload(marker) {
    const before = count(marker);
    gateway.child.kill('SIGHUP');
    for (let i = 0; i < 100; i++) {
      if (count(marker) > before) return;
      await sleep(50);
    }
    throw new Error(`no telemetry "${marker}" in the log after SIGHUP:\n${gateway.stderr()}`);
  }

  before(async () => {
    env = await startTelemetryGateway({
      prefix: 'ap-reload-', publicKey: 'pk-lf-reload', secretKey: 'sk-lf-reload', telemetry: '  capture: full',
    });
    gateway = env.gateway;
  });

  after(async () => {
    await env?.stop();
  });

  it('swaps prices and redaction without a restart, and refuses an invalid pattern', async () => {
    const first = await generationOf('my key is secret-1234');
    // Built-in price of gpt-4o-mini ($0.15 / $0.60 per million); the body is captured as sent.
    assert.ok(Math.abs(first.calculatedTotalCost - (11 * 0.15e-6 + 7 * 0.6e-6)) < 1e-12, `cost ${first.calculatedTotalCost}`);
    assert.match(JSON.stringify(first.input), /secret-1234/);

    writeConfig(`  redact: ['secret-[0-9]+']
  prices: [{match: 'gpt-4o-mini.*', input: 100, output: 200}]`);
    await reload('config reloaded');
    const second = await generationOf('my key is secret-1234');
    assert.ok(Math.abs(second.calculatedTotalCost - (11 * 100e-6 + 7 * 200e-6)) < 1e-12, `cost ${second.calculatedTotalCost}`);
    assert.doesNotMatch(JSON.stringify(second.input), /secret-1234/);
    assert.match(JSON.stringify(second.input), /\[REDACTED\]/);

    writeConfig(`  redact: ['(']`);
    await reload('keeping the running telemetry config');
    const third = await generationOf('my key is secret-1234');
    assert.ok(Math.abs(third.calculatedTotalCost - (11 * 100e-6 + 7 * 200e-6)) < 1e-12, 'the running prices stay');
    assert.match(JSON.stringify(third.input), /\[REDACTED\]/);
  });
});
