// The token estimate (src/api/token_estimate.cc) against real cl100k counts from js-tiktoken.
//
// 1. Measures the estimate's relative error |estimate − cl100k| / cl100k on the corpus of
//    token_corpus.mjs (prose, markdown, C++ and JS code, JSON, numbers, non-English), per kind
//    and overall, and prints the table recorded in docs/telemetry.md; the test fails when the
//    overall mean or p90 error grows past the bounds below (a regression in the heuristic).
// 2. Checks that the cl100k counts written into src/api/token_estimate_test.cc are the
//    library's counts, so that C++ test never carries remembered numbers.
// The estimates come from build/bench/telemetry/token_estimate_eval (AP_TOKEN_ESTIMATE_EVAL).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncoding } from 'js-tiktoken';
import { corpus } from './token_corpus.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const enc = getEncoding('cl100k_base');
const cl100k = (text) => enc.encode(text).length;

// Bounds on the measured errors (docs/telemetry.md has the figures); fail on regressions only.
const kMaxMeanError = 0.12;
const kMaxP90Error = 0.25;

function evalBinary() {
  const bin = process.env.AP_TOKEN_ESTIMATE_EVAL ?? path.join(root, 'build/bench/telemetry/token_estimate_eval');
  if (!existsSync(bin)) throw new Error(`token_estimate_eval not found at ${bin} (set AP_TOKEN_ESTIMATE_EVAL)`);
  return bin;
}

function estimate(texts) {
  return JSON.parse(execFileSync(evalBinary(), { input: JSON.stringify(texts), maxBuffer: 1 << 26 }).toString());
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

function stats(errors) {
  const sorted = [...errors].sort((a, b) => a - b);
  const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
  return { n: errors.length, mean, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted[sorted.length - 1] };
}

describe('token estimate vs cl100k (js-tiktoken)', () => {
  it('stays within the measured error on a varied corpus', () => {
    const kinds = corpus();
    const all = [];
    const signed = [];
    const pct = (x) => `${(x * 100).toFixed(1)} %`;
    const rows = ['| kind | samples | cl100k tokens | estimated | mean error | p90 error | bias |', '|---|---|---|---|---|---|---|'];
    for (const [kind, texts] of Object.entries(kinds)) {
      const est = estimate(texts);
      const errs = [];
      let truth = 0, guess = 0, bias = 0;
      texts.forEach((t, i) => {
        const n = cl100k(t);
        truth += n;
        guess += est[i];
        errs.push(Math.abs(est[i] - n) / n);
        bias += (est[i] - n) / n;
        signed.push((est[i] - n) / n);
      });
      all.push(...errs);
      const s = stats(errs);
      rows.push(`| ${kind} | ${s.n} | ${truth} | ${guess} | ${pct(s.mean)} | ${pct(s.p90)} | ${bias >= 0 ? '+' : ''}${pct(bias / texts.length)} |`);
    }
    const s = stats(all);
    const bias = signed.reduce((a, b) => a + b, 0) / signed.length;
    rows.push(`| **all** | ${s.n} | | | **${pct(s.mean)}** | **${pct(s.p90)}** | ${bias >= 0 ? '+' : ''}${pct(bias)} |`);
    console.log(rows.join('\n'));
    assert.ok(s.mean <= kMaxMeanError, `mean error ${pct(s.mean)} > ${pct(kMaxMeanError)}`);
    assert.ok(s.p90 <= kMaxP90Error, `p90 error ${pct(s.p90)} > ${pct(kMaxP90Error)}`);
  });

  it('token_estimate_test.cc carries the library\'s cl100k counts', () => {
    const src = readFileSync(path.join(root, 'src/api/token_estimate_test.cc'), 'utf8');
    // Cases are written {"text", count} with a plain C string literal (JSON-compatible escapes).
    const re = /\{("(?:[^"\\]|\\.)*"),\s*(\d+)\}/g;
    let m;
    let checked = 0;
    while ((m = re.exec(src))) {
      const text = JSON.parse(m[1]);
      assert.equal(cl100k(text), Number(m[2]), `cl100k(${m[1]})`);
      checked++;
    }
    assert.ok(checked >= 8, `only ${checked} cases found`);
  });
});
