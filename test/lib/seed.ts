// seed.ts: the fuzzers' second seed: fresh on every local run, fixed per commit in CI (a re-run of a commit's CI is the same run).

import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/** Under CI (CI set), the commit's hash as a seed; elsewhere a random one. XLVS_FUZZ_SEED overrides both. */
export function runSeed(): number {
  if (process.env.XLVS_FUZZ_SEED) return Number(process.env.XLVS_FUZZ_SEED);
  if (process.env.CI) {
    try {
      return parseInt(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).slice(0, 8), 16) >>> 0;
    } catch {
      /* not a checkout: a random seed, printed like any other */
    }
  }
  return randomInt(2 ** 32 - 1);
}
