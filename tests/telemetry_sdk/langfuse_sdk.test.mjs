// End-to-end: the official `langfuse` npm SDK (v3) against agentplane's Langfuse-compatible API.
//
// Starts a mock OpenAI upstream and `agentplane gateway` with a telemetry: block (a temp data
// directory, one project's keys), then: the SDK sends a trace with a span, a generation (with
// usage), an event and a score, flushes, and reads them back through fetchTrace /
// fetchTraces / fetchObservations / fetchSessions; a re-sent batch is not counted twice; wrong
// keys are refused; and a gateway request shows up as a generation with usage and cost.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Langfuse } from 'langfuse';
import { startTelemetryGateway } from './harness.mjs';

const PK = 'pk-lf-test';
const SK = 'sk-lf-test';

describe('langfuse SDK v3 against agentplane', () => {
  let env;
  let gateway;
  let langfuse;

  before(async () => {
    env = await startTelemetryGateway({ prefix: 'ap-langfuse-', publicKey: PK, secretKey: SK });
    gateway = env.gateway;
    langfuse = new Langfuse({ publicKey: PK, secretKey: SK, baseUrl: gateway.origin, flushAt: 100 });
  });

  after(async () => {
    await langfuse?.shutdownAsync();
    await env?.stop();
  });

  it('ingests traces, spans, generations, events and scores and reads them back', async () => {
    const sessionId = `session-${randomUUID()}`;
    const trace = langfuse.trace({ name: 'support-agent', userId: 'user-42', sessionId, tags: ['sdk', 'e2e'],
                                   input: { question: 'Where is my order?' }, metadata: { tier: 'gold' } });
    const span = trace.span({ name: 'retrieve', input: { query: 'order 17' } });
    span.event({ name: 'cache-miss', metadata: { key: 'order-17' } });
    span.end({ output: { docs: 3 } });
    const generation = trace.generation({
      name: 'answer', model: 'gpt-4o', modelParameters: { temperature: 0.2 },
      input: [{ role: 'user', content: 'Where is my order?' }],
      startTime: new Date(Date.now() - 1500), completionStartTime: new Date(Date.now() - 1000),
    });
    generation.end({ output: 'It ships tomorrow.', usage: { input: 1200, output: 80 } });
    trace.update({ output: { answer: 'It ships tomorrow.' } });
    trace.score({ name: 'helpfulness', value: 0.9, comment: 'clear' });
    await langfuse.flushAsync();

    const full = await langfuse.fetchTrace(trace.id);
    const t = full.data;
    assert.equal(t.id, trace.id);
    assert.equal(t.name, 'support-agent');
    assert.equal(t.userId, 'user-42');
    assert.equal(t.sessionId, sessionId);
    assert.deepEqual(t.tags, ['sdk', 'e2e']);
    assert.deepEqual(t.input, { question: 'Where is my order?' });
    assert.deepEqual(t.output, { answer: 'It ships tomorrow.' });
    assert.equal(t.metadata.tier, 'gold');
    assert.equal(t.observations.length, 3);
    const byName = Object.fromEntries(t.observations.map((o) => [o.name, o]));
    assert.equal(byName.retrieve.type, 'SPAN');
    assert.ok(byName.retrieve.endTime, 'span.end() set the end time');
    assert.deepEqual(byName.retrieve.output, { docs: 3 });
    assert.equal(byName['cache-miss'].type, 'EVENT');
    assert.equal(byName['cache-miss'].parentObservationId, span.id);
    const gen = byName.answer;
    assert.equal(gen.type, 'GENERATION');
    assert.equal(gen.model, 'gpt-4o');
    assert.deepEqual(gen.modelParameters, { temperature: 0.2 });
    assert.equal(gen.usage.input, 1200);
    assert.equal(gen.usage.output, 80);
    assert.equal(gen.output, 'It ships tomorrow.');
    assert.ok(gen.completionStartTime);
    // Priced server-side from the built-in table: gpt-4o at $2.50 / $10 per million tokens.
    assert.ok(Math.abs(gen.calculatedTotalCost - (1200 * 2.5e-6 + 80 * 10e-6)) < 1e-9, `cost ${gen.calculatedTotalCost}`);
    assert.equal(t.scores.length, 1);
    assert.equal(t.scores[0].name, 'helpfulness');
    assert.equal(t.scores[0].value, 0.9);

    const list = await langfuse.fetchTraces({ userId: 'user-42' });
    assert.equal(list.meta.totalItems, 1);
    assert.equal(list.data[0].id, trace.id);
    const gens = await langfuse.fetchObservations({ traceId: trace.id, type: 'GENERATION' });
    assert.equal(gens.data.length, 1);
    const one = await langfuse.fetchObservation(gen.id);
    assert.equal(one.data.id, gen.id);
    const sessions = await langfuse.fetchSessions();
    assert.ok(sessions.data.some((s) => s.id === sessionId));

    // Scores through the SDK's public API client (GET /api/public/v2/scores[/{id}]).
    const scores = await langfuse.api.scoreV2Get({ name: 'helpfulness', userId: 'user-42', operator: '>=', value: 0.5 });
    assert.equal(scores.meta.totalItems, 1);
    assert.equal(scores.data[0].traceId, trace.id);
    assert.equal(scores.data[0].value, 0.9);
    assert.equal(scores.data[0].comment, 'clear');
    assert.equal(scores.data[0].dataType, 'NUMERIC');
    const none = await langfuse.api.scoreV2Get({ name: 'helpfulness', operator: '<', value: 0.5 });
    assert.equal(none.meta.totalItems, 0);
    const byId = await langfuse.api.scoreV2GetById(scores.data[0].id);
    assert.equal(byId.name, 'helpfulness');
  });

  it('deduplicates a re-sent batch and refuses wrong keys', async () => {
    const traceId = randomUUID();
    const batch = {
      batch: [
        { id: randomUUID(), type: 'trace-create', timestamp: new Date().toISOString(), body: { id: traceId, name: 'resent' } },
        { id: randomUUID(), type: 'generation-create', timestamp: new Date().toISOString(),
          body: { id: randomUUID(), traceId, model: 'gpt-4o-mini', usage: { input: 10, output: 1 } } },
      ],
    };
    const auth = 'Basic ' + Buffer.from(`${PK}:${SK}`).toString('base64');
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gateway.origin}/api/public/ingestion`, {
        method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(batch),
      });
      assert.equal(res.status, 207);
      const body = await res.json();
      assert.equal(body.successes.length, 2);
      assert.equal(body.errors.length, 0);
    }
    const obs = await langfuse.fetchObservations({ traceId });
    assert.equal(obs.data.length, 1);
    const bad = await fetch(`${gateway.origin}/api/public/traces`, {
      headers: { authorization: 'Basic ' + Buffer.from(`${PK}:nope`).toString('base64') },
    });
    assert.equal(bad.status, 401);
  });

  it('records a gateway request as a generation with usage and cost', async () => {
    const traceId = randomUUID().replaceAll('-', '');
    const res = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace-id': traceId, 'x-session-id': 'gw-session' },
      body: JSON.stringify({ model: 'chat', user: 'gw-user', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    await res.json();
    let t;
    for (let i = 0; i < 50; i++) {  // the record is queued after the response, then committed
      t = await langfuse.fetchTrace(traceId).catch(() => null);
      if (t?.data?.observations?.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(t?.data, 'trace recorded');
    assert.equal(t.data.userId, 'gw-user');
    assert.equal(t.data.sessionId, 'gw-session');
    const gen = t.data.observations[0];
    assert.equal(gen.type, 'GENERATION');
    assert.equal(gen.model, 'chat');
    assert.equal(gen.usage.input, 11);
    assert.equal(gen.usage.output, 7);
    assert.ok(Math.abs(gen.calculatedTotalCost - (11 * 0.15e-6 + 7 * 0.6e-6)) < 1e-12);
    const metrics = await (await fetch(`${gateway.origin}/metrics`)).text();
    assert.match(metrics, /agentplane_gateway_requests_total\{model="chat",backend="mock",status="200"\} 1/);
    assert.match(metrics, /gen_ai_server_time_to_first_token_seconds_bucket\{gen_ai_request_model="chat",le="\+Inf"\} 1/);
    assert.match(metrics, /agentplane_http_open_connections [1-9]/);  // this scrape's own connection at least
    assert.match(metrics, /agentplane_http_worker_connections\{worker="0"\} \d+/);
    // promtool (Debian's prometheus package) lints the exposition; exit 0 means clean.
    execFileSync('promtool', ['check', 'metrics'], { input: metrics });
  });
});
