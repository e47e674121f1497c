// SPDX-License-Identifier: Apache-2.0
// maglev.ts: the weighted Maglev lookup table the XDP program indexes by flow hash (Eisenbud et al., NSDI 2016, with weights as turns per round), and its minimal-disruption rebuild to exact shares.

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
  const live = backends
    .filter((b) => b.weight > 0)
    .slice()
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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
      const id = live[i]!.id,
        step = skip[i]!;
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

const byKey = (a: MaglevBackend, b: MaglevBackend): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id);

/**
 * Exact bucket counts for backends already sorted by key, all with weight > 0: floor(size*w/W) each, then the
 * remainder one each by largest fractional part, ties by key. Integer arithmetic, so no share is off by one to
 * rounding, and the result depends on the backends alone (never on a previous table).
 */
function quotasOf(live: readonly MaglevBackend[], size: number): Uint32Array {
  const n = live.length;
  const q = new Uint32Array(n);
  if (n === 0) return q;
  let total = 0;
  for (const b of live) {
    if (!Number.isInteger(b.weight)) throw new RangeError(`Maglev weight ${b.weight} of ${b.key} is not an integer`);
    total += b.weight;
  }
  if (!Number.isSafeInteger(size * total)) throw new RangeError(`Maglev weights sum ${total} is too large for size ${size}`);
  const rem = new Float64Array(n);
  let left = size;
  for (let i = 0; i < n; i++) {
    const num = size * live[i]!.weight;
    // Float division may round a quotient just below an integer up to it; the product check puts it back.
    let k = Math.floor(num / total);
    if (k * total > num) k--;
    else if ((k + 1) * total <= num) k++;
    q[i] = k;
    rem[i] = num - k * total;
    left -= k;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => rem[b]! - rem[a]! || a - b);
  for (let r = 0; r < left; r++) q[order[r]!]!++;
  return q;
}

/** The exact number of buckets rebuildMaglev gives each backend, in the order the backends are listed (0 for weight 0). */
export function maglevQuotas(backends: readonly MaglevBackend[], size: number): number[] {
  const live = backends.filter((b) => b.weight > 0).sort(byKey);
  const q = quotasOf(live, size);
  const of = new Map(live.map((b, i) => [b, q[i]!]));
  return backends.map((b) => of.get(b) ?? 0);
}

/**
 * A fixed pseudo-random visiting order of the buckets for a given size. An over-quota owner gives up the buckets
 * it meets last in this order and free buckets are handed out in it, so what moves is spread over the table
 * rather than piled at its high end. Xor, odd multiplications and xorshifts are each bijections on `bits`-bit
 * integers; walking the whole power-of-two domain and keeping what falls below `size` makes a permutation
 * in under 2*size steps.
 */
function scatterOrder(size: number): Uint32Array {
  let bits = 1;
  while (2 ** bits < size) bits++;
  const mask = 2 ** bits - 1;
  const s = (bits + 1) >>> 1;
  const order = new Uint32Array(size);
  let k = 0;
  for (let x = 0; x <= mask; x++) {
    let y = ((x ^ 0x5bd1e995) & mask) >>> 0;
    y = (Math.imul(y, 0x9e3779b1) & mask) >>> 0;
    y ^= y >>> s;
    y = (Math.imul(y, 0x85ebca6b) & mask) >>> 0;
    y ^= y >>> s;
    y = (Math.imul(y, 0xc2b2ae35) & mask) >>> 0;
    y ^= y >>> s;
    if (y < size) order[k++] = y;
  }
  return order;
}

// The order depends on the size alone and costs about as much as the rest of a rebuild; a deployment uses one or
// two sizes, so the last few are kept (never handed out, so never mutated).
const scatterCache = new Map<number, Uint32Array>();
function scatterOrderCached(size: number): Uint32Array {
  let order = scatterCache.get(size);
  if (!order) {
    if (scatterCache.size >= 4) scatterCache.delete(scatterCache.keys().next().value!);
    order = scatterOrder(size);
  } else scatterCache.delete(size);
  scatterCache.set(size, order);
  return order;
}

/**
 * Backend index by real id, as open addressing over typed arrays: looked up once per bucket, where a Map
 * costs about five times as much (2 ms of a 65537-bucket rebuild).
 */
class IdIndex {
  private readonly ids: Uint32Array;
  private readonly at: Int32Array;
  private readonly shift: number;

