// SPDX-License-Identifier: Apache-2.0
// abi-structs.ts: the codecs of xlvs_abi.h's service, real, config and counter structs, and the list of every codec for the BTF layout test.

import { defineStruct, f, type StructSpec } from './abi-codec';
import { ACCEPT_MACS } from './abi-limits';
import {
  conn,
  conn6Key,
  connKey,
  ct6Bucket,
  ct6Entry,
  ctBucket,
  ctEntry,
  ctGeo,
  persist,
  persist6Key,
  persistKey,
  sweepStats,
  syncIn,
  syncIn6,
  syncRec,
  syncRec6,
} from './abi-structs-ct';

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

/** Every codec, abi-structs-ct.ts's too: test/unit/abi.test.ts checks only the listed ones against the BTF, and finds a map's struct here. */
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
