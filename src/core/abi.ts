// SPDX-License-Identifier: Apache-2.0
// abi.ts: byte-level codecs for every struct in bpf/include/xlvs_abi.h, and its limits; test/unit/abi.test.ts checks each layout against the object's BTF.

/**
 * How a field is stored: host order (`u*`, `i64`; `u32s` an array of u32), wire order (`be*`), a MAC (`macs` an array of them), raw bytes (a nested struct), or
 * padding that must be zero.
 */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'u32s' | 'be16' | 'be32' | 'mac' | 'macs' | 'bytes' | 'pad';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
}

export interface StructSpec<T> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldSpec[];
  encode(value: T, buf?: Buffer, at?: number): Buffer;
  decode(buf: Buffer, at?: number): T;
}

function defineStruct<T extends object>(name: string, size: number, fields: FieldSpec[]): StructSpec<T> {
  return {
    name,
    size,
    fields,
    encode(value: T, buf = Buffer.alloc(size), at = 0): Buffer {
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        const o = at + f.offset;
        switch (f.kind) {
          case 'pad':
            buf.fill(0, o, o + f.size);
            break;
          case 'u8':
            buf.writeUInt8(Number(v[f.name] ?? 0), o);
            break;
          case 'u16':
            buf.writeUInt16LE(Number(v[f.name] ?? 0), o);
            break;
          case 'u32':
            buf.writeUInt32LE(Number(v[f.name] ?? 0) >>> 0, o);
            break;
          case 'u64':
            buf.writeBigUInt64LE(BigInt((v[f.name] as bigint | number | undefined) ?? 0), o);
            break;
          case 'i64':
            buf.writeBigInt64LE(BigInt((v[f.name] as bigint | number | undefined) ?? 0), o);
            break;
          case 'u32s':
            for (let i = 0; i < f.size / 4; i++) buf.writeUInt32LE(((v[f.name] as number[] | undefined)?.[i] ?? 0) >>> 0, o + i * 4);
            break;
          case 'be16':
            buf.writeUInt16BE(Number(v[f.name] ?? 0), o);
            break;
          case 'be32':
            buf.writeUInt32BE(Number(v[f.name] ?? 0) >>> 0, o);
            break;
          case 'mac':
            macToBytes(String(v[f.name] ?? '00:00:00:00:00:00')).copy(buf, o);
            break;
          case 'macs':
            for (let i = 0; i < f.size / 6; i++) macToBytes((v[f.name] as string[] | undefined)?.[i] ?? '00:00:00:00:00:00').copy(buf, o + i * 6);
            break;
          case 'bytes':
            buf.fill(0, o, o + f.size);
            (v[f.name] as Buffer | undefined)?.copy(buf, o, 0, f.size);
            break;
        }
      }
      return buf;
    },
    decode(buf: Buffer, at = 0): T {
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const o = at + f.offset;
        switch (f.kind) {
          case 'pad':
            break;
          case 'u8':
            out[f.name] = buf.readUInt8(o);
            break;
          case 'u16':
            out[f.name] = buf.readUInt16LE(o);
            break;
          case 'u32':
            out[f.name] = buf.readUInt32LE(o);
            break;
          case 'u64':
            out[f.name] = buf.readBigUInt64LE(o);
            break;
          case 'i64':
            out[f.name] = buf.readBigInt64LE(o);
            break;
          case 'u32s':
            out[f.name] = Array.from({ length: f.size / 4 }, (_, i) => buf.readUInt32LE(o + i * 4));
            break;
          case 'be16':
            out[f.name] = buf.readUInt16BE(o);
            break;
          case 'be32':
            out[f.name] = buf.readUInt32BE(o);
            break;
          case 'mac':
            out[f.name] = bytesToMac(buf.subarray(o, o + 6));
            break;
          case 'macs':
            out[f.name] = Array.from({ length: f.size / 6 }, (_, i) => bytesToMac(buf.subarray(o + i * 6, o + i * 6 + 6)));
            break;
          case 'bytes':
            out[f.name] = Buffer.from(buf.subarray(o, o + f.size));
            break;
        }
      }
      return out as T;
    },
  };
}

const f = (name: string, offset: number, size: number, kind: FieldKind): FieldSpec => ({ name, offset, size, kind });

