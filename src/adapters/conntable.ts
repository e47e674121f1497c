// SPDX-License-Identifier: Apache-2.0
// conntable.ts: the datapath's connection table (xlvs_conn, set-associative) read and edited from user space through its mmap.

import * as abi from '../core/abi';
import { type CtGeometry, ctBucketOf, ctHeld } from '../core/conntable';
import type { BpfMap } from './native';

const ENTRY = abi.ctEntry.size;
const BUCKET = abi.ctBucket.size;
/** Buckets read per mmap copy when walking the table: 4 MiB at a time, so a 128 MiB table is never copied whole. */
const CHUNK_BUCKETS = 16384;

export interface CtRecord {
  key: abi.ConnKey;
  val: abi.Conn;
  slice: number;
  bucket: number;
  way: number;
}

/**
 * The control plane only reads the table, except to drop the entries of reals it purges and in
 * tests. Writes go one entry at a time, value before key, as the datapath's own inserts do; a
 * write can still race a datapath insert into the same way, which the purge accepts (it runs on
 * configuration changes, and a lost entry's flow is picked up again on its next packet).
 */
export class ConnTable {
  constructor(
    private readonly map: BpfMap,
    readonly geometry: CtGeometry,
    readonly seed: number,
  ) {}

  private offset(slice: number, bucket: number, way = 0): number {
    return ((slice * this.geometry.buckets + bucket) * abi.CT_WAYS + way) * ENTRY;
  }

  /** Where key is held: its bucket in every slice (a flow may have moved CPU), first match. */
  find(key: abi.ConnKey): CtRecord | null {
    const k = abi.connKey.encode(key);
    const bucket = ctBucketOf(k, this.seed, this.geometry.buckets);
    for (let slice = 0; slice < this.geometry.slices; slice++) {
      const b = this.map.readMmap(this.offset(slice, bucket), BUCKET);
      for (let way = 0; way < abi.CT_WAYS; way++) {
        if (b.compare(k, 0, 16, way * ENTRY, way * ENTRY + 16) === 0) return { key, val: abi.conn.decode(b, way * ENTRY + 16), slice, bucket, way };
      }
    }
    return null;
  }

  get(key: abi.ConnKey): abi.Conn | null {
    return this.find(key)?.val ?? null;
  }

  /** Writes key's entry: over its current way, else into a free way of its bucket in `slice`. */
  put(key: abi.ConnKey, val: abi.Conn, slice = 0): void {
    const k = abi.connKey.encode(key);
    const at = this.find(key);
    let s = slice,
      bucket = ctBucketOf(k, this.seed, this.geometry.buckets),
      way = -1;
    if (at) ({ slice: s, bucket, way } = at);
    else {
      const b = this.map.readMmap(this.offset(s, bucket), BUCKET);
      for (let w = 0; w < abi.CT_WAYS && way < 0; w++) if (!ctHeld(b, w * ENTRY)) way = w;
      if (way < 0) throw new Error(`connection table: bucket ${bucket} of slice ${s} has no free way`);
    }
    this.map.writeMmap(abi.conn.encode(val), this.offset(s, bucket, way) + 16);
    this.map.writeMmap(k, this.offset(s, bucket, way));
  }

  delete(key: abi.ConnKey): boolean {
    const at = this.find(key);
    if (!at) return false;
    this.map.writeMmap(Buffer.alloc(16), this.offset(at.slice, at.bucket, at.way));
    return true;
  }

  /** Every held entry, slice by slice. */
  *records(): Generator<CtRecord> {
    const { buckets, slices } = this.geometry;
    const total = buckets * slices;
    for (let first = 0; first < total; first += CHUNK_BUCKETS) {
      const n = Math.min(CHUNK_BUCKETS, total - first);
      const chunk = this.map.readMmap(first * BUCKET, n * BUCKET);
      for (let i = 0; i < n * abi.CT_WAYS; i++) {
        const o = i * ENTRY;
        if (!ctHeld(chunk, o)) continue;
        const index = first + Math.floor(i / abi.CT_WAYS);
        yield {
          key: abi.connKey.decode(chunk, o),
          val: abi.conn.decode(chunk, o + 16),
          slice: Math.floor(index / buckets),
          bucket: index % buckets,
          way: i % abi.CT_WAYS,
        };
      }
    }
  }

  count(): number {
    let n = 0;
    for (const _ of this.records()) n++;
    return n;
  }

  /** Frees every entry pred accepts; returns how many. The datapath's counts are not touched (the caller resets them). */
  removeWhere(pred: (r: CtRecord) => boolean): number {
    let n = 0;
    for (const r of this.records()) {
      if (!pred(r)) continue;
      this.map.writeMmap(Buffer.alloc(16), this.offset(r.slice, r.bucket, r.way));
      n++;
    }
    return n;
  }
}

/** The table of a loaded or pinned datapath: its geometry and seed as the loader wrote them into xlvs_cfg. */
export function connTableOf(maps: { xlvs_conn: BpfMap; xlvs_cfg: BpfMap }): ConnTable {
  const cfg = abi.cfg.decode(maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const buckets = Math.max(1, cfg.ct_buckets);
  const slices = Math.max(1, Math.floor(maps.xlvs_conn.maxEntries / buckets));
  return new ConnTable(maps.xlvs_conn, { buckets, slices, entries: buckets * slices * abi.CT_WAYS }, cfg.ct_seed);
}
