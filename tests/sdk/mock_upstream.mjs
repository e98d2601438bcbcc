// A mock OpenAI-compatible model server for the gateway's end-to-end tests.
//
// It listens on 127.0.0.1 with an ephemeral port, records every request it receives (method,
// path, headers, parsed JSON body) so tests can check what the gateway forwarded (the model
// rewrite, stream_options.include_usage), and answers like the OpenAI API does:
//   POST /v1/chat/completions  non-stream (with usage) or SSE (role chunk, content chunks, finish
//                              chunk, a usage-only chunk only when stream_options.include_usage,
//                              then `data: [DONE]`)
//   POST /v1/completions       non-stream or SSE, same rules
//   POST /v1/embeddings        float or base64 vectors (the SDK asks for base64 by default)
//   GET  /v1/models            the models it knows
// Failure modes are chosen by the model name the mock receives (after the gateway's rewrite, so
// a config can map a public model to a failing "backend model") or by an `x-mock-mode` header:
//   fail-500-once       500 on the 1st, 3rd, ... request for that mode, 200 on the others: one
//                       client request through a retrying gateway sees a transparent retry
//   fail-500-always     always 500
//   rate-limit-once     429 + Retry-After: 1 on every other request (like fail-500-once)
//   rate-limit-always   always 429 + Retry-After: 1
//   drop-mid-stream     stream: two content chunks, then the socket is destroyed;
//                       non-stream: the socket is destroyed before any response byte
//   slow-first-byte     waits `x-mock-delay-ms` (default 5000) before answering
// Plain node:http, no dependencies, so it also runs against the SDK directly (self-check).

import http from 'node:http';

const kCreated = 1700000000;

