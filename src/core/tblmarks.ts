// SPDX-License-Identifier: Apache-2.0
// tblmarks.ts: the MOVED/HELD marks of a hash schedule table (XLVS_TBL_* in xlvs_abi.h) carried from the live table into its replacement.

import { REAL_NONE, TBL_HELD, TBL_MOVED, TBL_REAL_MASK } from './abi';

const MARKS = TBL_MOVED | TBL_HELD;

/** The real id of a table entry without its marks; REAL_NONE stays REAL_NONE. */
export function tblOwner(v: number): number {
  return v === REAL_NONE ? REAL_NONE : (v & TBL_REAL_MASK) >>> 0;
}

/** A table read back from the datapath with its marks removed (what the planner and trace compare). */
export function unmarked(t: Uint32Array): Uint32Array {
  const out = new Uint32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = tblOwner(t[i]!);
  return out;
}

/**
 * The table to write in place of `live` (the datapath's, marks included; null when the service has none): `next`
 * (owners only) with MOVED | HELD on every bucket whose owner changes, and the live table's marks kept on the others,
 * so no live connection of a changed bucket loses the connection table before a full sweep pass has shown it gone.
 * A bucket that was empty (REAL_NONE) counts as changed: fallbacks and older tables may have left flows there. A
 * table of another size is a new layout: every bucket is marked. Returns next's entries with marks and whether any is
 * marked. A service without a live table has no connections yet: nothing to mark.
 */
export function carryMarks(live: Uint32Array | null, next: Uint32Array): { table: Uint32Array; marked: boolean } {
  const out = new Uint32Array(next.length);
  let marked = false;
  for (let i = 0; i < next.length; i++) {
    const n = tblOwner(next[i]!);
    if (n === REAL_NONE) {
      out[i] = REAL_NONE;
      continue;
    }
    let m = 0;
    if (live) {
      const o = live.length === next.length ? live[i]! : REAL_NONE;
      m = o === REAL_NONE || tblOwner(o) !== n ? MARKS : o & MARKS;
    }
    if (m) marked = true;
    out[i] = (n | m) >>> 0;
  }
  return { table: out, marked };
}

/** What a settle after a full sweep pass leaves of one entry (xlvs_tblmark, XLVS_TBLMARK_SETTLE): HELD goes, MOVED goes unless HELD was set. */
export function settled(v: number): number {
  if (v === REAL_NONE) return v;
  if (v & TBL_HELD) return (v & ~TBL_HELD) >>> 0;
  return (v & ~TBL_MOVED) >>> 0;
}
