// maglev.ts: the weighted Maglev lookup table the XDP program indexes by flow hash (Eisenbud et al., NSDI 2016, with weights as turns per round).

import { REAL_NONE } from './abi';

export interface MaglevBackend {
  /** Stable identity for the permutation: the same real gets the same preference list across rebuilds. */
  readonly key: string;
  /** Relative share; 0 takes no buckets. */
  readonly weight: number;
  /** What the bucket holds: the datapath's real id. */
  readonly id: number;
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function fnv1a(s: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche so that keys differing in one character spread over the whole range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Builds a table of `size` buckets (size must be prime so every skip visits every bucket).
 * Each round gives every backend weight/gcd turns; a turn claims the backend's next preferred
 * free bucket. Shares therefore follow the weights to within one round's rounding, and a
 * change to one backend moves only the buckets it gains or loses plus a small spill-over.
 */
export function buildMaglev(backends: readonly MaglevBackend[], size: number): Uint32Array {
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not prime`);
  const table = new Uint32Array(size).fill(REAL_NONE);
  const live = backends.filter((b) => b.weight > 0).slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (live.length === 0) return table;

  const n = live.length;
  // pos[i] is where backend i's permutation (offset + j*skip) mod size stands: stepping it by one add
  // and one compare, rather than multiplying, is what keeps a 65537 x 1000 build within a few ms.
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const turns = new Uint32Array(n);
  let g = 0;
  for (const b of live) g = gcd(b.weight, g);
  for (let i = 0; i < n; i++) {
    pos[i] = fnv1a(live[i]!.key, 0x811c9dc5) % size;
    skip[i] = (fnv1a(live[i]!.key, 0x050c5d1f) % (size - 1)) + 1;
    turns[i] = live[i]!.weight / g;
  }
  const filled = new Uint8Array(size);
  let left = size;
  while (left > 0) {
    for (let i = 0; i < n && left > 0; i++) {
      const id = live[i]!.id, step = skip[i]!;
      let c = pos[i]!;
      for (let t = turns[i]!; t > 0 && left > 0; t--) {
        while (filled[c]) {
          c += step;
          if (c >= size) c -= size;
        }
        filled[c] = 1;
        table[c] = id;
        left--;
        c += step;
        if (c >= size) c -= size;
      }
      pos[i] = c;
    }
  }
  return table;
}
