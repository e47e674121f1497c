// SPDX-License-Identifier: Apache-2.0
// abi-structs.ts: one codec per struct of bpf/include/xlvs_abi.h (map keys and values, sync records), listed for the BTF layout test.

import { defineStruct, f, type StructSpec } from './abi-codec';
import { ACCEPT_MACS, CT_WAYS, CT6_WAYS } from './abi-limits';

/** IPv4 addresses travel as dotted strings in TS and as big-endian u32 (wire order) in the maps. */
export interface SvcKey {
  vip: number;
  port: number;
  proto: number;
}
/** An IPv6 service's key: vip is the address's 16 bytes (bytesOf6 / ipToBytes). */
export interface Svc6Key {
  vip: Buffer;
  port: number;
  proto: number;
}
export interface Svc {
  id: number;
  flags: number;
  tbl_size: number;
  sched: number;
  /** IPv6 services: the persistence prefix length (1..128); 0 for IPv4. */
  persist_plen6?: number;
  persist_timeout: number;
  persist_mask: number;
}
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
export interface Real {
  mac: string;
  flags: number;
  addr: number;
  svc_id: number;
  weight: number;
  u_threshold: number;
  l_threshold: number;
}
export interface Real6 {
  addr: Buffer;
}
export interface RealConns {
  active: bigint;
  inactive: bigint;
  overloaded: number;
}
export interface SeqPos {
  next: bigint;
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
/** timeout: seconds per connection state, indexed by CS. */
/** accept_mac: ACCEPT_MACS destination MACs besides mac that frames are forwarded for (unused ones repeat mac). */
export interface Cfg {
  mac: string;
  timeout: number[];
  ct_buckets: number;
  ct_per_cpu: number;
  ct_seed: number;
  ct_total: number;
  accept_mac: string[];
  sync_emit: number;
  ct6_buckets: number;
  ct6_total: number;
  nc_budget: number;
  svc_gen: number;
}
export interface Counters {
  packets: bigint;
  bytes: bigint;
  conns: bigint;
  drops: bigint;
}
export interface Verdicts {
  pass_not_ipv4: bigint;
  pass_malformed: bigint;
  pass_fragment: bigint;
  pass_no_service: bigint;
  tx_existing: bigint;
  tx_new: bigint;
  drop_no_real: bigint;
  aborted: bigint;
  ct_evicted: bigint;
  ct_untracked: bigint;
  pass_not_for_us: bigint;
  sync_lost: bigint;
  pass_ipv6_ext: bigint;
  pass_fragment6: bigint;
  tx_icmp6: bigint;
  pass_icmp6_no_flow: bigint;
  tx_icmp: bigint;
  pass_icmp_no_flow: bigint;
  ct_over_budget: bigint;
  tx_stateless: bigint;
  /** Not a verdict: the IPv6 share of tx_new. */
  tx_new6: bigint;
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

export const svcKey = defineStruct<SvcKey>('xlvs_svc_key', 8, [f('vip', 0, 4, 'be32'), f('port', 4, 2, 'be16'), f('proto', 6, 1, 'u8'), f('pad', 7, 1, 'pad')]);
export const svc = defineStruct<Svc>('xlvs_svc', 24, [
  f('id', 0, 4, 'u32'),
  f('flags', 4, 4, 'u32'),
  f('tbl_size', 8, 4, 'u32'),
  f('sched', 12, 1, 'u8'),
  f('persist_plen6', 13, 1, 'u8'),
  f('pad', 14, 2, 'pad'),
  f('persist_timeout', 16, 4, 'u32'),
  f('persist_mask', 20, 4, 'be32'),
]);
export const svc6Key = defineStruct<Svc6Key>('xlvs_svc6_key', 20, [
  f('vip', 0, 16, 'bytes'),
  f('port', 16, 2, 'be16'),
  f('proto', 18, 1, 'u8'),
  f('pad', 19, 1, 'pad'),
]);
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
export const real6 = defineStruct<Real6>('xlvs_real6', 16, [f('addr', 0, 16, 'bytes')]);
export const real = defineStruct<Real>('xlvs_real', 32, [
  f('mac', 0, 6, 'mac'),
  f('flags', 6, 2, 'u16'),
  f('addr', 8, 4, 'be32'),
  f('svc_id', 12, 4, 'u32'),
  f('weight', 16, 4, 'u32'),
  f('u_threshold', 20, 4, 'u32'),
  f('l_threshold', 24, 4, 'u32'),
  f('pad', 28, 4, 'pad'),
]);
export const realConns = defineStruct<RealConns>('xlvs_real_conns', 24, [
  f('active', 0, 8, 'i64'),
  f('inactive', 8, 8, 'i64'),
  f('overloaded', 16, 4, 'u32'),
  f('pad', 20, 4, 'pad'),
]);
export const seqPos = defineStruct<SeqPos>('xlvs_seq_pos', 8, [f('next', 0, 8, 'u64')]);
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
export const cfg = defineStruct<Cfg>('xlvs_cfg', 100, [
  f('mac', 0, 6, 'mac'),
  f('pad', 6, 2, 'pad'),
  f('timeout', 8, 32, 'u32s'),
  f('ct_buckets', 40, 4, 'u32'),
  f('ct_per_cpu', 44, 4, 'u32'),
  f('ct_seed', 48, 4, 'u32'),
  f('ct_total', 52, 4, 'u32'),
  f('accept_mac', 56, 6 * ACCEPT_MACS, 'macs'),
  f('sync_emit', 80, 4, 'u32'),
  f('ct6_buckets', 84, 4, 'u32'),
  f('ct6_total', 88, 4, 'u32'),
  f('nc_budget', 92, 4, 'u32'),
  f('svc_gen', 96, 4, 'u32'),
]);
export const counters = defineStruct<Counters>('xlvs_counters', 32, [
  f('packets', 0, 8, 'u64'),
  f('bytes', 8, 8, 'u64'),
  f('conns', 16, 8, 'u64'),
  f('drops', 24, 8, 'u64'),
]);
export const verdictFields = [
  'pass_not_ipv4',
  'pass_not_for_us',
  'pass_malformed',
  'pass_fragment',
  'pass_no_service',
  'tx_existing',
  'tx_new',
  'drop_no_real',
  'aborted',
  'pass_ipv6_ext',
  'pass_fragment6',
  'tx_icmp6',
  'pass_icmp6_no_flow',
  'tx_icmp',
  'pass_icmp_no_flow',
  'tx_stateless',
] as const;
/** The connection-table events counted after the verdicts in xlvs_verdicts (not verdicts: a frame gets one of those too). */
export const ctEventFields = ['ct_evicted', 'ct_untracked', 'ct_over_budget'] as const;
/** The struct's order: fields are appended, so a pinned map of an older build is a prefix of this one. */
const verdictLayout = [
  'pass_not_ipv4',
  'pass_malformed',
  'pass_fragment',
  'pass_no_service',
  'tx_existing',
  'tx_new',
  'drop_no_real',
  'aborted',
  'ct_evicted',
  'ct_untracked',
  'pass_not_for_us',
  'sync_lost',
  'pass_ipv6_ext',
  'pass_fragment6',
  'tx_icmp6',
  'pass_icmp6_no_flow',
  'tx_icmp',
  'pass_icmp_no_flow',
  'ct_over_budget',
  'tx_stateless',
  'tx_new6',
];
export const verdicts = defineStruct<Verdicts>(
  'xlvs_verdicts',
  168,
  verdictLayout.map((n, i) => f(n, i * 8, 8, 'u64')),
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
/** xlvs_ncb value: the new connections a CPU scheduled in one second (the new-connection budget's count). */
export interface NcBudget {
  second: number;
  count: number;
}
export const ncBudget = defineStruct<NcBudget>('xlvs_nc_budget', 8, [f('second', 0, 4, 'u32'), f('count', 4, 4, 'u32')]);
/** xlvs_svcc value: one slot of a CPU's service cache (key and svc as raw bytes: svcKey and svc decode them). */
export interface SvcCache {
  key: Buffer;
  gen: number;
  found: number;
  svc: Buffer;
}
export const svcCache = defineStruct<SvcCache>('xlvs_svc_cache', 40, [
  f('key', 0, 8, 'bytes'),
  f('gen', 8, 4, 'u32'),
  f('found', 12, 4, 'u32'),
  f('svc', 16, 24, 'bytes'),
]);

/** xlvs_svcc6 value: svcCache for an IPv6 service key (key and svc as raw bytes: svc6Key and svc decode them). */
export const svc6Cache = defineStruct<SvcCache>('xlvs_svc6_cache', 56, [
  f('key', 0, 20, 'bytes'),
  f('gen', 20, 4, 'u32'),
  f('found', 24, 4, 'u32'),
  f('svc', 28, 24, 'bytes'),
  f('pad', 52, 4, 'pad'),
]);

export const structs: readonly StructSpec<any>[] = [
  ctGeo,
  ncBudget,
  svcCache,
  svc6Cache,
  svcKey,
  svc6Key,
  svc,
  connKey,
  conn6Key,
  conn,
  ctEntry,
  ct6Entry,
  ctBucket,
  ct6Bucket,
  real,
  real6,
  realConns,
  seqPos,
  persistKey,
  persist6Key,
  persist,
  sweepStats,
  cfg,
  counters,
  verdicts,
  syncRec,
  syncIn,
  syncRec6,
  syncIn6,
];
