// SPDX-License-Identifier: Apache-2.0
// fuzz.test.ts: seeded random frames (valid, truncated, mutated) through the XDP program, each held to the README's verdict table as src/core/verdictmodel.ts states it: verdict, output bytes, counters.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeMismatch, type FuzzResult, type FuzzSetup, fuzzSetup, runFuzz } from '../lib/fuzzrun';
import { requirePrivileges } from '../lib/privileged';
import { runSeed } from '../lib/seed';

/** The fixed seed every run repeats, and the frames per seed (the short mode: `npm run fuzz` runs 10,000,000). */
const FIXED_SEED = 0x15f0220;
const FRAMES = 150_000;

let s: FuzzSetup;

before(async () => {
  requirePrivileges('BPF fuzz test');
  s = await fuzzSetup();
});

after(() => s?.dp.close());

function check(r: FuzzResult): void {
  const summary =
    `seed ${r.seed} (rerun: npm run fuzz -- --seed ${r.seed} --frames ${r.frames}): ${r.frames} frames in ${(r.durationMs / 1000).toFixed(1)} s, ` +
    `${Math.round(r.frames / (r.durationMs / 1000))} frames/s; per class ${JSON.stringify(r.perClass)}`;
  console.log(summary);
  assert.equal(r.mismatches, 0, `${summary}\n${r.mismatches} frames differ from the model:\n${r.examples.map(describeMismatch).join('\n')}`);
  assert.deepEqual(r.counterMismatches, [], `${summary}\nverdict counters differ from the model's sums`);
  // Every class is exercised, or the generator has lost a template.
  for (const [cls, n] of Object.entries(r.perClass)) assert.ok(n > r.frames / 1000, `${summary}\nclass ${cls}: only ${n} frames`);
  // Every rule of the model decides some frames (but the sub-Ethernet one: BPF_PROG_TEST_RUN refuses frames under 14 bytes).
  for (const [rule, n] of Object.entries(r.perRule))
    if (rule !== 'too short for an Ethernet header') assert.ok(n > 0, `${summary}\nrule "${rule}" never decided a frame`);
  assert.ok(
    r.counters.tx_new! > 0 && r.counters.tx_existing! > 0 && r.counters.drop_no_real! > 0,
    `${summary}\nforwarded frames: ${JSON.stringify(r.counters)}`,
  );
  // ICMP errors both reach reals (their flow was open) and are passed (it was not).
  assert.ok(r.counters.tx_icmp! > 0 && r.counters.pass_icmp_no_flow! > 0, `${summary}\nICMP errors: ${JSON.stringify(r.counters)}`);
}

describe('random frames against the verdict model', () => {
  test(`fixed seed ${FIXED_SEED}: ${FRAMES} frames`, async () => {
    check(await runFuzz(s, { seed: FIXED_SEED, frames: FRAMES }));
  });

  test(`a fresh seed (printed; a fixed one in CI): ${FRAMES} frames`, async () => {
    const seed = runSeed();
    console.log(`fuzz seed ${seed}`);
    check(await runFuzz(s, { seed, frames: FRAMES }));
  });
});
