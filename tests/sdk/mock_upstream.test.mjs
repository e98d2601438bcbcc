// Self-check of the mock upstream with the openai SDK pointed straight at it (no gateway).
// When a gateway test fails, this file passing says the mock speaks the API the way the SDK
// expects, so the fault is on the gateway's side of the wire.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startMockUpstream, kUsage, kStreamPieces, mockEmbedding } from './mock_upstream.mjs';

describe('mock upstream (SDK direct, no gateway)', () => {
  let mock;
  let client;

  before(async () => {
    mock = await startMockUpstream();
    client = new OpenAI({ baseURL: mock.baseURL, apiKey: 'sk-direct', maxRetries: 0, timeout: 10000 });
  });
  after(async () => {
    await mock?.close();
  });

  it('chat non-stream', async () => {
    const r = await client.chat.completions.create({
      model: 'backend-model-name',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(r.choices[0].message.content, 'mock reply from backend-model-name');
    assert.deepEqual(r.usage, kUsage);
  });

  it('chat stream with and without include_usage', async () => {
    const withUsage = await client.chat.completions.create({
      model: 'backend-model-name',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const a = [];
    for await (const c of withUsage) a.push(c);
    assert.deepEqual(a.at(-1).usage, kUsage);
    assert.equal(a.at(-1).choices.length, 0);

    const plain = await client.chat.completions.create({
      model: 'backend-model-name',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    const b = [];
    for await (const c of plain) b.push(c);
    assert.ok(b.every((c) => c.choices.length === 1 && !c.usage));
    assert.equal(b.map((c) => c.choices[0].delta.content ?? '').join(''), kStreamPieces.join(''));
  });

  it('failure modes', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'fail-500-once', messages: [{ role: 'user', content: 'x' }] }),
      OpenAI.InternalServerError,
    );
    const ok = await client.chat.completions.create({
      model: 'fail-500-once',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(ok.choices[0].message.content, 'mock reply from fail-500-once');
    await assert.rejects(
      client.chat.completions.create({ model: 'rate-limit-always', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.RateLimitError && err.headers.get('retry-after') === '1',
    );
    const stream = await client.chat.completions.create({
      model: 'drop-mid-stream',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    const got = [];
    await assert.rejects(async () => {
      for await (const c of stream) got.push(c);
    });
    assert.ok(got.length >= 1 && got.length < kStreamPieces.length + 1);
  });

  it('completions and embeddings (base64 default and float)', async () => {
    const c = await client.completions.create({ model: 'backend-model-name', prompt: 'p' });
    assert.match(c.choices[0].text, /backend-model-name/);
    const e = await client.embeddings.create({ model: 'embed-model', input: ['a', 'b'] });
    assert.deepEqual(Array.from(e.data[1].embedding), mockEmbedding(1));
    const f = await client.embeddings.create({ model: 'embed-model', input: 'a', encoding_format: 'float' });
    assert.deepEqual(f.data[0].embedding, mockEmbedding(0));
    assert.equal(mock.find('/embeddings').at(-2).body.encoding_format, 'base64');
  });
});
