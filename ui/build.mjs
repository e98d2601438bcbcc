// ui/build.mjs — bundles the dashboard with esbuild into content-hashed files and writes the
// index.html that names them. Called by src/ui/CMakeLists.txt (`node build.mjs --out DIR`);
// the output goes under build/ and is embedded into the binary, never committed.
//
// Prints the first-load size (index + JS + CSS, raw and gzip) so a bundle that outgrows the
// 300 KB budget is seen at build time; exceeding it fails the build.
import * as esbuild from 'esbuild';
import { mkdirSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? path.resolve(process.argv[outIndex + 1]) : path.join(here, 'dist');
const kBudget = 300 * 1024;

rmSync(out, { recursive: true, force: true });  // no stale bundles get embedded
mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  entryPoints: [path.join(here, 'src/main.js'), path.join(here, 'src/style.css')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const files = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
const js = files.find((f) => f.endsWith('.js'));
const css = files.find((f) => f.endsWith('.css'));
const template = readFileSync(path.join(here, 'src/index.html'), 'utf8');
writeFileSync(path.join(out, 'index.html'), template.replace('{{CSS}}', css).replace('{{JS}}', js));

let raw = 0, gz = 0;
for (const f of readdirSync(out)) {
  const data = readFileSync(path.join(out, f));
  raw += data.length;
  gz += gzipSync(data, { level: 9 }).length;
}
console.log(`dashboard: ${files.join(', ')} + index.html; first load ${(raw / 1024).toFixed(1)} KB, ` +
            `${(gz / 1024).toFixed(1)} KB gzip (budget ${kBudget / 1024} KB)`);
if (gz > kBudget) {
  console.error('dashboard: first load over budget');
  process.exit(1);
}
