// SPDX-License-Identifier: Apache-2.0
// sched.ts: the reference model of every IPVS scheduler (rr wrr lc wlc sed nq sh dh mh fo ovf) and of the -x/-y overload thresholds, which the datapath's choices are tested against.

import { FALLBACK_STRIDE, FALLBACK_TRIES, REAL_NONE, SEQ_MAX_TRIES } from './abi';
import { addrWord, flowHash, flowHashWords, portsWord } from './flowhash';

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'mh', 'fo', 'ovf'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];
export type SeqSchedulerName = 'rr' | 'wrr';
export type CountsSchedulerName = 'lc' | 'wlc' | 'sed' | 'nq' | 'fo' | 'ovf';
export type HashSchedulerName = 'sh' | 'dh' | 'mh';

/**
 * One destination as a scheduler sees it, in list order (xlvs list order = config order; note IPVS itself
 * iterates newest-first, since ip_vs_ctl.c adds a dest at the head of svc->destinations, so to reproduce a
 * kernel's tie-breaks pass the reals newest-first).
 */
export interface SchedReal {
  id: number;
  weight: number;
  active: number;
  inactive: number;
  overloaded: boolean;
}

/** How the datapath holds each scheduler's state: a position sequence, live connection counts, or a Maglev table. */
export function schedulerKind(name: SchedulerName): 'seq' | 'counts' | 'hash' {
  return name === 'rr' || name === 'wrr' ? 'seq' : name === 'sh' || name === 'dh' || name === 'mh' ? 'hash' : 'counts';
}

// ---------------------------------------------------------------------------------------------------------
// rr / wrr: a precomputed cyclic sequence

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The cycle ip_vs_wrr.c walks for fixed weights, as indexes into `weights`. IPVS keeps (i, cw): each pick
 * advances i, lowers cw by gcd on wrapping (back to max when it reaches 0) and takes i if w[i] >= cw. So the
 * cycle is max/gcd levels, level cw listing in index order every weight >= cw; period sum/gcd.
 * Built per distinct weight (between two, every level lists the same reals) so that one heavy real among many
 * light ones costs O(period + n * distinct weights), not O(n * max/gcd) steps of the literal loop; the unit test
 * checks it against that loop.
 * A period above `cap` (the datapath's table size) scales the weights down proportionally, each non-zero
 * weight kept >= 1, and reports scaled: true, since the shares are then only approximately IPVS's.
 */
export function wrrSequence(weights: readonly number[], cap = 1 << 20): { seq: number[]; scaled: boolean } {
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`wrr sequence cap ${cap} is not a positive integer`);
  let w = weights.slice();
  let g = 0,
    sum = 0,
    live = 0;
  for (const x of w) {
    if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`weight ${x} is not an integer in 0..2^32-1`);
    if (x > 0) {
      g = gcd(x, g);
      sum += x;
      live++;
    }
  }
  if (live === 0) return { seq: [], scaled: false };
  if (live > cap) throw new RangeError(`${live} reals with weight > 0 do not fit a sequence of at most ${cap}`);
  let scaled = false;
  if (sum / g > cap) {
    // max(1, floor(x * T / sum)) <= x * T / sum + 1, so the new sum, hence the period, is at most T + live = cap.
    // BigInt because x * T can pass 2^53, where the floor of a rounded quotient could be one too high.
    const t = BigInt(cap - live),
      total = BigInt(sum);
    w = w.map((x) => (x === 0 ? 0 : Math.max(1, Number((BigInt(x) * t) / total))));
    g = 0;
    for (const x of w) if (x > 0) g = gcd(x, g);
    scaled = true;
  }
  // The eligible set changes only at the distinct weights, so each distinct level is listed once and repeated.
  const levels = [...new Set(w.filter((x) => x > 0).map((x) => x / g))].sort((a, b) => b - a);
  const seq: number[] = [];
  levels.forEach((level, j) => {
    const eligible = w.flatMap((x, i) => (x / g >= level ? [i] : []));
    for (let rep = level - (levels[j + 1] ?? 0); rep > 0; rep--) for (const i of eligible) seq.push(i);
  });
  return { seq, scaled };
}

