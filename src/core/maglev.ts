// SPDX-License-Identifier: Apache-2.0
// maglev.ts: the weighted Maglev lookup table the XDP program indexes by flow hash (Eisenbud et al., NSDI 2016, with weights as turns per round), and the history-free table a service uses: that fill over the configured pool, settled to exact shares of the reals live now.

import { REAL_NONE } from './abi';

export interface MaglevBackend {
  /** Stable identity for the permutation: the same real gets the same preference list across rebuilds. */
  readonly key: string;
  /** Relative share; 0 takes no buckets. */
  readonly weight: number;
  /**
   * maglevTable only: the share in the configured pool, which fixes the base fill (absent: weight). A real that is
   * down, unresolved or ramping in slow start keeps its configured weight here, so those changes leave the base alone.
   */
  readonly baseWeight?: number;
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

/** The exact number of buckets maglevTable gives each backend, in the order the backends are listed (0 for weight 0). */
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
export function scatterOrder(size: number): Uint32Array {
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

// Bases by pool (size, keys, configured weights), as indexes into the sorted pool: a health change or a slow-start
// step reuses its service's base and pays only the settle (about a third of a 1,000-real build). Never handed out.
const baseCache = new Map<string, Uint32Array>();
function baseTable(pool: readonly MaglevBackend[], size: number): Uint32Array {
  const key = `${size}|${pool.map((b) => `${b.key}=${b.weight}`).join(',')}`;
  let base = baseCache.get(key);
  if (!base) {
    if (baseCache.size >= 16) baseCache.delete(baseCache.keys().next().value!);
    base = buildMaglev(pool, size);
  } else baseCache.delete(key);
  baseCache.set(key, base);
  return base;
}

/**
 * The service's hash table as a function of its current config alone, so every director with the same config and the
 * same health view holds the same table whatever its history (edits, restarts, ids, adopted tables):
 *   1. the base: buildMaglev over the configured pool (every backend with baseWeight > 0, at that weight, whatever
 *      its health), a pure function of keys and configured weights;
 *   2. the settle to exact shares of the backends schedulable now (maglevQuotas of `weight`): in scatter order, a
 *      bucket stays with its base owner while the owner is live and within quota; every other bucket is free;
 *   3. the hand-out: backends short of their quota claim free buckets along their own Maglev permutation, in rounds
 *      of weight/gcd turns, each stopping at its quota.
 * Why this and not an update of the table in the datapath: that moved the fewest buckets but made the table depend
 * on the edits that led to it, so two directors behind one ECMP router disagreed on flows after one of them had run
 * other weights. Here a health change or a slow-start step (weight below baseWeight) leaves the base alone and moves
 * only the buckets the shares require plus a reshuffle among the freed ones; a config edit (a real added or removed,
 * a configured weight changed) rebuilds the base, and moves what from-scratch Maglev moves: the minimum plus a
 * spill-over that grows with reals/size (bench/maglevmoves.ts: removing 1 of 10 equal reals moves 10.2 % of buckets
 * against 10.0 %; 1 of 1000, 0.7 % against 0.1 %). Rendezvous hashing would move the minimum but costs size x reals
 * hashes (65M at 1000 reals) and balances only statistically (a few percent off); a consistent-hash ring likewise.
 * Ids may repeat or change: the result depends on them only as the labels the buckets carry.
 */
export function maglevTable(backends: readonly MaglevBackend[], size: number): Uint32Array {
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not prime`);
  const all = backends.slice().sort(byKey);
  const n = all.length;
  for (const b of all) {
    if (!Number.isInteger(b.id) || b.id < 0 || b.id >= REAL_NONE) throw new RangeError(`Maglev backend ${b.key} has id ${b.id}`);
  }
  const base = baseTable(
    all.map((b, i) => ({ key: b.key, weight: b.baseWeight ?? b.weight, id: i })),
    size,
  );
  // Quotas of the live backends, by index into `all`.
  const liveIdx: number[] = [];
  for (let i = 0; i < n; i++) if (all[i]!.weight > 0) liveIdx.push(i);
  const table = new Uint32Array(size).fill(REAL_NONE);
  if (liveIdx.length === 0) return table;
  const lq = quotasOf(
    liveIdx.map((i) => all[i]!),
    size,
  );
  const need = new Int32Array(n);
  liveIdx.forEach((i, k) => (need[i] = lq[k]!));

  // Keep: in scattered order, a live base owner keeps buckets until its quota is full; the rest become free.
  const order = scatterOrderCached(size);
  const free = new Uint8Array(size);
  let f = 0;
  for (let j = 0; j < size; j++) {
    const b = order[j]!,
      i = base[b]!;
    if (i !== REAL_NONE && need[i]! > 0) {
      need[i]!--;
      table[b] = i;
    } else {
      free[b] = 1;
      f++;
    }
  }

  // Hand out: a Maglev fill restricted to the free buckets, with quotas as caps. Turns come from the weights, which
  // a change elsewhere leaves alone, and each claim follows the backend's own permutation, so which free bucket goes
  // where shifts little when the needs do. A backend never revisits a position it passed (that bucket is taken), so
  // its walk is at most one lap; claims cost about size/free steps each, O(size log free) in all.
  if (f > 0) {
    const short = Uint32Array.from(liveIdx.filter((i) => need[i]! > 0));
    let g = 0;
    for (const i of short) g = gcd(all[i]!.weight, g);
    const pos = new Uint32Array(short.length),
      skip = new Uint32Array(short.length),
      turns = new Uint32Array(short.length);
    short.forEach((i, k) => {
      pos[k] = fnv1a(all[i]!.key, 0x811c9dc5) % size;
      skip[k] = (fnv1a(all[i]!.key, 0x050c5d1f) % (size - 1)) + 1;
      turns[k] = all[i]!.weight / g;
    });
    let left = f;
    while (left > 0) {
      for (let k = 0; k < short.length && left > 0; k++) {
        const i = short[k]!,
          step = skip[k]!;
        let c = pos[k]!;
        for (let t = turns[k]!; t > 0 && need[i]! > 0; t--) {
          while (!free[c]) {
            c += step;
            if (c >= size) c -= size;
          }
          free[c] = 0;
          table[c] = i;
          need[i]!--;
          left--;
        }
        pos[k] = c;
      }
    }
  }
  const ids = Uint32Array.from(all, (b) => b.id);
  for (let b = 0; b < size; b++) table[b] = ids[table[b]!]!;
  return table;
}

/** The fraction of buckets whose owner differs between two tables of the same size. */
export function movedFraction(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new RangeError(`tables of ${a.length} and ${b.length} buckets`);
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) moved++;
  return a.length === 0 ? 0 : moved / a.length;
}
