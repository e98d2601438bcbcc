// End-to-end tests of the agentplane gateway driven by the official `openai` npm SDK.
//
// Each suite starts the mock upstream (mock_upstream.mjs) and a real gateway process
// (gateway_process.mjs) on loopback with ephemeral ports, then talks to the gateway exactly as an
// application would: `new OpenAI({ baseURL: <gateway>/v1 })`. What the gateway forwarded is
// checked on the mock's request log; what it accounted is checked on its JSON access log.
// Every request carries a unique marker in its body, so assertions never depend on test order.

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { startMockUpstream, kUsage, kStreamPieces, mockEmbedding } from './mock_upstream.mjs';
import { startGateway } from './gateway_process.mjs';

const kKey = 'sk-test-1';
const kTestTimeout = { timeout: 20000 };

// Public model name → backend model name the mock receives (which also picks its failure mode).
const kRoutes = {
  'gpt-4o-mini': 'backend-model-name',
  'text-embedding-3-small': 'embed-model',
  'flaky-model': 'fail-500-once',
  'broken-model': 'fail-500-always',
  'throttled-model': 'rate-limit-once',
  'overloaded-model': 'rate-limit-always',
  'dropping-model': 'drop-mid-stream',
  'slow-model': 'slow-first-byte',
};

// Per-backend timeouts; the slow backend gets a first-byte timeout shorter than the mock's delay.
const kDefaultTimeouts = '{connect: 1s, first_byte: 5s, total: 30s}';
const kTimeouts = { 'slow-model': '{connect: 1s, first_byte: 300ms, total: 30s}' };

function configYaml(upstreamBaseURL) {
  const backends = Object.entries(kRoutes)
    .map(
      ([pub, backendModel]) => `  - name: be-${pub}
    url: ${upstreamBaseURL}
    model: ${backendModel}
    retries: {attempts: 2, backoff: 10ms}
    timeouts: ${kTimeouts[pub] ?? kDefaultTimeouts}
`,
    )
    .join('');
  const models = Object.keys(kRoutes)
    .map(
      (pub) => `  - name: ${pub}
    backends: [{name: be-${pub}, weight: 1}]
`,
    )
    .join('');
  return `server: {read_timeout: 5s}
auth:
  keys: [${kKey}]
backends:
${backends}models:
${models}`;
}

const marker = () => `marker-${randomUUID()}`;
const userMsg = (text) => [{ role: 'user', content: text }];

// Checks the OpenAI error envelope {"error":{"message","type","param","code"}}.
function assertErrorEnvelope(body, what) {
  assert.ok(body && typeof body === 'object' && body.error && typeof body.error === 'object',
    `${what}: body has no "error" object: ${JSON.stringify(body)}`);
  const e = body.error;
  assert.equal(typeof e.message, 'string', `${what}: error.message: ${JSON.stringify(body)}`);
  assert.ok(e.message.length > 0, `${what}: empty error.message`);
  assert.equal(typeof e.type, 'string', `${what}: error.type: ${JSON.stringify(body)}`);
  assert.ok('param' in e, `${what}: error.param missing: ${JSON.stringify(body)}`);
  assert.ok('code' in e, `${what}: error.code missing: ${JSON.stringify(body)}`);
}

