// SPDX-License-Identifier: Apache-2.0
// abi-structs-ct.ts: the codecs of xlvs_abi.h's connection-tracking structs: connections, persistence templates, their sweep, sync records.

import { defineStruct, f } from './abi-codec';
import { CT_WAYS, CT6_WAYS } from './abi-limits';

export interface ConnKey {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
}
export interface Conn {
  real_id: number;
  svc_id: number;
  state: number;
  flags: number;
  last_seen: number;
  hits: number;
  hits_seen: number;
}
/** An IPv6 connection's key: addresses as their 16 bytes. */
export interface Conn6Key {
  saddr: Buffer;
  daddr: Buffer;
  sport: number;
  dport: number;
  proto: number;
}
/** `key` and `val` hold an encoded xlvs_conn_key and xlvs_conn (decode them with connKey and conn). */
export interface CtEntry {
  key: Buffer;
  val: Buffer;
}
/** `e`: the CT_WAYS encoded xlvs_ct_entry, back to back. */
export interface CtBucket {
  e: Buffer;
}
export interface PersistKey {
  caddr: number;
  svc_id: number;
}
export interface Persist6Key {
  caddr: Buffer;
  svc_id: number;
}
export interface Persist {
  real_id: number;
  svc_id: number;
  last_seen: number;
  timeout: number;
}
export interface SweepStats {
  now: bigint;
  conns: bigint;
  expired: bigint;
  templates: bigint;
  templates_expired: bigint;
  runs: bigint;
  cursor: bigint;
  pass_conns: bigint;
  conns6: bigint;
  pass_conns6: bigint;
}
/** key: a connection key (connKey); a template's saddr is the masked client and its sport 0. */
export interface SyncRec {
  stamp: bigint;
  key: Buffer;
  real_id: number;
  raddr: number;
  svc_id: number;
  state: number;
  flags: number;
}
/** An IPv6 record: head is a SyncRec (flags has SYNC_F_INET6; its key's addresses and raddr are zero). */
export interface SyncRec6 {
  head: Buffer;
  saddr: Buffer;
  daddr: Buffer;
  raddr: Buffer;
}
export interface SyncIn {
  key: Buffer;
  svc_id: number;
  real_id: number;
  state: number;
  flags: number;
  result: number;
}

export const connKey = defineStruct<ConnKey>('xlvs_conn_key', 16, [
  f('saddr', 0, 4, 'be32'),
  f('daddr', 4, 4, 'be32'),
  f('sport', 8, 2, 'be16'),
  f('dport', 10, 2, 'be16'),
  f('proto', 12, 1, 'u8'),
  f('pad', 13, 3, 'pad'),
]);
export const conn = defineStruct<Conn>('xlvs_conn', 16, [
  f('real_id', 0, 4, 'u32'),
  f('svc_id', 4, 2, 'u16'),
  f('state', 6, 1, 'u8'),
  f('flags', 7, 1, 'u8'),
  f('last_seen', 8, 4, 'u32'),
  f('hits', 12, 2, 'u16'),
  f('hits_seen', 14, 2, 'u16'),
]);
export const conn6Key = defineStruct<Conn6Key>('xlvs_conn6_key', 48, [
  f('saddr', 0, 16, 'bytes'),
  f('daddr', 16, 16, 'bytes'),
  f('sport', 32, 2, 'be16'),
  f('dport', 34, 2, 'be16'),
  f('proto', 36, 1, 'u8'),
  f('pad', 37, 11, 'pad'),
]);
export const ctEntry = defineStruct<CtEntry>('xlvs_ct_entry', 32, [f('key', 0, 16, 'bytes'), f('val', 16, 16, 'bytes')]);
export const ctBucket = defineStruct<CtBucket>('xlvs_ct_bucket', 32 * CT_WAYS, [f('e', 0, 32 * CT_WAYS, 'bytes')]);
export const ct6Entry = defineStruct<CtEntry>('xlvs_ct6_entry', 64, [f('key', 0, 48, 'bytes'), f('val', 48, 16, 'bytes')]);
export const ct6Bucket = defineStruct<CtBucket>('xlvs_ct6_bucket', 64 * CT6_WAYS, [f('e', 0, 64 * CT6_WAYS, 'bytes')]);
export const persistKey = defineStruct<PersistKey>('xlvs_persist_key', 8, [f('caddr', 0, 4, 'be32'), f('svc_id', 4, 4, 'u32')]);
export const persist6Key = defineStruct<Persist6Key>('xlvs_persist6_key', 20, [f('caddr', 0, 16, 'bytes'), f('svc_id', 16, 4, 'u32')]);
export const persist = defineStruct<Persist>('xlvs_persist', 16, [
  f('real_id', 0, 4, 'u32'),
  f('svc_id', 4, 4, 'u32'),
  f('last_seen', 8, 4, 'u32'),
  f('timeout', 12, 4, 'u32'),
]);
export const sweepStats = defineStruct<SweepStats>(
  'xlvs_sweep_stats',
  80,
  ['now', 'conns', 'expired', 'templates', 'templates_expired', 'runs', 'cursor', 'pass_conns', 'conns6', 'pass_conns6'].map((n, i) => f(n, i * 8, 8, 'u64')),
);

export const syncRec = defineStruct<SyncRec>('xlvs_sync_rec', 40, [
  f('stamp', 0, 8, 'u64'),
  f('key', 8, 16, 'bytes'),
  f('real_id', 24, 4, 'u32'),
  f('raddr', 28, 4, 'be32'),
  f('svc_id', 32, 4, 'u32'),
  f('state', 36, 1, 'u8'),
  f('flags', 37, 1, 'u8'),
  f('pad', 38, 2, 'pad'),
]);
export const syncIn = defineStruct<SyncIn>('xlvs_sync_in', 32, [
  f('key', 0, 16, 'bytes'),
  f('svc_id', 16, 4, 'u32'),
  f('real_id', 20, 4, 'u32'),
  f('state', 24, 1, 'u8'),
  f('flags', 25, 1, 'u8'),
  f('result', 26, 1, 'u8'),
  f('pad', 27, 5, 'pad'),
]);

export const syncRec6 = defineStruct<SyncRec6>('xlvs_sync_rec6', 88, [
  f('head', 0, 40, 'bytes'),
  f('saddr', 40, 16, 'bytes'),
  f('daddr', 56, 16, 'bytes'),
  f('raddr', 72, 16, 'bytes'),
]);
/** key: an IPv6 connection key (conn6Key). */
export const syncIn6 = defineStruct<SyncIn>('xlvs_sync_in6', 64, [
  f('key', 0, 48, 'bytes'),
  f('svc_id', 48, 4, 'u32'),
  f('real_id', 52, 4, 'u32'),
  f('state', 56, 1, 'u8'),
  f('flags', 57, 1, 'u8'),
  f('result', 58, 1, 'u8'),
  f('pad', 59, 5, 'pad'),
]);
/** xlvs_ctgeo value: a growable connection table's live size, and the size before while entries move (0: none). */
export interface CtGeo {
  live: number;
  prev: number;
}
export const ctGeo = defineStruct<CtGeo>('xlvs_ct_geo', 8, [f('live', 0, 4, 'u32'), f('prev', 4, 4, 'u32')]);