export const MAX_SERVICES = 16384;
export const MAX_REALS = 131072;
export const CONN_DEFAULT_MAX = 4194304;
export const MH_DEFAULT_SIZE = 65537;
export const REAL_NONE = 0xffffffff;
/** Hash-table entry marks (xlvs_abi.h XLVS_TBL_*): the real id is the low bits. */
export const TBL_MOVED = 0x80000000;
export const TBL_HELD = 0x40000000;
export const TBL_REAL_MASK = 0x3fffffff;
export const SEEN_BITS = 16;
export const SEEN_PER_WORD = 4;
export const SVCC_SLOTS = 256;
export const TBLMARK_SETTLE = 0;
export const TBLMARK_ALL = 1;
export const CT_WAYS = 8;
export const CONN6_DEFAULT_MAX = 1048576;
export const CT6_WAYS = 4;
export const IPV6_EXT_MAX = 6;
export const NEW_CONN6_BYTES = 80;
export const ACCEPT_MACS = 4;
export const PERSIST_RATIO = 16;
export const PERSIST_MIN = 1024;
export const REAL_F_MAC = 1 << 0;
export const REAL_F_SCHED = 1 << 1;
export const SEQ_MAX_TRIES = 32;
export const FALLBACK_TRIES = 32;
export const FALLBACK_STRIDE = 1000;
export const TBL_MAX = 1048576;
export const SWEEP_CHUNK = 16384;
/** xlvs_ctmove's ops (XLVS_CTMOVE_*): resizing a growable connection table. */
export const CTMOVE = { BEGIN: 0, STEP: 1, END: 2, REVERT: 3 } as const;
/** Buckets a growable connection table starts with and never shrinks below. */
export const CT_MIN_LIVE = 32768;
export const SYNCQ_BYTES = 4194304;
export const SYNCIN_MAX = 96;
export const SYNC_F_TEMPLATE = 1 << 0;
/** xlvs_sync_rec.flags: the record is the head of a struct xlvs_sync_rec6 (an IPv6 flow; the head's addresses are zero). */
export const SYNC_F_INET6 = 1 << 1;
export const SYNCIN6_MAX = 48;
/** What xlvs_syncin did with an entry (xlvs_sync_in.result). */
export const SYNC_R = { NONE: 0, INSERTED: 1, UPDATED: 2, NO_SVC: 3, NO_REAL: 4, FULL: 5, PER_CPU: 6, BAD: 7 } as const;
export const SVC_F_HASH_PORT = 1 << 0;
export const SVC_F_FALLBACK = 1 << 1;
export const CONN_F_PERSIST = 1 << 0;
/** Scheduler numbers by IPVS name (xlvs_svc.sched). */
export const SCHED = { mh: 0, rr: 1, wrr: 2, lc: 3, wlc: 4, sed: 5, nq: 6, sh: 7, dh: 8, fo: 9, ovf: 10 } as const;
/** Connection states (xlvs_conn.state), by the names ipvsadm -Lc prints. */
export const CS = { NONE: 0, SYN_RECV: 1, ESTABLISHED: 2, FIN_WAIT: 3, CLOSE: 4, UDP: 5 } as const;
export const CS_COUNT = 8;

/** Every #define of xlvs_abi.h, by its C name, for the layout test. */
export const constants: Record<string, number> = {
  XLVS_MAX_SERVICES: MAX_SERVICES,
  XLVS_MAX_REALS: MAX_REALS,
  XLVS_CONN_DEFAULT_MAX: CONN_DEFAULT_MAX,
  XLVS_MH_DEFAULT_SIZE: MH_DEFAULT_SIZE,
  XLVS_REAL_NONE: REAL_NONE,
  XLVS_TBL_MOVED: TBL_MOVED,
  XLVS_TBL_HELD: TBL_HELD,
  XLVS_TBL_REAL_MASK: TBL_REAL_MASK,
  XLVS_SEEN_BITS: SEEN_BITS,
  XLVS_SEEN_PER_WORD: SEEN_PER_WORD,
  XLVS_SVCC_SLOTS: SVCC_SLOTS,
  XLVS_TBLMARK_SETTLE: TBLMARK_SETTLE,
  XLVS_TBLMARK_ALL: TBLMARK_ALL,
  XLVS_CT_WAYS: CT_WAYS,
  XLVS_CONN6_DEFAULT_MAX: CONN6_DEFAULT_MAX,
  XLVS_CT6_WAYS: CT6_WAYS,
  XLVS_IPV6_EXT_MAX: IPV6_EXT_MAX,
  XLVS_NEW_CONN6_BYTES: NEW_CONN6_BYTES,
  XLVS_ACCEPT_MACS: ACCEPT_MACS,
  XLVS_PERSIST_RATIO: PERSIST_RATIO,
  XLVS_PERSIST_MIN: PERSIST_MIN,
  XLVS_REAL_F_MAC: REAL_F_MAC,
  XLVS_REAL_F_SCHED: REAL_F_SCHED,
  XLVS_SEQ_MAX_TRIES: SEQ_MAX_TRIES,
  XLVS_FALLBACK_TRIES: FALLBACK_TRIES,
  XLVS_FALLBACK_STRIDE: FALLBACK_STRIDE,
  XLVS_TBL_MAX: TBL_MAX,
  XLVS_SWEEP_CHUNK: SWEEP_CHUNK,
  XLVS_CTMOVE_BEGIN: CTMOVE.BEGIN,
  XLVS_CTMOVE_STEP: CTMOVE.STEP,
  XLVS_CTMOVE_END: CTMOVE.END,
  XLVS_CTMOVE_REVERT: CTMOVE.REVERT,
  XLVS_CT_MIN_LIVE: CT_MIN_LIVE,
  XLVS_SYNCQ_BYTES: SYNCQ_BYTES,
  XLVS_SYNCIN_MAX: SYNCIN_MAX,
  XLVS_SYNC_F_TEMPLATE: SYNC_F_TEMPLATE,
  XLVS_SYNC_F_INET6: SYNC_F_INET6,
  XLVS_SYNCIN6_MAX: SYNCIN6_MAX,
  ...Object.fromEntries(Object.entries(SYNC_R).map(([k, v]) => [`XLVS_SYNC_R_${k}`, v])),
  XLVS_SVC_F_HASH_PORT: SVC_F_HASH_PORT,
  XLVS_SVC_F_FALLBACK: SVC_F_FALLBACK,
  XLVS_CONN_F_PERSIST: CONN_F_PERSIST,
  ...Object.fromEntries(Object.entries(SCHED).map(([k, v]) => [`XLVS_SCHED_${k.toUpperCase()}`, v])),
  ...Object.fromEntries(Object.entries(CS).map(([k, v]) => [`XLVS_CS_${k}`, v])),
  XLVS_CS_COUNT: CS_COUNT,
};

