// Starts and stops the agentplane gateway binary for the SDK end-to-end tests.
//
// startGateway() spawns `$AGENTPLANE_BIN gateway --host 127.0.0.1 --port 0 ... --access-log json`,
// waits for the `listening on http://127.0.0.1:PORT` line on stdout, and collects stderr so tests
// can read the JSON access log (one object per line). stop() sends SIGTERM and escalates to
// SIGKILL; a process-exit hook kills anything still running, so no gateway outlives the test run.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function gatewayBinary() {
  const bin = process.env.AGENTPLANE_BIN || path.resolve(here, '../../build/agentplane');
  if (!existsSync(bin)) {
    throw new Error(`agentplane binary not found at ${bin} (set AGENTPLANE_BIN)`);
  }
  return bin;
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// extraArgs: e.g. ['--config', file] or ['--backend', url].
export async function startGateway(extraArgs, { startTimeoutMs = 15000 } = {}) {
  const bin = gatewayBinary();
  const args = [
    'gateway',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    ...extraArgs,
    '--threads',
    '1',
    '--access-log',
    'json',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);

  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  let exitInfo = null;
  let stopping = false;
  exited.then((info) => {
    exitInfo = info;
  });

  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`gateway did not print "listening on" within ${startTimeoutMs} ms\n` +
        `args: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, startTimeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited before listening (code ${code}, signal ${signal})\n` +
        `args: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  }).catch(async (err) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    throw err;
  });

  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    // Parsed JSON access-log lines seen so far (non-JSON lines are ignored).
    accessLog() {
      const out = [];
      for (const line of stderr.split('\n')) {
        const t = line.trim();
        if (!t.startsWith('{')) continue;
        try {
          out.push(JSON.parse(t));
        } catch {
          // a partial line still being written, or not a log record
        }
      }
      return out;
    },
    // Waits (up to timeoutMs) for an access-log record matching pred; returns it or undefined.
    async waitForLog(pred, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = this.accessLog().find(pred);
        if (hit || Date.now() > deadline) return hit;
        await sleep(50);
      }
    },
    exitInfo: () => exitInfo,
    // A description of the gateway's death if it exited without being asked to, else null.
    unexpectedExit() {
      if (!exitInfo || stopping) return null;
      return `the gateway process died (exit code ${exitInfo.code}, signal ${exitInfo.signal}); ` +
        `stderr tail:\n${stderr.slice(-3000)}`;
    },
    // SIGTERM, then SIGKILL after graceMs. Resolves to {code, signal, forced}.
    async stop(graceMs = 5000) {
      if (exitInfo) return { ...exitInfo, forced: false };
      stopping = true;
      child.kill('SIGTERM');
      const timedOut = Symbol('timeout');
      const r = await Promise.race([exited, sleep(graceMs).then(() => timedOut)]);
      if (r !== timedOut) return { ...r, forced: false };
      child.kill('SIGKILL');
      return { ...(await exited), forced: true };
    },
  };
}