/** rr is wrr with every weight > 0 counted as 1: the reals with weight > 0 once each, in list order. */
export function rrSequence(weights: readonly number[], cap = 1 << 20): { seq: number[]; scaled: boolean } {
  return wrrSequence(
    weights.map((x) => (x > 0 ? 1 : 0)),
    cap,
  );
}

/** How many sequence entries one new connection may look at: a constant bound the verifier can see. */
export { SEQ_MAX_TRIES };

/**
 * The datapath's rr/wrr step for the connection that took counter value `pos`: starting at
 * start = pos % len, the entries seq[(start + k) % len] for k = 0..min(len, SEQ_MAX_TRIES)-1, the first
 * available one winning; null when none of those is (even if a later entry would be: a long run of one
 * heavy, overloaded real can hide the others). `seq` holds real ids.
 */
export function seqPick(seq: readonly number[], pos: number, available: (id: number) => boolean): number | null {
  const len = seq.length;
  if (len === 0) return null;
  const start = pos % len,
    tries = Math.min(len, SEQ_MAX_TRIES);
  for (let k = 0; k < tries; k++) {
    const id = seq[(start + k) % len]!;
    if (available(id)) return id;
  }
  return null;
}

/**
 * rr/wrr as the datapath runs them: a table of real ids (the sequence) and one shared u32 counter; each new
 * connection takes pos = counter++ (wrapping at 2^32) and calls seqPick. An empty table answers null without
 * taking a position (the datapath checks the length before dividing by it).
 *
 * Differences from IPVS, none of which shows while no real is overloaded and the set is unchanged:
 * - IPVS remembers the server it picked and resumes its scan after it, so skipping an overloaded server spreads
 *   that server's turns over the following ones. Here the counter moves by exactly one per connection, so the
 *   overloaded real's turns go to the next available entry after it: with rr over A,B,C and A overloaded,
 *   IPVS alternates B,C while this gives B 2/3 and C 1/3. (IPVS's wrr also lowers cw while it scans.)
 * - IPVS scans every dest before giving up; here at most SEQ_MAX_TRIES entries.
 * - IPVS resets its wrr position (and adjusts cw) when a dest changes; here a changed weight set means a new
 *   table, and where the counter restarts is the control plane's choice.
 * - At the counter's wrap the position jumps unless len divides 2^32.
 */
export class SeqScheduler {
  counter = 0;

  constructor(readonly seq: readonly number[]) {}

  /** The table for `reals` (list order, by current weight); `scaled` says whether wrr's weights had to shrink. */
  static forReals(name: SeqSchedulerName, reals: readonly SchedReal[], cap?: number): { sched: SeqScheduler; scaled: boolean } {
    const weights = reals.map((r) => r.weight);
    const { seq, scaled } = name === 'rr' ? rrSequence(weights, cap) : wrrSequence(weights, cap);
    return { sched: new SeqScheduler(seq.map((i) => reals[i]!.id)), scaled };
  }

  next(available: (id: number) => boolean): number | null {
    if (this.seq.length === 0) return null;
    const pos = this.counter;
    this.counter = (this.counter + 1) >>> 0;
    return seqPick(this.seq, pos, available);
  }
}

// ---------------------------------------------------------------------------------------------------------
// lc wlc sed nq fo ovf: a scan over live counts