/** The IPv6 connection table's default size for an IPv4 table of this many entries: a quarter of them (half its memory), XLVS_CONN6_DEFAULT_MAX by default. */
export function conn6TableSize(connTableSize: number): number {
  return Math.max(1024, Math.floor(connTableSize / 4));
}

/** Entries of the persistence-template table (xlvs_persist, xlvs_persist6) that goes with a connection table of this many entries. */
export function persistTableSize(connTableSize: number): number {
  return Math.max(PERSIST_MIN, Math.floor(connTableSize / PERSIST_RATIO));
}

/** The protocol numbers the keys carry: net/proto.ts is their one home. */
export { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

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
  64,
  ['now', 'conns', 'expired', 'templates', 'templates_expired', 'runs', 'cursor', 'pass_conns'].map((n, i) => f(n, i * 8, 8, 'u64')),
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
];
export const verdicts = defineStruct<Verdicts>(
  'xlvs_verdicts',
  160,
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

export const structs: readonly StructSpec<any>[] = [
  ctGeo,
  ncBudget,
  svcCache,
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

/** The datapath's clock: CLOCK_MONOTONIC nanoseconds to seconds as now_seconds() in bpf/xlvs.bpf.c computes them (no division there). */
export function monoSeconds(ns: bigint): number {
  return Number((((ns >> 20n) * 4503600n) >> 32n) & 0xffffffffn);
}

/** A u32 key for array maps. */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Sums a per-CPU value buffer (one slot of `stride` bytes per possible CPU) with the struct's decoder. */
export function sumPerCpu<T extends object>(spec: StructSpec<T>, buf: Buffer, ncpu: number): T {
  const stride = Math.ceil(spec.size / 8) * 8;
  const total: Record<string, bigint> = {};
  for (let cpu = 0; cpu < ncpu; cpu++) {
    const one = spec.decode(buf, cpu * stride) as Record<string, unknown>;
    for (const [k, v] of Object.entries(one)) total[k] = (total[k] ?? 0n) + (v as bigint);
  }
  return total as T;
}

export function ipv4ToU32(addr: string): number {
  let v = ipCache.get(addr);
  if (v === undefined) {
    const p = addr.split('.').map(Number);
    v = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
    if (ipCache.size >= 65536) ipCache.clear();
    ipCache.set(addr, v);
  }
  return v;
}

/** Parsed addresses and MACs, remembered: a 10,000-service apply encodes the same few reals 100,000 times. Bounded. */
const ipCache = new Map<string, number>();
const macCache = new Map<string, Buffer>();

export function u32ToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The caller must not modify the result (it is shared); encode() only copies from it. */
export function macToBytes(mac: string): Buffer {
  let b = macCache.get(mac);
  if (!b) {
    b = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
    if (macCache.size >= 65536) macCache.clear();
    macCache.set(mac, b);
  }
  return b;
}

export function bytesToMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