  constructor(ids: readonly number[]) {
    let bits = 4;
    while (2 ** bits < 2 * ids.length) bits++;
    this.shift = 32 - bits;
    this.ids = new Uint32Array(2 ** bits);
    this.at = new Int32Array(2 ** bits).fill(-1);
    ids.forEach((id, i) => {
      let h = this.slot(id);
      while (this.at[h] !== -1) {
        // Buckets hold ids, so two live backends with one id could not tell their buckets apart.
        if (this.ids[h] === id) throw new RangeError(`two live Maglev backends have id ${id}`);
        h = (h + 1) & (this.at.length - 1);
      }
      this.ids[h] = id;
      this.at[h] = i;
    });
  }

  private slot(id: number): number {
    return Math.imul(id, 0x9e3779b1) >>> this.shift;
  }

  /** The backend index of `id`, or -1. */
  get(id: number): number {
    for (let h = this.slot(id); ; h = (h + 1) & (this.at.length - 1)) {
      const i = this.at[h]!;
      if (i === -1 || this.ids[h] === id) return i;
    }
  }
}

/**
 * Updates the table the datapath holds with as few moved buckets as exact shares allow: every live backend ends
 * with exactly its quota (maglevQuotas), a bucket stays with its owner while the owner is live and within quota,
 * and only the buckets of removed, weight-0 or over-quota owners change hands. Removing one of N equal reals
 * therefore moves exactly its buckets, adding one moves exactly the newcomer's, a weight change only the delta;
 * from-scratch Maglev spills over far more as N/size grows (6.5/N at N = 1000, size 65537).
 * Falls back to buildMaglev when there is nothing to keep: no previous table, one of another size, or one in
 * which no bucket belongs to a live backend. Deterministic: the same table and backends give the same result,
 * whatever order the backends are listed in. O(size + n log n).
 */
export function rebuildMaglev(previous: Uint32Array | undefined, backends: readonly MaglevBackend[], size: number): Uint32Array {
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not prime`);
  if (!previous || previous.length !== size) return buildMaglev(backends, size);
  const live = backends.filter((b) => b.weight > 0).sort(byKey);
  const n = live.length;
  if (n === 0) return buildMaglev(backends, size);
  for (const b of live) {
    if (!Number.isInteger(b.id) || b.id < 0 || b.id >= REAL_NONE) throw new RangeError(`Maglev backend ${b.key} has id ${b.id}`);
  }
  const index = new IdIndex(live.map((b) => b.id));
  const quota = quotasOf(live, size);
  const order = scatterOrderCached(size);

  // Keep: in scattered order, a live owner keeps buckets until its quota is full; the rest become free.
  const table = new Uint32Array(size);
  const kept = new Uint32Array(n);
  const free = new Uint32Array(size);
  let f = 0;
  for (let j = 0; j < size; j++) {
    const b = order[j]!,
      id = previous[b]!;
    const i = index.get(id);
    if (i !== -1 && kept[i]! < quota[i]!) {
      kept[i]!++;
      table[b] = id;
    } else free[f++] = b;
  }
  if (f === size) return buildMaglev(backends, size);

  // Hand out: backend i needs d = quota - kept of the f free buckets (the needs sum to f because the quotas sum
  // to size). Its k-th new bucket goes to free slot floor((2k+1)f / 2d), the middle of its k-th of d equal
  // stretches: a weighted round-robin laid out by counting sort, O(f + n), instead of picking the next backend
  // by scanning all n for every bucket.
  const start = new Uint32Array(f + 1);
  for (let i = 0; i < n; i++) {
    const d = quota[i]! - kept[i]!;
    for (let k = 0; k < d; k++) start[Math.floor(((2 * k + 1) * f) / (2 * d)) + 1]!++;
  }
  for (let p = 0; p < f; p++) start[p + 1]! += start[p]!;
  const seq = new Uint32Array(f);
  for (let i = 0; i < n; i++) {
    const d = quota[i]! - kept[i]!;
    for (let k = 0; k < d; k++) seq[start[Math.floor(((2 * k + 1) * f) / (2 * d))]!++] = i;
  }
  for (let j = 0; j < f; j++) table[free[j]!] = live[seq[j]!]!.id;
  return table;
}

/** The fraction of buckets whose owner differs between two tables of the same size. */
export function movedFraction(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new RangeError(`tables of ${a.length} and ${b.length} buckets`);
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) moved++;
  return a.length === 0 ? 0 : moved / a.length;
}
