// SPDX-License-Identifier: Apache-2.0
// abi-limits.ts: every #define of bpf/include/xlvs_abi.h (limits, flags, scheduler and state numbers) and the sizes derived from them.

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
/** ORed into an xlvs_ctmove op: it resizes the IPv6 table (xlvs_conn6, xlvs_ctgeo6). */
export const CTMOVE_F_INET6 = 0x100;
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
  XLVS_CTMOVE_F_INET6: CTMOVE_F_INET6,
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
