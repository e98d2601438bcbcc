// End-to-end: the gateway exports its own spans over OTLP/HTTP to an external collector.
//
// The collector is a second agentplane gateway: its POST /v1/traces is a real OTLP receiver and
// its Langfuse read API shows what arrived. The exporting gateway's config has a
// telemetry.export block whose Authorization header comes from an environment variable
// (${ENV} expansion). A request carrying a W3C traceparent must arrive at the collector as a
// GENERATION in the caller's trace, child of the caller's span, with the GenAI usage of the
// reply; the exporter's counter shows it on /metrics. Polling only, no timed assertions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTelemetryGateway } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('OTLP export of the gateway\'s spans', () => {
  let collector;
  let gateway;

  before(async () => {
    collector = await startTelemetryGateway({ prefix: 'ap-collector-', publicKey: 'pk-col', secretKey: 'sk-col' });
    process.env.AP_E2E_COLLECTOR_AUTH = collector.auth;
    gateway = await startTelemetryGateway({
      prefix: 'ap-exporter-', publicKey: 'pk-exp', secretKey: 'sk-exp',
      telemetry: `  export:
    endpoint: ${collector.gateway.origin}/v1/traces
    headers: {authorization: '\${AP_E2E_COLLECTOR_AUTH}'}
    batch_size: 64
    interval: 100ms`,
    });
  });

  after(async () => {
    await gateway?.stop();
    await collector?.stop();
  });

  it('sends a GenAI span that joins the caller\'s trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const res = await fetch(`${gateway.gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01`, 'x-user-id': 'exp-user' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    await res.json();

    let trace;
    for (let i = 0; i < 200 && !trace; i++) {
      const r = await fetch(`${collector.gateway.origin}/api/public/traces/${traceId}`, {
        headers: { authorization: collector.auth },
      });
      if (r.status === 200) {
        const t = await r.json();
        if (t.observations?.length) trace = t;
      }
      if (!trace) await sleep(50);
    }
    assert.ok(trace, 'the collector received the span');
    assert.equal(trace.observations.length, 1);
    const gen = trace.observations[0];
    assert.equal(gen.type, 'GENERATION');
    assert.equal(gen.name, 'chat chat');
    assert.equal(gen.parentObservationId, callerSpan);
    assert.equal(gen.model, 'gpt-4o-mini');  // gen_ai.response.model: the backend's model
    assert.equal(gen.usage.input, 11);
    assert.equal(gen.usage.output, 7);
    assert.equal(trace.userId, 'exp-user');                   // user.id
    assert.equal(gen.metadata['agentplane.backend'], 'mock');  // the span's other attributes

    let metrics = '';
    for (let i = 0; i < 100; i++) {
      metrics = await (await fetch(`${gateway.gateway.origin}/metrics`)).text();
      if (/agentplane_telemetry_export_spans_total 1\b/.test(metrics)) break;
      await sleep(50);
    }
    assert.match(metrics, /agentplane_telemetry_export_spans_total 1\b/);
    assert.match(metrics, /agentplane_telemetry_export_dropped_spans_total 0\b/);
  });
});
