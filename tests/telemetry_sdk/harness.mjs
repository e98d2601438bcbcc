// Shared set-up of the telemetry end-to-end tests: a mock OpenAI upstream and an `agentplane
// gateway` whose config (in a temp directory that also holds the database) has a telemetry:
// block with one project's Langfuse keys. `writeConfig(extra)` rewrites the file with more lines
// under telemetry: (reload tests); `stop()` ends both processes and removes the directory.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMockUpstream } from '../sdk/mock_upstream.mjs';
import { startGateway } from '../sdk/gateway_process.mjs';

export async function startTelemetryGateway({ prefix, publicKey, secretKey, telemetry = '' }) {
  const upstream = await startMockUpstream();
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const configPath = path.join(dir, 'gateway.yaml');
  const writeConfig = (extra) => writeFileSync(configPath, `
backends: [{name: mock, url: "${upstream.baseURL}", model: gpt-4o-mini}]
models: [{name: chat, backends: [mock]}]
telemetry:
  data_dir: ${dir}
  projects: [{name: default, public_key: ${publicKey}, secret_key: ${secretKey}}]
${extra}
`);
  writeConfig(telemetry);
  let gateway;
  try {
    gateway = await startGateway(['--config', configPath]);
  } catch (err) {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    upstream,
    gateway,
    dir,
    writeConfig,
    auth: `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString('base64')}`,
    async stop() {
      await gateway.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
