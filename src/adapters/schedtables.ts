// SPDX-License-Identifier: Apache-2.0
// schedtables.ts: the schedule tables (xlvs_tbl's inner maps): written in place or swapped in, their MOVED/HELD marks settled.

import * as abi from '../core/abi';
import { carryMarks } from '../core/tblmarks';
import { BPF_ANY, BPF_F_INNER_MAP, BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, type BpfMap, type BpfObject, native } from './native';

/** One image buffer for every table of a batch (10,000 tables would otherwise allocate and collect 80 MiB). */
let imageBuf = new Uint32Array(0);

/** Fills a schedule table into a fresh inner map; the caller swaps it in with one outer-map write. */
function tableMap(name: string, table: Uint32Array): BpfMap {
  const m = native().BpfMap.create({
    // An empty table (a service with nobody to schedule) still needs one entry; its tbl_size of 0 keeps it unread.
    type: BPF_MAP_TYPE_ARRAY,
    name,
    keySize: 4,
    valueSize: 4,
    maxEntries: Math.max(1, table.length),
    flags: BPF_F_INNER_MAP | BPF_F_MMAPABLE, // must match the template in bpf/maps.h
  });
  try {
    // An array map lays its values out every round_up(value_size, 8) bytes: 8 here, not 4.
    const words = Math.max(1, table.length) * 2;
    if (imageBuf.length < words) imageBuf = new Uint32Array(words); // the odd words (padding) stay zero for good
    for (let i = 0; i < table.length; i++) imageBuf[i * 2] = table[i]!;
    if (!table.length) imageBuf[0] = 0;
    m.writeMmap(Buffer.from(imageBuf.buffer, 0, words * 4));
  } catch (e) {
    m.close();
    throw e;
  }
  return m;
}

/**
 * Overwrites the entries of a live inner map (same size as table) that differ from table, compared as whole u32
 * values, so a caller may fold other bits into entries (marks) before handing over the final table. Returns how many
 * entries it wrote.
 *
 * Why no swap is needed while packets read the table:
 * - Each entry is one aligned 4-byte store (storeMmapU32), so a lookup reads an entry's old value or its new one,
 *   never a torn mix, and the program reads an entry once (walk_member, scan_member), so the real it checks is the
 *   real it takes; tbl_size does not change (same size), so every index a program computes stays inside the map.
 * - mh, sh, dh: a bucket is read once per new connection and buckets are independent. A packet during the write is
 *   scheduled by its bucket's old owner or its new one: both are reals of the service that plan() made schedulable
 *   (reals are written before tables), and the connection entry records whichever it chose, so the flow sticks to it,
 *   as a flow that arrived a moment before the write does.
 * - rr, wrr: a walk reads consecutive entries of the cycle; for the microseconds of the write it may read a mix of
 *   the old cycle and the new. Each entry is still a real of the service and every choice is tracked, so the only
 *   effect is that a handful of new connections are spread by the old weights, which a swap also allows (a packet
 *   that looked the old table up just before the swap); the position is reset after the write, as with a swap.
 * - lc, wlc, ... (a member list): a scan of the same number of members may see old and new members mixed, at worst a
 *   member twice and another not at all, and picks the least loaded of those it saw: a near-best choice, each a
 *   real of the service. A list of another size (a member joins or leaves) changes tbl_size, so it is swapped.
 * What a swap gives that this does not is the wait: after a swap returns no program still holds an old entry. Only
 * freeing a real id needs that, and Datapath.apply pays one grace period before deleting or purging reals.
 */
export function writeTableInPlace(inner: BpfMap, table: Uint32Array): number {
  const live = inner.readMmap(0, table.length * 8); // values at a stride of 8 bytes (round_up(4, 8))
  const idx: number[] = [];
  for (let i = 0; i < table.length; i++) if (live.readUInt32LE(i * 8) !== table[i]) idx.push(i);
  if (!idx.length) return 0;
  const indices = Buffer.alloc(idx.length * 4);
  const values = Buffer.alloc(idx.length * 4);
  idx.forEach((i, k) => {
    indices.writeUInt32LE(i, k * 4);
    values.writeUInt32LE(table[i]!, k * 4);
  });
  inner.storeMmapU32(indices, values);
  return idx.length;
}

