#!/usr/bin/env node
// Writes the fixed bodies the gateway benchmark uses into DIR (argv[2]):
//   www/v1/chat/completions         the mock upstream's non-streaming chat.completion (~600 bytes)
//   www/stream/v1/chat/completions  the mock upstream's SSE body: 100 chunk events + [DONE]
//   req-json.json / req-sse.json    the client request bodies (~300 bytes, model gpt-4o-mini)
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) { console.error('usage: fixtures.js DIR'); process.exit(2); }
const created = 1700000000;
const model = 'gpt-4o-mini-2024-07-18';

const completion = {
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion', created, model,
  choices: [{
    index: 0,
    message: {
      role: 'assistant',
      content: 'Pooling lets a proxy reuse warm upstream connections, so requests skip the handshake.',
      refusal: null, annotations: [],
    },
    logprobs: null, finish_reason: 'stop',
  }],
  usage: {
    prompt_tokens: 41, completion_tokens: 31, total_tokens: 72,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default', system_fingerprint: 'fp_0ba0d124f1',
};

// 100 events: a role delta, 98 content deltas, a finish delta; then [DONE].
const events = [];
const words = ('Connection pooling lets a reverse proxy reuse warm connections to its upstreams ').split(' ');
for (let i = 0; i < 100; i++) {
  let delta, finish = null;
  if (i === 0) delta = { role: 'assistant', content: '', refusal: null };
  else if (i === 99) { delta = {}; finish = 'stop'; }
  else delta = { content: (words[i % words.length] || 'ok') + ' ' };
  events.push('data: ' + JSON.stringify({
    id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion.chunk', created, model,
    service_tier: 'default', system_fingerprint: 'fp_0ba0d124f1',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  }) + '\n\n');
}
events.push('data: [DONE]\n\n');

const request = (stream) => JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a concise assistant helping with infrastructure questions.' },
    { role: 'user', content: 'Summarise the benefits of connection pooling in an HTTP reverse proxy in two sentences.' },
  ],
  temperature: 0.2, max_tokens: 128, stream,
});

const write = (rel, body) => {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, body);
};
write('www/v1/chat/completions', JSON.stringify(completion));
write('www/stream/v1/chat/completions', events.join(''));
write('req-json.json', request(false));
write('req-sse.json', request(true));