// Deterministic token counts so tests can compare usage end to end.
export const kUsage = Object.freeze({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
export const kStreamPieces = Object.freeze(['Hello', ' from', ' the', ' mock']);
export const kEmbeddingDims = 8;

function chatContent(model) {
  return `mock reply from ${model}`;
}

// A fixed, model-independent vector per input index, so tests can check values survive the trip.
export function mockEmbedding(index) {
  const v = [];
  for (let i = 0; i < kEmbeddingDims; i++) v.push((index + 1) * 0.125 + i * 0.25);
  return v;
}

function float32Base64(values) {
  const f = new Float32Array(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res, status, message, type, code = null, headers = {}) {
  sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}

function sseHeaders(res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();
}

function sseEvent(res, obj) {
  res.write(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves true if the response's connection closed before `ms` elapsed, false otherwise.
function sleepUnlessClosed(res, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    res.once('close', onClose);
  });
}

export async function startMockUpstream() {
  const requests = [];
  const modeCounts = new Map();
  const openSockets = new Set();

  function nextCount(mode) {
    const n = (modeCounts.get(mode) ?? 0) + 1;
    modeCounts.set(mode, n);
    return n;
  }

  async function handle(req, res, raw) {
    const url = new URL(req.url, 'http://mock');
    let body = null;
    if (raw.length) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined; // recorded as unparseable
      }
    }
    const record = {
      method: req.method,
      path: url.pathname,
      headers: { ...req.headers },
      body,
      raw,
      time: Date.now(),
    };
    requests.push(record);

    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: ['backend-model-name', 'embed-model'].map((id) => ({
          id,
          object: 'model',
          created: kCreated,
          owned_by: 'mock',
        })),
      });
    }
    if (req.method === 'GET' && (url.pathname === '/health' || url.pathname === '/healthz')) {
      return sendJson(res, 200, { status: 'ok' });
    }
    if (req.method !== 'POST') {
      return sendError(res, 404, `no route ${req.method} ${url.pathname}`, 'invalid_request_error');
    }
    if (body === undefined || body === null || typeof body !== 'object') {
      return sendError(res, 400, 'mock: body is not a JSON object', 'invalid_request_error');
    }

    const model = typeof body.model === 'string' ? body.model : '';
    const mode = req.headers['x-mock-mode'] || model;
    const n = nextCount(mode);
    record.mode = mode;
    record.attempt = n;

    switch (mode) {
      case 'fail-500-once':
        if (n % 2 === 1) {
          return sendError(res, 500, 'mock: transient failure', 'server_error');
        }
        break;
      case 'fail-500-always':
        return sendError(res, 500, 'mock: permanent failure', 'server_error');
      case 'rate-limit-once':
        if (n % 2 === 1) {
          return sendError(res, 429, 'mock: rate limited', 'rate_limit_error', 'rate_limit_exceeded', {
            'retry-after': '1',
          });
        }
        break;
      case 'rate-limit-always':
        return sendError(res, 429, 'mock: rate limited', 'rate_limit_error', 'rate_limit_exceeded', {
          'retry-after': '1',
        });
      case 'slow-first-byte': {
        // Gives up early when the caller hangs up, so no timer outlives the test.
        const closed = await sleepUnlessClosed(res, Number(req.headers['x-mock-delay-ms'] ?? 5000));
        if (closed) return;
        break;
      }
      case 'drop-mid-stream':
        if (!body.stream) {
          req.socket.destroy();
          return;
        }
        break;
      default:
        break;
    }

    if (url.pathname === '/v1/chat/completions') return chat(req, res, body, mode);
    if (url.pathname === '/v1/completions') return completions(req, res, body, mode);
    if (url.pathname === '/v1/embeddings') return embeddings(res, body);
    return sendError(res, 404, `no route POST ${url.pathname}`, 'invalid_request_error');
  }

  async function chat(req, res, body, mode) {
    if (!Array.isArray(body.messages)) {
      return sendError(res, 400, "mock: 'messages' is required", 'invalid_request_error', null);
    }
    const id = `chatcmpl-mock${requests.length}`;
    const model = body.model;
    if (!body.stream) {
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created: kCreated,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: chatContent(model), refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: { ...kUsage },
        system_fingerprint: 'fp_mock',
      });
    }
    const includeUsage = body.stream_options?.include_usage === true;
    const base = { id, object: 'chat.completion.chunk', created: kCreated, model, system_fingerprint: 'fp_mock' };
    // Like OpenAI: with include_usage every chunk carries "usage": null, the last one the totals.
    const chunk = (delta, finish = null) => ({
      ...base,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    sseHeaders(res);
    sseEvent(res, chunk({ role: 'assistant', content: '' }));
    for (let i = 0; i < kStreamPieces.length; i++) {
      if (mode === 'drop-mid-stream' && i === 2) {
        await sleep(20); // let the first chunks leave before the connection dies
        req.socket.destroy();
        return;
      }
      sseEvent(res, chunk({ content: kStreamPieces[i] }));
      await sleep(2);
    }
    sseEvent(res, chunk({}, 'stop'));
    if (includeUsage) sseEvent(res, { ...base, choices: [], usage: { ...kUsage } });
    sseEvent(res, '[DONE]');
    res.end();
  }

  async function completions(req, res, body, mode) {
    const id = `cmpl-mock${requests.length}`;
    const model = body.model;
    const text = `completion of ${JSON.stringify(body.prompt ?? '')} by ${model}`;
    if (!body.stream) {
      return sendJson(res, 200, {
        id,
        object: 'text_completion',
        created: kCreated,
        model,
        choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }],
        usage: { ...kUsage },
      });
    }
    const includeUsage = body.stream_options?.include_usage === true;
    const base = { id, object: 'text_completion', created: kCreated, model };
    sseHeaders(res);
    for (let i = 0; i < kStreamPieces.length; i++) {
      if (mode === 'drop-mid-stream' && i === 2) {
        await sleep(20);
        req.socket.destroy();
        return;
      }
      sseEvent(res, {
        ...base,
        choices: [{ index: 0, text: kStreamPieces[i], logprobs: null, finish_reason: null }],
        ...(includeUsage ? { usage: null } : {}),
      });
      await sleep(2);
    }
    sseEvent(res, {
      ...base,
      choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'stop' }],
      ...(includeUsage ? { usage: null } : {}),
    });
    if (includeUsage) sseEvent(res, { ...base, choices: [], usage: { ...kUsage } });
    sseEvent(res, '[DONE]');
    res.end();
  }

  function embeddings(res, body) {
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const base64 = body.encoding_format === 'base64';
    const n = inputs.length;
    return sendJson(res, 200, {
      object: 'list',
      data: inputs.map((_, i) => ({
        object: 'embedding',
        index: i,
        embedding: base64 ? float32Base64(mockEmbedding(i)) : mockEmbedding(i),
      })),
      model: body.model,
      usage: { prompt_tokens: 3 * n, total_tokens: 3 * n },
    });
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
        if (!res.headersSent) sendError(res, 500, `mock crashed: ${err.message}`, 'server_error');
        else res.destroy();
      });
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();

  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    // Requests whose path ends with `suffix` (e.g. '/chat/completions'), optionally filtered.
    find(suffix, pred = () => true) {
      return requests.filter((r) => r.path.endsWith(suffix) && pred(r));
    },
    // The request the mock received carrying this marker text anywhere in its raw body.
    byMarker(marker) {
      return requests.filter((r) => r.raw.includes(marker));
    },
    countFor(mode) {
      return modeCounts.get(mode) ?? 0;
    },
    async close() {
      for (const s of openSockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

// `node mock_upstream.mjs` runs it standalone for poking with curl.
if (import.meta.url === `file://${process.argv[1]}`) {
  const m = await startMockUpstream();
  console.log(`mock upstream on ${m.baseURL}`);
}
