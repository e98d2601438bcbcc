#!/usr/bin/env node
// Opens N idle keep-alive connections to a server for the gateway benchmark's memory check:
// each connection sends one `GET PATH` and keeps its socket open. Prints one JSON line when all
// have answered ({"opened":N,"ok":M}); on SIGTERM prints {"still_open":K} and exits.
// usage: idle-conns.js HOST PORT PATH [N=1000]
'use strict';
const net = require('net');

const [host, port, path, nArg] = process.argv.slice(2);
const n = parseInt(nArg || '1000', 10);
const batch = 100; // connect in batches so the listen backlog never overflows
const sockets = [];
let ok = 0, failed = 0, open = 0;

function one() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: +port });
    let buf = '', done = false;
    const finish = (good) => { if (!done) { done = true; good ? ok++ : failed++; resolve(); } };
    s.setNoDelay(true);
    s.on('connect', () => {
      open++;
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n\r\n`);
    });
    s.on('data', (d) => { buf += d; if (buf.includes('\r\n\r\n')) finish(/^HTTP\/1\.1 200/.test(buf)); });
    s.on('error', () => finish(false));
    s.on('close', () => { open--; finish(false); });
    s.setTimeout(10000, () => { s.destroy(); });
    sockets.push(s);
  });
}

(async () => {
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, one));
  }
  for (const s of sockets) s.setTimeout(0);
  console.log(JSON.stringify({ opened: n, ok, failed }));
})();

process.on('SIGTERM', () => {
  console.log(JSON.stringify({ still_open: open }));
  process.exit(0);
});
