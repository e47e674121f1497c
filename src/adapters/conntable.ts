// SPDX-License-Identifier: Apache-2.0
// conntable.ts: the datapath's connection table (xlvs_conn, set-associative) read and edited from user space through its mmap.

import * as abi from '../core/abi';
import { type CtGeometry, ct6BucketOf, ctBucketOf, ctHeld } from '../core/conntable';
import type { BpfMap } from './native';

/** Buckets read per mmap copy when walking the table: 4 MiB at a time (both families' buckets are 256 bytes), so a 128 MiB table is never copied whole. */
const CHUNK_BUCKETS = 16384;

/** Where an entry's real id lies in its value (struct xlvs_conn). */
const REAL_ID_AT = abi.conn.fields.find((f) => f.name === 'real_id')!.offset;

/** How one family's table lies in memory (struct xlvs_ct_bucket, struct xlvs_ct6_bucket): the rest of the logic is the same. */
export interface CtLayout<K> {
  ways: number;
  entry: number;
  keyCodec: abi.StructSpec<K>;
  /** live: a growable table's live size (0: fixed). */
  bucketOf(key: Buffer, seed: number, buckets: number, live?: number): number;
}

export const CT4: CtLayout<abi.ConnKey> = { ways: abi.CT_WAYS, entry: abi.ctEntry.size, keyCodec: abi.connKey, bucketOf: ctBucketOf };
export const CT6: CtLayout<abi.Conn6Key> = { ways: abi.CT6_WAYS, entry: abi.ct6Entry.size, keyCodec: abi.conn6Key, bucketOf: ct6BucketOf };

export interface CtRecord<K = abi.ConnKey> {
  key: K;
  val: abi.Conn;
  slice: number;
  bucket: number;
  way: number;
}

/**
 * The control plane only reads the table, except to drop the entries of reals it purges and in
 * tests. Test writes go one entry at a time, value before key, as the datapath's own inserts do.
 * The purge frees a way by compare-and-swap of its key's first word, as the datapath claims one;
 * zeroing the rest of the key first can still race a datapath insert into that way, which the
 * purge accepts (it runs on configuration changes, and a lost flow is picked up on its next packet).
 */
export class ConnTable<K extends object = abi.ConnKey> {
  private readonly ways: number;
  private readonly entry: number;
  private readonly bucketBytes: number;
  private readonly keyBytes: number;

  /**
   * geo: where a growable table's entries lie now (xlvs_ctgeo, read on every lookup: a resize may run between two);
   * absent for a fixed table.
   */
  constructor(
    private readonly map: BpfMap,
    readonly geometry: CtGeometry,
    readonly seed: number,
    private readonly layout: CtLayout<K> = CT4 as unknown as CtLayout<K>,
    private readonly geo: () => abi.CtGeo = () => ({ live: 0, prev: 0 }),
  ) {
    this.ways = layout.ways;
    this.entry = layout.entry;
    this.bucketBytes = layout.ways * layout.entry;
    this.keyBytes = layout.keyCodec.size;
  }

  private offset(slice: number, bucket: number, way = 0): number {
    return ((slice * this.geometry.buckets + bucket) * this.ways + way) * this.entry;
  }

  /** The bucket (within a slice) a new entry for key goes in: the datapath's ct_bucket() at the table's current size. */
  bucketOf(key: K): number {
    return this.layout.bucketOf(this.layout.keyCodec.encode(key), this.seed, this.geometry.buckets, this.geo().live);
  }

  /** Where key is held: its bucket in every slice (a flow may have moved CPU), first match; during a resize, the size before's bucket first. */
  find(key: K): CtRecord<K> | null {
    const k = this.layout.keyCodec.encode(key);
    const { live, prev } = this.geo();
    // The size before's bucket first, as the datapath looks (ct_locate): a move copies, then frees the old way.
    const buckets = [this.layout.bucketOf(k, this.seed, this.geometry.buckets, live)];
    if (prev) buckets.unshift(this.layout.bucketOf(k, this.seed, this.geometry.buckets, prev));
    for (const bucket of buckets)
      for (let slice = 0; slice < this.geometry.slices; slice++) {
        const b = this.map.readMmap(this.offset(slice, bucket), this.bucketBytes);
        for (let way = 0; way < this.ways; way++) {
          const o = way * this.entry;
          if (b.compare(k, 0, this.keyBytes, o, o + this.keyBytes) === 0) return { key, val: abi.conn.decode(b, o + this.keyBytes), slice, bucket, way };
        }
      }
    return null;
  }

  get(key: K): abi.Conn | null {
    return this.find(key)?.val ?? null;
  }

  /** Writes key's entry: over its current way, else into a free way of its bucket in `slice`. */
  put(key: K, val: abi.Conn, slice = 0): void {
    const k = this.layout.keyCodec.encode(key);
    const at = this.find(key);
    let s = slice,
      bucket = this.layout.bucketOf(k, this.seed, this.geometry.buckets, this.geo().live),
      way = -1;
    if (at) ({ slice: s, bucket, way } = at);
    else {
      const b = this.map.readMmap(this.offset(s, bucket), this.bucketBytes);
      for (let w = 0; w < this.ways && way < 0; w++) if (!ctHeld(b, w * this.entry)) way = w;
      if (way < 0) throw new Error(`connection table: bucket ${bucket} of slice ${s} has no free way`);
    }
    this.map.writeMmap(abi.conn.encode(val), this.offset(s, bucket, way) + this.keyBytes);
    this.map.writeMmap(k, this.offset(s, bucket, way));
  }