/** xlvs_tblmark's frame: the service id and the mode (XLVS_TBLMARK_*), padded to a minimal frame. */
function tblmarkFrame(svcId: number, mode: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(svcId, 0);
  b.writeUInt32LE(mode, 4);
  return b;
}

/** Datapath's schedule tables: xlvs_tbl (outer map), xlvs_pos (rr/wrr positions) and the xlvs_tblmark program. */
export class SchedTables {
  /** Entries of each table this process wrote (a live map of one entry may hold an empty table: see tryInPlace). */
  private readonly lens = new Map<number, number>();

  constructor(
    private readonly obj: BpfObject,
    private readonly tbl: BpfMap,
    private readonly pos: BpfMap,
  ) {}

  /**
   * Deleted services' tables, in one outer-map write: every slot is pointed at one shared placeholder (a single entry
   * of XLVS_REAL_NONE, which live() reads as no table), and the old inner maps go with their last reference. A delete
   * from a map-of-maps waits for an RCU grace period (~10 ms here), and arrays of maps have no batch delete: removing
   * 10,000 services one delete at a time took 121 s. The placeholder is never written: tryInPlace takes a one-entry
   * map only for a table this process wrote with one entry.
   */
  delete(svcIds: readonly number[]): void {
    if (!svcIds.length) return;
    const none = tableMap('xlvs_tbl_none', Uint32Array.of(abi.REAL_NONE));
    try {
      const keys = Buffer.alloc(svcIds.length * 4);
      const values = Buffer.alloc(svcIds.length * 4);
      svcIds.forEach((id, i) => {
        keys.writeUInt32LE(id, i * 4);
        values.writeUInt32LE(none.fd, i * 4);
      });
      if (svcIds.length === 1) this.tbl.update(keys, values);
      else this.tbl.updateBatch(keys, values, svcIds.length, BPF_ANY);
    } finally {
      none.close(); // the outer map holds its own references
    }
    for (const id of svcIds) this.lens.delete(id);
  }

  /**
   * Writes several services' tables: in place where a service's live table has the new table's size, by swapping in
   * new inner maps (one batch) for the rest. A swap is a write to a map-of-maps, which waits for an RCU grace period
   * (so no program still uses the old table when the call returns): ~10-12 ms here, paid once per batch; an in-place
   * write waits for nothing (see writeTableInPlace for why it is as correct). Returns whether any table was written
   * in place, i.e. whether a program may still hold an entry it read from an old table (see rcuBarrier in rcu.ts).
   */
  write(tables: ReadonlyMap<number, Uint32Array>): boolean {
    const swaps = new Map<number, Uint32Array>();
    const marked: number[] = [];
    let inPlace = false;
    for (const [svcId, next] of tables) {
      // The live table's marks carry over, and a changed owner marks its bucket (src/core/tblmarks.ts).
      const { table, marked: any } = carryMarks(this.live(svcId), next);
      if (any) marked.push(svcId);
      if (this.tryInPlace(svcId, table)) inPlace = true;
      else swaps.set(svcId, table);
    }
    const inners: BpfMap[] = [];
    try {
      const keys = Buffer.alloc(swaps.size * 4);
      const values = Buffer.alloc(swaps.size * 4);
      let i = 0;
      for (const [svcId, table] of swaps) {
        const inner = tableMap(`xlvs_tbl_${svcId}`, table);
        inners.push(inner);
        keys.writeUInt32LE(svcId, i * 4);
        values.writeUInt32LE(inner.fd, i * 4);
        i++;
      }
      if (swaps.size === 1) this.tbl.update(keys, values);
      else if (swaps.size > 1) this.tbl.updateBatch(keys, values, swaps.size, BPF_ANY);
      if (marked.length) {
        const m = this.obj.map('xlvs_tblmarked');
        try {
          for (const svcId of marked) m.update(abi.u32Key(svcId), abi.u32Key(1));
        } finally {
          m.close();
        }
      }
    } finally {
      for (const m of inners) m.close(); // the outer map holds its own references
    }
    for (const [svcId, table] of tables) this.lens.set(svcId, table.length);
    // A new cycle starts from its first entry, as IPVS restarts rr/wrr when its destinations change (in place too).
    for (const svcId of tables.keys()) this.pos.update(abi.u32Key(svcId), Buffer.alloc(abi.seqPos.size));
    return inPlace;
  }

