// SPDX-License-Identifier: Apache-2.0
// fuzz.ts: `npm run fuzz`: the datapath fuzzer's long mode: 10,000,000 seeded random frames through the XDP program against src/core/verdictmodel.ts, with progress, a table and a JSON summary.

import { randomInt } from 'node:crypto';
/*
 * In scripts/, not bench/: it is a correctness check that exits non-zero on a mismatch, not a measurement; its
 * frames per second are reported only so a run's length can be planned. Options: --seed N (default: random,
 * printed), --frames N, --concurrency N (frames in flight), --json FILE (the summary also written there).
 */
import * as fs from 'node:fs';
import { describeMismatch, type FuzzResult, fuzzSetup, runFuzz } from '../test/lib/fuzzrun';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function num(name: string, dflt: number): number {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} ${v}: not a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  if (process.geteuid?.() !== 0) {
    process.stderr.write('fuzz: must run as root (it loads the XDP program)\n');
    return 2;
  }
  const seed = num('seed', randomInt(2 ** 32 - 1));
  const frames = num('frames', 10_000_000);
  const concurrency = num('concurrency', 64);
  const json = arg('json');
  process.stdout.write(`fuzz: seed ${seed}, ${frames.toLocaleString('en')} frames (rerun: npm run fuzz -- --seed ${seed} --frames ${frames})\n`);
  const setup = await fuzzSetup();
  let lastPrint = 0;
  let r: FuzzResult;
  try {
    r = await runFuzz(setup, {
      seed,
      frames,
      concurrency,
      batch: 16384,
      onProgress: (done, p) => {
        const now = Date.now();
        if (now - lastPrint < 2000 && done < frames) return;
        lastPrint = now;
        const rate = done / (p.durationMs / 1000);
        const eta = (frames - done) / rate;
        const line =
          `  ${done.toLocaleString('en')} / ${frames.toLocaleString('en')} frames, ${Math.round(rate).toLocaleString('en')}/s, ` +
          `mismatches ${p.mismatches}, counter mismatches ${p.counterMismatches.length}, ${Math.round(eta)} s left`;
        process.stdout.write(process.stdout.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
      },
    });
  } finally {
    setup.dp.close();
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  const rows: [string, string][] = [
    ...Object.entries(r.perClass).map(([k, v]): [string, string] => [`model: ${k}`, v.toLocaleString('en')]),
    ...Object.entries(r.perRule).map(([k, v]): [string, string] => [`  rule: ${k}`, v.toLocaleString('en')]),
    ...Object.entries(r.counters).map(([k, v]): [string, string] => [`counter: ${k}`, v.toLocaleString('en')]),
    ['frames', r.frames.toLocaleString('en')],
    ['mismatches (verdict or output)', String(r.mismatches)],
    ['counter mismatches (batches)', String(r.counterMismatches.length)],
    ['seed', String(r.seed)],
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s`],
    ['frames/s', Math.round(r.frames / (r.durationMs / 1000)).toLocaleString('en')],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(w)}  ${v.padStart(12)}`).join('\n')}\n\n`);
  for (const m of r.examples) process.stdout.write(`${describeMismatch(m)}\n`);
  for (const c of r.counterMismatches.slice(0, 10)) process.stdout.write(`counters: ${c}\n`);
  const summary = {
    seed: r.seed,
    frames: r.frames,
    per_class: r.perClass,
    per_rule: r.perRule,
    counters: r.counters,
    mismatches: r.mismatches,
    counter_mismatches: r.counterMismatches.length,
    duration_s: +(r.durationMs / 1000).toFixed(1),
    frames_per_s: Math.round(r.frames / (r.durationMs / 1000)),
    examples: r.examples,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (json) fs.writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
  return r.mismatches || r.counterMismatches.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
