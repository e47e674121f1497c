// SPDX-License-Identifier: Apache-2.0
// ctgrow.ts: when a growable connection table (struct xlvs_ct_geo) grows or shrinks, and to what size, without I/O.

import * as abi from './abi';

/**
 * Load factors, in entries per way. An 8-way bucket overflows (a new flow then replaces a live one, and a wrr flow
 * replaced comes back on whichever real is next) when nine flows hash to it: at 1/8 (one flow a bucket on average)
 * that is one bucket in ~900,000, at 1/4 one in ~4,000. So the table grows at 1/8, to 1/16 after growing (room to
 * double before the next resize), and shrinks below 1/64 (hysteresis: a shrunk table is at most 1/16 full). At its
 * largest size the table fills as a fixed one does: 1,000,000 flows in the default 4,194,304 entries are at 1/4.
 */
export const GROW_ABOVE = 1 / 8;
export const SHRINK_BELOW = 1 / 64;
export const TARGET_LOAD = 1 / 16;

/** A family's load factors, in entries per way. */
export interface CtLoads {
  grow: number;
  target: number;
  shrink: number;
}

export const LOADS4: CtLoads = { grow: GROW_ABOVE, target: TARGET_LOAD, shrink: SHRINK_BELOW };

/**
 * The IPv6 table's 4-way buckets overflow at five flows: at 1/8 of its entries (half a flow a bucket) that is one bucket
 * in ~6,000, at 1/32 one in ~5,000,000. So it grows at 1/32, to 1/64, and shrinks below 1/256: the same risk per
 * bucket as the IPv4 table's, in buckets of half the ways.
 */
export const LOADS6: CtLoads = { grow: 1 / 32, target: 1 / 64, shrink: 1 / 256 };

/** The largest live size a table of `buckets` buckets can grow to: a power of two (the index is the hash's low bits). */
export function ctMaxLive(buckets: number): number {
  let live = 1;
  while (live * 2 <= buckets) live *= 2;
  return live;
}

/** The live size a load starts a growable table with. */
export function ctInitialLive(buckets: number, min = abi.CT_MIN_LIVE): number {
  return Math.min(ctMaxLive(buckets), min);
}

/** The smallest live size (a power of two, within min..max) holding `entries` at TARGET_LOAD. */
export function ctTargetLive(entries: number, max: number, ways = abi.CT_WAYS, min = abi.CT_MIN_LIVE, target = TARGET_LOAD): number {
  let live = Math.min(min, max);
  while (live < max && entries > live * ways * target) live *= 2;
  return live;
}

export interface CtOccupancy {
  /** Entries the table holds at most now: the last whole sweep's count plus the new connections since. */
  upper: number;
  /** Entries a whole sweep counted since the last resize ended (null: none has yet): only this may shrink the table. */
  settled: number | null;
}

/** The live size to resize to, or null to stay. live: the current size; buckets: the table's (ct_buckets). */
export function ctResizeTo(live: number, buckets: number, occ: CtOccupancy, ways = abi.CT_WAYS, min = abi.CT_MIN_LIVE, loads: CtLoads = LOADS4): number | null {
  const max = ctMaxLive(buckets);
  if (occ.upper >= live * ways * loads.grow && live < max) {
    const to = ctTargetLive(occ.upper, max, ways, min, loads.target);
    return to > live ? to : null;
  }
  if (occ.settled !== null && occ.settled < live * ways * loads.shrink && live > min) {
    const to = ctTargetLive(occ.settled, max, ways, min, loads.target);
    return to < live ? to : null;
  }
  return null;
}
