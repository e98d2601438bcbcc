// End-to-end: the OpenTelemetry JS SDK's OTLP/HTTP trace exporters against agentplane's
// POST /v1/traces, once with JSON (@opentelemetry/exporter-trace-otlp-http) and once with
// protobuf (@opentelemetry/exporter-trace-otlp-proto).
//
// Each run builds a small agent trace the way instrumented apps do: a root span carrying user
// and session, and a child LLM span with the OpenTelemetry GenAI semantic-convention attributes
// (gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens,
// gen_ai.request.temperature …). After the exporter flushed, the spans are read back through the
// Langfuse read API and the usage API: the LLM span is a GENERATION with the response model,
// the usage, model parameters and a cost priced from the built-in table.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { startTelemetryGateway } from './harness.mjs';

describe('OpenTelemetry JS OTLP exporters against agentplane', () => {
  let env;
  let gateway;

  before(async () => {
    env = await startTelemetryGateway({ prefix: 'ap-otel-', publicKey: 'pk-lf-otel', secretKey: 'sk-lf-otel' });
    gateway = env.gateway;
  });

  after(async () => {
    await env?.stop();
  });

  async function get(pathAndQuery) {
    const res = await fetch(`${gateway.origin}${pathAndQuery}`, { headers: { authorization: env.auth } });
    assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
    return res.json();
  }

  // Exports one agent trace through `exporter`; returns the trace and span ids.
  async function exportAgentTrace(exporter, { user, session, input, output }) {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'otel-agent-test' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('agentplane-e2e', '1.0.0');
    const root = tracer.startSpan('agent-run', {
      kind: SpanKind.INTERNAL,
      attributes: { 'user.id': user, 'session.id': session },
    });
    const ctx = trace.setSpan(context.active(), root);
    const llm = tracer.startSpan('chat gpt-4o', {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.max_tokens': 256,
      },
    }, ctx);
    llm.setAttributes({
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.usage.input_tokens': input,
      'gen_ai.usage.output_tokens': output,
      'gen_ai.response.finish_reasons': ['stop'],
    });
    llm.setStatus({ code: SpanStatusCode.OK });
    llm.end();
    root.end();
    await provider.forceFlush();
    await provider.shutdown();
    return { traceId: root.spanContext().traceId, rootId: root.spanContext().spanId, llmId: llm.spanContext().spanId };
  }

  async function checkGeneration(ids, { user, session, input, output }) {
    const t = await get(`/api/public/traces/${ids.traceId}`);
    assert.equal(t.id, ids.traceId);
    assert.equal(t.userId, user);
    assert.equal(t.sessionId, session);
    assert.equal(t.observations.length, 2);
    const byId = Object.fromEntries(t.observations.map((o) => [o.id, o]));
    assert.equal(byId[ids.rootId].type, 'SPAN');
    assert.equal(byId[ids.rootId].name, 'agent-run');
    const gen = byId[ids.llmId];
    assert.equal(gen.type, 'GENERATION');
    assert.equal(gen.name, 'chat gpt-4o');
    assert.equal(gen.parentObservationId, ids.rootId);
    assert.equal(gen.model, 'gpt-4o-2024-08-06');  // the response model wins over the request's
    assert.equal(gen.usage.input, input);
    assert.equal(gen.usage.output, output);
    assert.equal(gen.modelParameters.temperature, 0.2);
    assert.equal(gen.modelParameters.max_tokens, 256);
    // gpt-4o at $2.50 / $10 per million tokens (built-in table), priced when written.
    assert.ok(Math.abs(gen.calculatedTotalCost - (input * 2.5e-6 + output * 10e-6)) < 1e-12, `cost ${gen.calculatedTotalCost}`);
    const gens = await get(`/api/public/observations?traceId=${ids.traceId}&type=GENERATION`);
    assert.equal(gens.data.length, 1);
  }

  it('accepts JSON from @opentelemetry/exporter-trace-otlp-http', async () => {
    const exporter = new JsonExporter({ url: `${gateway.origin}/v1/traces`, headers: { authorization: env.auth } });
    const want = { user: 'otel-json-user', session: 'otel-json-session', input: 1200, output: 80 };
    const ids = await exportAgentTrace(exporter, want);
    await checkGeneration(ids, want);
  });

  it('accepts protobuf from @opentelemetry/exporter-trace-otlp-proto', async () => {
    const exporter = new ProtoExporter({ url: `${gateway.origin}/v1/traces`, headers: { authorization: env.auth } });
    const want = { user: 'otel-proto-user', session: 'otel-proto-session', input: 3000, output: 500 };
    const ids = await exportAgentTrace(exporter, want);
    await checkGeneration(ids, want);
    // Both runs' generations are in the usage rollup, by user.
    const usage = await get('/api/telemetry/usage?group_by=user');
    const rows = usage.rows ?? usage.data ?? usage;
    const row = rows.find((r) => JSON.stringify(r).includes('otel-proto-user'));
    assert.ok(row, `usage rows: ${JSON.stringify(usage)}`);
    assert.equal(row.input_tokens, 3000);
    assert.equal(row.output_tokens, 500);
  });
});
