// SPDX-License-Identifier: Apache-2.0
// seed.ts: the fuzzers' extra seed: fresh on every local run, a fixed one in CI (a landing must not depend on a draw).

import { randomInt } from 'node:crypto';

/**
 * Under CI (CI set) a fixed seed, so a submission lands or not on its code alone; elsewhere a random one, printed by
 * the caller, so every local run explores new cases (a failure found that way becomes a fixed seed of its test).
 * XLVS_FUZZ_SEED overrides both.
 */
export function runSeed(): number {
  if (process.env.XLVS_FUZZ_SEED) return Number(process.env.XLVS_FUZZ_SEED);
  if (process.env.CI) return 0x5eed2026;
  return randomInt(2 ** 32 - 1);
}