  delete(key: K): boolean {
    const at = this.find(key);
    if (!at) return false;
    this.map.writeMmap(Buffer.alloc(this.keyBytes), this.offset(at.slice, at.bucket, at.way));
    return true;
  }

  /** The table's held region (a growable table's live buckets only: the rest are empty) as copies of CHUNK_BUCKETS buckets. */
  private *chunks(): Generator<{ first: number; n: number; chunk: Buffer }> {
    const { buckets, slices } = this.geometry;
    const { live, prev } = this.geo();
    const total = live ? Math.min(buckets * slices, Math.max(live, prev)) : buckets * slices;
    for (let first = 0; first < total; first += CHUNK_BUCKETS) {
      const n = Math.min(CHUNK_BUCKETS, total - first);
      yield { first, n, chunk: this.map.readMmap(first * this.bucketBytes, n * this.bucketBytes) };
    }
  }

  /** Every held entry, slice by slice. */
  *records(): Generator<CtRecord<K>> {
    const { buckets } = this.geometry;
    for (const { first, n, chunk } of this.chunks()) {
      for (let i = 0; i < n * this.ways; i++) {
        const o = i * this.entry;
        if (!ctHeld(chunk, o)) continue;
        const index = first + Math.floor(i / this.ways);
        yield {
          key: this.layout.keyCodec.decode(chunk, o),
          val: abi.conn.decode(chunk, o + this.keyBytes),
          slice: Math.floor(index / buckets),
          bucket: index % buckets,
          way: i % this.ways,
        };
      }
    }
  }

  count(): number {
    let n = 0;
    for (const _ of this.records()) n++;
    return n;
  }

  /**
   * Frees every entry whose real is one of ids; returns how many. The datapath's counts are not touched (the caller
   * resets them). The walk reads raw copies (decoding every entry cost more than the rest of a purge) and a way is
   * freed only if it still holds the key read (a datapath insert or a resize may have put another flow there since,
   * which a blind write would delete), in one native call per chunk.
   */
  removeByReal(ids: ReadonlySet<number>): number {
    let n = 0;
    for (const { first, n: count, chunk } of this.chunks()) {
      const offsets: bigint[] = [],
        keys: Buffer[] = [];
      for (let o = 0; o < count * this.bucketBytes; o += this.entry) {
        if (!ctHeld(chunk, o) || !ids.has(chunk.readUInt32LE(o + this.keyBytes + REAL_ID_AT))) continue;
        offsets.push(BigInt(first * this.bucketBytes + o));
        keys.push(chunk.subarray(o, o + this.keyBytes));
      }
      if (offsets.length) n += this.map.freeKeysMmap(Buffer.from(BigUint64Array.from(offsets).buffer), Buffer.concat(keys), this.keyBytes);
    }
    return n;
  }
}

/** The IPv6 table (xlvs_conn6) of a loaded or pinned datapath, laid out as the loader wrote it into xlvs_cfg. */
export function conn6TableOf(maps: { xlvs_conn6: BpfMap; xlvs_cfg: BpfMap; xlvs_ctgeo6?: BpfMap }): ConnTable<abi.Conn6Key> {
  const cfg = abi.cfg.decode(maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const buckets = Math.max(1, cfg.ct6_buckets);
  const slices = Math.max(1, Math.floor(maps.xlvs_conn6.maxEntries / buckets));
  const geoMap = maps.xlvs_ctgeo6;
  const geo = geoMap ? () => abi.ctGeo.decode(geoMap.lookup(abi.u32Key(0))!) : undefined;
  return new ConnTable(maps.xlvs_conn6, { buckets, slices, entries: buckets * slices * abi.CT6_WAYS }, cfg.ct_seed, CT6, geo);
}

/**
 * The table of a loaded or pinned datapath: its geometry and seed as the loader wrote them into xlvs_cfg, and where a
 * growable table's entries lie now (xlvs_ctgeo; a pin directory without it holds a fixed table).
 */
export function connTableOf(maps: { xlvs_conn: BpfMap; xlvs_cfg: BpfMap; xlvs_ctgeo?: BpfMap }): ConnTable {
  const cfg = abi.cfg.decode(maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const buckets = Math.max(1, cfg.ct_buckets);
  const slices = Math.max(1, Math.floor(maps.xlvs_conn.maxEntries / buckets));
  const geoMap = maps.xlvs_ctgeo;
  const geo = geoMap ? () => abi.ctGeo.decode(geoMap.lookup(abi.u32Key(0))!) : undefined;
  return new ConnTable(maps.xlvs_conn, { buckets, slices, entries: buckets * slices * abi.CT_WAYS }, cfg.ct_seed, CT4, geo);
}
