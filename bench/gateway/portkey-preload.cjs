// Preloaded into Portkey's gateway (node --require) by the gateway benchmark (run.sh). Two shims,
// neither on the request path beyond one check per upstream response:
// 1. Portkey's start script has no host flag and listens on every interface; make any server it
//    starts listen on 127.0.0.1 only.
// 2. Portkey 1.15.2 on Node 20 fails every streaming request with "TypeError: immutable": it
//    appends headers to the Response that fetch() returned, whose Headers are immutable by spec
//    (@hono/node-server's Response keeps the same Headers object for stream bodies). For
//    text/event-stream responses, hand Portkey a Response with a mutable copy of the headers.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length && typeof args[0] === 'object' && args[0] !== null) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  } else if (typeof args[0] === 'number' || /^\d+$/.test(String(args[0]))) {
    const rest = args.slice(1);
    if (typeof rest[0] === 'string' || rest[0] === undefined || rest[0] === null) rest.shift();
    args = [args[0], '127.0.0.1', ...rest];
  }
  return listen.apply(this, args);
};

const fetch0 = globalThis.fetch;
globalThis.fetch = async function (...args) {
  const r = await fetch0.apply(this, args);
  if (!(r.headers.get('content-type') || '').startsWith('text/event-stream')) return r;
  return new Response(r.body, { status: r.status, statusText: r.statusText, headers: new Headers(r.headers) });
};
