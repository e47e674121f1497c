// SPDX-License-Identifier: Apache-2.0
// conntable.ts: the connection table's geometry and bucket hash (struct xlvs_ct_bucket in bpf/include/xlvs_abi.h), without I/O.

import * as abi from './abi';
import { flowHash6Words, flowHashWords } from './flowhash';

export interface CtGeometry {
  /** Buckets in one slice (cfg.ct_buckets). */
  buckets: number;
  /** Slices: 1, or one per possible CPU with conn_table_per_cpu. */
  slices: number;
  /** Entries the table holds in all (buckets x slices x ways). */
  entries: number;
}

/**
 * conn_table_size is the whole table: per CPU it is split over the CPUs (as Katran sizes its
 * per-CPU connection tables), so memory does not grow with the core count. Every slice gets at least one bucket.
 */
export function ctGeometry(entries: number, perCpu: boolean, ncpu: number, ways: number = abi.CT_WAYS): CtGeometry {
  const slices = perCpu ? Math.max(1, ncpu) : 1;
  const buckets = Math.max(1, Math.ceil(entries / ways / slices));
  return { buckets, slices, entries: buckets * slices * ways };
}

/**
 * The bucket (within a slice) bucket hash h picks: a growable table's (live, a power of two) takes the hash's low bits,
 * a fixed table's (live 0) scales it onto the slice by multiply-shift. As ct_bucket() in bpf/conntable.h.
 */
export function ctPlace(h: number, buckets: number, live = 0): number {
  return live ? (h & (live - 1)) >>> 0 : Number((BigInt(h >>> 0) * BigInt(buckets)) >> 32n);
}

/** The bucket hash of an encoded xlvs_conn_key: the datapath's ct_hash(). */
export function ctHashOf(key: Buffer, seed: number): number {
  return flowHashWords(key.readUInt32LE(0), key.readUInt32LE(4), key.readUInt32LE(8), (key[12]! ^ seed) >>> 0);
}

/** The bucket (within a slice) of an encoded xlvs_conn_key: the datapath's ct_bucket(). */
export function ctBucketOf(key: Buffer, seed: number, buckets: number, live = 0): number {
  return ctPlace(ctHashOf(key, seed), buckets, live);
}

/** The bucket (within a slice) of an encoded xlvs_conn6_key: the datapath's ct_bucket6() (the nine-word hash of xlvs_flow_hash6). */
export function ct6BucketOf(key: Buffer, seed: number, buckets: number, live = 0): number {
  return ctPlace(flowHash6Words(key, 0, 16, key.readUInt32LE(32), (key[36]! ^ seed) >>> 0), buckets, live);
}

/** A way is held while its key's first 8 bytes (client address, VIP) are not zero: ct_held() in the datapath. */
export function ctHeld(entry: Buffer, offset = 0): boolean {
  return entry.readUInt32LE(offset) !== 0 || entry.readUInt32LE(offset + 4) !== 0;
}