/** a*b > c*d exactly: counts times weights can pass 2^53 (active*256 * weight), where doubles would round. */
function productGreater(a: number, b: number, c: number, d: number): boolean {
  const x = a * b,
    y = c * d;
  if (x <= Number.MAX_SAFE_INTEGER && y <= Number.MAX_SAFE_INTEGER) return x > y;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/**
 * ip_vs_dest_conn_overhead: an active connection is taken to cost 256 inactive ones. Exact here; the kernel's
 * int wraps past 2^23 active connections, which the datapath (u64) need not copy.
 */
export function connOverhead(r: SchedReal): number {
  return r.active * 256 + r.inactive;
}

const usable = (r: SchedReal) => r.weight > 0 && !r.overloaded;

/** lc: least overhead, weights ignored except that 0 excludes; strict < so the first of equals wins. */
export function pickLc(reals: readonly SchedReal[]): number {
  let least = -1,
    loh = 0;
  reals.forEach((r, i) => {
    if (!usable(r)) return;
    const doh = connOverhead(r);
    if (least < 0 || doh < loh) {
      least = i;
      loh = doh;
    }
  });
  return least;
}

/**
 * The wlc/sed/nq core: least overhead/weight, compared as loh*w > doh*lw (strict, so the first of equals wins)
 * to stay in integers as the kernel does. The kernel's second stage does not test weight 0, but such a dest
 * can never pass (0 > doh*lw is false), so skipping it here is the same decision.
 */
function pickRatio(reals: readonly SchedReal[], overhead: (r: SchedReal) => number, idleWins: boolean): number {
  let least = -1,
    loh = 0;
  for (let i = 0; i < reals.length; i++) {
    const r = reals[i]!;
    if (!usable(r)) continue;
    // nq sends to the first idle server outright: the ratio only matters once everybody is busy.
    if (idleWins && r.active === 0) return i;
    const doh = overhead(r);
    if (least < 0 || productGreater(loh, r.weight, doh, reals[least]!.weight)) {
      least = i;
      loh = doh;
    }
  }
  return least;
}

export const pickWlc = (reals: readonly SchedReal[]): number => pickRatio(reals, connOverhead, false);
/** sed (shortest expected delay): (active+1)/weight, the delay a new connection would see; inactive ones ignored. */
export const pickSed = (reals: readonly SchedReal[]): number => pickRatio(reals, (r) => r.active + 1, false);
/** nq (never queue): the first idle usable real, else as sed. */
export const pickNq = (reals: readonly SchedReal[]): number => pickRatio(reals, (r) => r.active + 1, true);

/** fo (weighted failover): the highest weight, strict > so the first of equals wins; counts play no part. */
export function pickFo(reals: readonly SchedReal[]): number {
  let best = -1,
    hw = 0;
  reals.forEach((r, i) => {
    if (!r.overloaded && r.weight > hw) {
      best = i;
      hw = r.weight;
    }
  });
  return best;
}

/** ovf (overflow): fo among the reals whose active connections do not exceed their weight (the weight is a capacity). */
export function pickOvf(reals: readonly SchedReal[]): number {
  let best = -1,
    hw = 0;
  reals.forEach((r, i) => {
    if (!usable(r) || r.active > r.weight) return;
    if (best < 0 || r.weight > hw) {
      best = i;
      hw = r.weight;
    }
  });
  return best;
}

const COUNT_PICKERS: Record<CountsSchedulerName, (reals: readonly SchedReal[]) => number> = {
  lc: pickLc,
  wlc: pickWlc,
  sed: pickSed,
  nq: pickNq,
  fo: pickFo,
  ovf: pickOvf,
};

/** The index into `reals` IPVS's scheduler `name` would choose, or -1 when it would find no destination. */
export function pickByCounts(name: CountsSchedulerName, reals: readonly SchedReal[]): number {
  return COUNT_PICKERS[name](reals);
}

// ---------------------------------------------------------------------------------------------------------
// sh dh mh: a Maglev table indexed by a flow hash

export interface SchedTuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}

