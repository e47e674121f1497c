// limits.ts: value ranges shared by the config schema and the CLI flags.

import { isPrime } from './maglev';
export { CONN_DEFAULT_MAX, MAX_REALS, MAX_SERVICES, MH_DEFAULT_SIZE } from './abi';

/** Small tables cannot express weights; beyond ~1M buckets a rebuild costs more than it buys. */
export function isPrimeSize(n: unknown): boolean {
  return typeof n === 'number' && n >= 251 && n <= 1048573 && isPrime(n);
}