describe('openai SDK → agentplane gateway (--config)', () => {
  let mock;
  let gw;
  let client;
  let dir;
  let configFile;

  async function launch() {
    gw = await startGateway(['--config', configFile]);
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: kKey, maxRetries: 0, timeout: 15000 });
  }

  before(async () => {
    mock = await startMockUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'agentplane-sdk-'));
    configFile = path.join(dir, 'gateway.yaml');
    writeFileSync(configFile, configYaml(mock.baseURL));
    await launch();
  });

  after(async () => {
    if (gw) await gw.stop();
    if (mock) await mock.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // A gateway crash fails the test that caused it, with the gateway's stderr rather than a bare
  // ECONNREFUSED, and a fresh gateway is started so the remaining tests still say something.
  afterEach(async () => {
    await new Promise((r) => setTimeout(r, 30)); // a crash right after the response shows up here
    const died = gw?.unexpectedExit();
    if (died) {
      await launch();
      throw new Error(`during this test: ${died}`);
    }
  });

  it('GET /healthz answers 200', kTestTimeout, async () => {
    const r = await fetch(`${gw.origin}/healthz`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  });

  it('chat non-stream: content and usage relayed, model rewritten for the backend', kTestTimeout, async () => {
    const m = marker();
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: userMsg(m) });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'mock reply from backend-model-name');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(r.usage, kUsage);

    const seen = mock.byMarker(m);
    assert.equal(seen.length, 1, 'the mock saw exactly one request');
    assert.equal(seen[0].path, '/v1/chat/completions');
    assert.equal(seen[0].body.model, 'backend-model-name', 'model rewritten to the backend model');
    assert.deepEqual(seen[0].body.messages, userMsg(m), 'messages forwarded unchanged');
  });

  it('does not forward the client\'s gateway key to the upstream', kTestTimeout, async () => {
    const m = marker();
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: userMsg(m) });
    const [seen] = mock.byMarker(m);
    assert.ok(seen);
    assert.ok(!JSON.stringify(seen.headers).includes(kKey),
      `upstream request headers carry the client key: ${JSON.stringify(seen.headers)}`);
  });

  it('chat stream with stream_options.include_usage: chunks then a usage chunk', kTestTimeout, async () => {
    const m = marker();
    const rid = `sdk-stream-usage-${randomUUID()}`;
    const stream = await client.chat.completions.create(
      {
        model: 'gpt-4o-mini',
        messages: userMsg(m),
        stream: true,
        stream_options: { include_usage: true },
      },
      { headers: { 'x-request-id': rid } },
    );
    const chunks = [];
    for await (const c of stream) chunks.push(c);

    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, kStreamPieces.join(''));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
    assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'), 'a finish_reason chunk arrived');
    const usageChunks = chunks.filter((c) => c.usage);
    assert.equal(usageChunks.length, 1, 'exactly one chunk carries usage');
    assert.equal(usageChunks[0], chunks.at(-1), 'the usage chunk is the last one');
    assert.deepEqual(usageChunks[0].choices, []);
    assert.deepEqual(usageChunks[0].usage, kUsage);

    const [seen] = mock.byMarker(m);
    assert.equal(seen.body.model, 'backend-model-name');
    assert.equal(seen.body.stream, true);
    assert.equal(seen.body.stream_options?.include_usage, true);
  });

  it('chat stream without include_usage: no usage chunk reaches the client, gateway still asked for it', kTestTimeout, async () => {
    const m = marker();
    const rid = `sdk-stream-nousage-${randomUUID()}`;
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: userMsg(m), stream: true },
      { headers: { 'x-request-id': rid } },
    );
    const chunks = [];
    for await (const c of stream) chunks.push(c);

    assert.ok(chunks.length >= kStreamPieces.length, `got ${chunks.length} chunks`);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, kStreamPieces.join(''));
    for (const c of chunks) {
      assert.ok(Array.isArray(c.choices) && c.choices.length > 0,
        `a usage-only chunk (choices: []) reached the client: ${JSON.stringify(c)}`);
      assert.ok(!c.usage, `a chunk carried usage the client did not ask for: ${JSON.stringify(c)}`);
    }

    const [seen] = mock.byMarker(m);
    assert.ok(seen, 'the mock saw the request');
    assert.equal(seen.body.stream, true);
    assert.equal(seen.body.stream_options?.include_usage, true,
      'the gateway asks the backend for usage even when the client did not');

    // The gateway used the usage it asked for: the access log accounts the tokens.
    const rec = await gw.waitForLog((l) => l.request_id === rid);
    assert.ok(rec, `no access-log record with request_id ${rid}; stderr tail:\n${gw.stderr().slice(-2000)}`);
    assert.equal(rec.status, 200);
    assert.deepEqual(
      {
        prompt_tokens: rec.usage?.prompt_tokens,
        completion_tokens: rec.usage?.completion_tokens,
        total_tokens: rec.usage?.total_tokens,
      },
      kUsage,
      `access-log usage: ${JSON.stringify(rec)}`,
    );
  });

  it('completions non-stream', kTestTimeout, async () => {
    const m = marker();
    const r = await client.completions.create({ model: 'gpt-4o-mini', prompt: m });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, `completion of ${JSON.stringify(m)} by backend-model-name`);
    assert.deepEqual(r.usage, kUsage);
    const [seen] = mock.byMarker(m);
    assert.equal(seen.path, '/v1/completions');
    assert.equal(seen.body.model, 'backend-model-name');
    assert.equal(seen.body.prompt, m);
  });

  it('completions stream without include_usage: text relayed, no usage chunk', kTestTimeout, async () => {
    const m = marker();
    const stream = await client.completions.create({ model: 'gpt-4o-mini', prompt: m, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), kStreamPieces.join(''));
    for (const c of chunks) {
      assert.ok(c.choices.length > 0 && !c.usage, `unexpected usage chunk: ${JSON.stringify(c)}`);
    }
    const [seen] = mock.byMarker(m);
    assert.equal(seen.body.stream_options?.include_usage, true);
  });

  it('embeddings: SDK default (base64) and float', kTestTimeout, async () => {
    const m = marker();
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: [m, 'second'] });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 2);
    assert.deepEqual(Array.from(r.data[0].embedding), mockEmbedding(0));
    assert.deepEqual(Array.from(r.data[1].embedding), mockEmbedding(1));
    assert.equal(r.usage.prompt_tokens, 6);
    const [seen] = mock.byMarker(m);
    assert.equal(seen.path, '/v1/embeddings');
    assert.equal(seen.body.model, 'embed-model');
    assert.equal(seen.body.encoding_format, 'base64');

    const f = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: marker(),
      encoding_format: 'float',
    });
    assert.deepEqual(f.data[0].embedding, mockEmbedding(0));
  });

  it('models.list() returns the configured public model names', kTestTimeout, async () => {
    const ids = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, 'model');
      ids.push(model.id);
    }
    assert.deepEqual(ids.sort(), Object.keys(kRoutes).sort());
  });

  it('wrong API key → AuthenticationError (401)', kTestTimeout, async () => {
    const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    const m = marker();
    await assert.rejects(
      bad.chat.completions.create({ model: 'gpt-4o-mini', messages: userMsg(m) }),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.ok(['authentication_error', 'invalid_request_error'].includes(err.type), `type ${err.type}`);
        return true;
      },
    );
    assert.equal(mock.byMarker(m).length, 0, 'rejected before reaching the upstream');
  });

  it('missing Authorization → 401 with an OpenAI error body', kTestTimeout, async () => {
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: userMsg(marker()) }),
    });
    assert.equal(r.status, 401);
    assertErrorEnvelope(await r.json(), 'missing key');
  });

  it('unknown model → NotFoundError (404, code model_not_found)', kTestTimeout, async () => {
    const m = marker();
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: userMsg(m) }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 404);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
    assert.equal(mock.byMarker(m).length, 0);
  });

  it('missing model → BadRequestError (400) via client.post', kTestTimeout, async () => {
    const m = marker();
    await assert.rejects(
      client.post('/chat/completions', { body: { messages: userMsg(m) } }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 400);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
    assert.equal(mock.byMarker(m).length, 0);
  });

  it('malformed JSON → 400 with an OpenAI error body', kTestTimeout, async () => {
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${kKey}` },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    assert.equal(r.status, 400);
    assertErrorEnvelope(await r.json(), 'malformed JSON');
  });

  it('upstream 500 once is retried transparently', kTestTimeout, async () => {
    const m = marker();
    const r = await client.chat.completions.create({ model: 'flaky-model', messages: userMsg(m) });
    assert.equal(r.choices[0].message.content, 'mock reply from fail-500-once');
    assert.deepEqual(r.usage, kUsage);
    const seen = mock.byMarker(m);
    assert.equal(seen.length, 2, 'one failed attempt, one retry');
    assert.equal(seen[0].body.model, 'fail-500-once');
  });

  it('upstream 500 on every attempt → 5xx InternalServerError after retries', kTestTimeout, async () => {
    const m = marker();
    await assert.rejects(
      client.chat.completions.create({ model: 'broken-model', messages: userMsg(m) }),
      (err) => {
        assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}: ${err}`);
        assert.ok([502, 503, 504].includes(err.status), `status ${err.status}`);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
    assert.ok(mock.byMarker(m).length >= 2, 'the gateway retried before giving up');
  });

  it('upstream 429 with Retry-After once is retried transparently', kTestTimeout, async () => {
    const m = marker();
    const r = await client.chat.completions.create({ model: 'throttled-model', messages: userMsg(m) });
    assert.equal(r.choices[0].message.content, 'mock reply from rate-limit-once');
    assert.equal(mock.byMarker(m).length, 2);
  });

  it('upstream 429 on every attempt → an OpenAI-shaped error (429 or 5xx)', kTestTimeout, async () => {
    const m = marker();
    await assert.rejects(
      client.chat.completions.create({ model: 'overloaded-model', messages: userMsg(m) }),
      (err) => {
        assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
        assert.ok([429, 502, 503, 504].includes(err.status), `status ${err.status}`);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
    assert.ok(mock.byMarker(m).length >= 1);
  });

  it('upstream slower than the first-byte timeout → 5xx (504 expected) well before the mock answers', kTestTimeout, async () => {
    const m = marker();
    const t0 = Date.now();
    await assert.rejects(
      client.chat.completions.create({ model: 'slow-model', messages: userMsg(m) }),
      (err) => {
        assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}: ${err}`);
        assert.ok([502, 503, 504].includes(err.status), `status ${err.status}`);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
    const elapsed = Date.now() - t0;
    // Each attempt should give up after ~300 ms; the mock would answer after 5000 ms.
    assert.ok(elapsed < 4500, `took ${elapsed} ms: the first_byte timeout was not applied`);
    assert.ok(mock.byMarker(m).length >= 1);
  });

  it('upstream dying mid-stream → the SDK stream iterator throws an APIError', kTestTimeout, async () => {
    const m = marker();
    const stream = await client.chat.completions.create({
      model: 'dropping-model',
      messages: userMsg(m),
      stream: true,
    });
    const got = [];
    let thrown;
    try {
      for await (const c of stream) got.push(c);
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown, `the stream ended without an error after ${got.length} chunks`);
    assert.ok(thrown instanceof OpenAI.APIError && !(thrown instanceof OpenAI.APIConnectionError),
      `expected an APIError from a data: {"error":...} event, got ${thrown?.constructor?.name}: ${thrown}`);
    assert.equal(typeof thrown.error?.message, 'string');
    assert.equal(got.map((c) => c.choices[0]?.delta?.content ?? '').join(''), kStreamPieces.slice(0, 2).join(''),
      'chunks sent before the failure were relayed');
  });

  it('x-request-id: an incoming id is echoed (fetch and SDK .withResponse())', kTestTimeout, async () => {
    const rid = `sdk-rid-${randomUUID()}`;
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${kKey}`,
        'x-request-id': rid,
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: userMsg(marker()) }),
    });
    assert.equal(r.status, 200);
    await r.json();
    assert.equal(r.headers.get('x-request-id'), rid);

    const rid2 = `sdk-rid-${randomUUID()}`;
    const { data, response, request_id } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: userMsg(marker()) }, { headers: { 'x-request-id': rid2 } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), rid2);
    assert.equal(request_id, rid2);
    assert.equal(data._request_id, rid2);

    const rec = await gw.waitForLog((l) => l.request_id === rid2);
    assert.ok(rec, `no access-log record with request_id ${rid2}`);
    assert.equal(rec.status, 200);
    assert.equal(rec.usage?.total_tokens, kUsage.total_tokens);
  });

  it('x-request-id: generated when the client sends none (also on errors)', kTestTimeout, async () => {
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: userMsg(marker()) })
      .withResponse();
    const a = response.headers.get('x-request-id');
    assert.ok(a && a.length > 0, 'x-request-id set on success');
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    await r.arrayBuffer();
    const b = r.headers.get('x-request-id');
    assert.ok(b && b.length > 0, 'x-request-id set on an error response');
    assert.notEqual(a, b);
  });

  it('SIGTERM stops the gateway gracefully', kTestTimeout, async () => {
    const r = await gw.stop(5000);
    assert.equal(r.forced, false, 'the gateway did not exit within 5 s of SIGTERM');
    assert.equal(r.code, 0, `exit code ${r.code}, signal ${r.signal}`);
  });
});

describe('openai SDK → agentplane gateway (--backend)', () => {
  let mock;
  let gw;

  before(async () => {
    mock = await startMockUpstream();
    gw = await startGateway(['--backend', mock.baseURL]);
  });

  after(async () => {
    if (gw) await gw.stop();
    if (mock) await mock.close();
  });

  it('chat non-stream and stream pass through to the single backend', kTestTimeout, async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-anything', maxRetries: 0, timeout: 15000 });
    const m = marker();
    const r = await client.chat.completions.create({ model: 'backend-model-name', messages: userMsg(m) });
    assert.equal(r.choices[0].message.content, 'mock reply from backend-model-name');
    assert.deepEqual(r.usage, kUsage);
    const [seen] = mock.byMarker(m);
    assert.ok(seen);
    assert.equal(seen.body.model, 'backend-model-name');

    const stream = await client.chat.completions.create({
      model: 'backend-model-name',
      messages: userMsg(marker()),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), kStreamPieces.join(''));
    assert.deepEqual(chunks.at(-1).usage, kUsage);
  });

  it('models.list() shows the backend\'s own models', kTestTimeout, async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-anything', maxRetries: 0, timeout: 15000 });
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids.sort(), ['backend-model-name', 'embed-model']);
  });
});