/**
 * The hash whose value mod the table size picks the bucket. xlvs serves sh, dh and mh all from its Maglev table
 * (IPVS's sh and dh use their own 256-bucket tables, so which real a given client lands on differs from IPVS;
 * the properties, stickiness by the hashed fields and weighted shares, are kept). Fields a scheduler does not
 * hash are zeroed: mh hashes the source address (all five fields with mh-port), sh the source address (and
 * source port with sh-port), dh the destination address; dh has no port flag.
 */
export function schedHash(name: HashSchedulerName, flags: { port: boolean }, t: SchedTuple): number {
  switch (name) {
    case 'mh':
      return flags.port ? flowHash(t.saddr, t.daddr, t.sport, t.dport, t.proto) : flowHashWords(addrWord(t.saddr), 0, 0, 0);
    case 'sh':
      return flowHashWords(addrWord(t.saddr), 0, portsWord(flags.port ? t.sport : 0, 0), 0);
    case 'dh':
      return flowHashWords(0, addrWord(t.daddr), 0, 0);
  }
}

/**
 * FALLBACK_TRIES: buckets looked at per connection with mh-fallback / sh-fallback, the home bucket included.
 * FALLBACK_STRIDE (1000): distance between probes; coprime to every allowed Maglev size (a prime >= 251), so the
 * probes are FALLBACK_TRIES distinct buckets. Both come from xlvs_abi.h, which the datapath compiles.
 */
export { FALLBACK_STRIDE, FALLBACK_TRIES };

/**
 * The owner of bucket hash % size if available; otherwise, with fallback, the first available owner of
 * buckets (bucket + k*FALLBACK_STRIDE) % size for k = 1..FALLBACK_TRIES-1, like IPVS's sh/mh fallback which
 * rehashes with an offset until a dest is neither weight 0 nor overloaded; else null. REAL_NONE (a bucket of a
 * table with no live real) is unavailable without asking `available`.
 */
export function pickHashed(table: Uint32Array, hash: number, available: (id: number) => boolean, fallback: boolean): number | null {
  const size = table.length;
  if (size === 0) return null;
  const home = (hash >>> 0) % size;
  const tries = fallback ? FALLBACK_TRIES : 1;
  for (let k = 0; k < tries; k++) {
    const id = table[(home + k * FALLBACK_STRIDE) % size]!;
    if (id !== REAL_NONE && available(id)) return id;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// -x upper / -y lower connection thresholds (ip_vs_conn.c ip_vs_bind_dest / ip_vs_unbind_dest)

export interface ThresholdCounts {
  active: number;
  inactive: number;
  overloaded: boolean;
}

/**
 * The overload flag after a connection was bound to the real, `r` holding the counts with it included. Only
 * binding sets the flag: at active + inactive >= upper, upper 0 meaning no limit. Nothing else changes it here;
 * in particular active/inactive transitions of existing connections do not.
 */
export function afterBind(r: ThresholdCounts, upper: number): boolean {
  return upper !== 0 && r.active + r.inactive >= upper ? true : r.overloaded;
}

/**
 * The overload flag after a connection was freed, `r` holding the counts without it. Only freeing clears it,
 * and with hysteresis: below lower (strictly: total < lower, as the kernel has it); with no lower, below three
 * quarters of upper (total*4 < upper*3, i.e. total < ceil(3*upper/4)); with neither, at once.
 */
export function afterUnbind(r: ThresholdCounts, upper: number, lower: number): boolean {
  const total = r.active + r.inactive;
  if (lower !== 0) return total < lower ? false : r.overloaded;
  if (upper !== 0) return total * 4 < upper * 3 ? false : r.overloaded;
  return false;
}

/**
 * The overload flag after the thresholds of an existing real are edited (ip_vs_ctl.c __ip_vs_update_dest):
 * removing or raising the upper threshold clears it at once; otherwise it waits for the next unbind.
 */
export function afterThresholdEdit(overloaded: boolean, oldUpper: number, newUpper: number): boolean {
  return newUpper === 0 || newUpper > oldUpper ? false : overloaded;
}