  /**
   * Writes table into the service's live inner map when that map holds exactly table.length entries; false when it
   * cannot (no live table, another size, an empty table, a map an older version made without BPF_F_MMAPABLE): the
   * caller swaps. A live map of one entry may be an empty table's (tbl_size 0), so it counts as the same size only
   * when this process wrote it with one entry.
   */
  private tryInPlace(svcId: number, table: Uint32Array): boolean {
    if (!table.length) return false;
    if (table.length === 1 && this.lens.get(svcId) !== 1) return false;
    const v = this.tbl.lookup(abi.u32Key(svcId));
    if (!v) return false;
    let inner: BpfMap;
    try {
      inner = native().BpfMap.fromId(v.readUInt32LE(0));
    } catch {
      return false; // gone meanwhile: a swap makes a new one
    }
    try {
      if (inner.maxEntries !== table.length || inner.valueSize !== 4 || !(inner.flags & BPF_F_MMAPABLE)) return false;
      writeTableInPlace(inner, table);
      return true;
    } finally {
      inner.close();
    }
  }

  /**
   * After a full sweep pass: every marked hash table is settled (xlvs_tblmark): a bucket no live entry of another real
   * held during the pass loses MOVED, and HELD is cleared everywhere for the next pass. A bucket marked during the pass
   * (a table change, a fallback) carries HELD, so it stays MOVED until a whole pass after its mark has found it clean.
   */
  async settle(): Promise<number> {
    const m = this.obj.map('xlvs_tblmarked');
    let svcIds: number[];
    try {
      const got = m.lookupBatch(abi.MAX_SERVICES);
      svcIds = [];
      for (let i = 0; i < got.count; i++) if (got.values.readUInt32LE(i * m.valueSize)) svcIds.push(got.keys.readUInt32LE(i * 4));
    } finally {
      m.close();
    }
    const fd = this.obj.programFd('xlvs_tblmark');
    let moved = 0; // tables left with a MOVED bucket
    for (const svcId of svcIds) moved += (await native().testRun(fd, { data: tblmarkFrame(svcId, abi.TBLMARK_SETTLE) })).retval;
    return moved;
  }

  /**
   * Marks every bucket of every table MOVED | HELD (xlvs_tblmark, XLVS_TBLMARK_ALL): established packets take the
   * connection table until two sweep passes have shown which buckets hold no other real's connection. For tables
   * whose history is unknown (adopted pins) and for tests that write entries behind the datapath's back.
   */
  async markAll(): Promise<void> {
    const fd = this.obj.programFd('xlvs_tblmark');
    for (let svcId = 0; svcId < this.tbl.maxEntries; svcId++)
      if (this.tbl.lookup(abi.u32Key(svcId))) await native().testRun(fd, { data: tblmarkFrame(svcId, abi.TBLMARK_ALL) });
  }

  /** The live table of a service, marks included (read through its mmap); null when it has none (or a deleted one's). */
  live(svcId: number): Uint32Array | null {
    const v = this.tbl.lookup(abi.u32Key(svcId));
    if (!v) return null;
    const m = native().BpfMap.fromId(v.readUInt32LE(0));
    try {
      const raw = m.readMmap(0, m.maxEntries * 8);
      if (m.maxEntries === 1 && raw.readUInt32LE(0) === abi.REAL_NONE) return null;
      const out = new Uint32Array(m.maxEntries);
      for (let i = 0; i < out.length; i++) out[i] = raw.readUInt32LE(i * 8);
      return out;
    } finally {
      m.close();
    }
  }
}
