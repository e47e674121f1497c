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
export function ctTargetLive(entries: number, max: number, ways = abi.CT_WAYS, min = abi.CT_MIN_LIVE): number {
  let live = Math.min(min, max);
  while (live < max && entries > live * ways * TARGET_LOAD) live *= 2;
  return live;
}

export interface CtOccupancy {
  /** Entries the table holds at most now: the last whole sweep's count plus the new connections since. */
  upper: number;
  /** Entries a whole sweep counted since the last resize ended (null: none has yet): only this may shrink the table. */
  settled: number | null;
}

/** The live size to resize to, or null to stay. live: the current size; buckets: the table's (ct_buckets). */
export function ctResizeTo(live: number, buckets: number, occ: CtOccupancy, ways = abi.CT_WAYS, min = abi.CT_MIN_LIVE): number | null {
  const max = ctMaxLive(buckets);
  if (occ.upper >= live * ways * GROW_ABOVE && live < max) {
    const to = ctTargetLive(occ.upper, max, ways, min);
    return to > live ? to : null;
  }
  if (occ.settled !== null && occ.settled < live * ways * SHRINK_BELOW && live > min) {
    const to = ctTargetLive(occ.settled, max, ways, min);
    return to < live ? to : null;
  }
  return null;
}
