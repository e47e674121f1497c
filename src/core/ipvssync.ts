// SPDX-License-Identifier: Apache-2.0
// ipvssync.ts: IPVS connection-sync protocol v1 (ip_vs_sync.c wire format): layout, message building, states to XLVS_CS_* (decoding: ipvssync-decode.ts).

import { CS } from './abi';
import { ipToBytes } from './net/addr';
import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

/*
 * Wire layout (every multi-byte field big-endian), from the kernel's ip_vs_sync.c:
 *
 * message header, 8 bytes (struct ip_vs_sync_mesg):
 *   0 reserved (0: a version 0 receiver reads it as nr_conns and drops the message)
 *   1 syncid
 *   2 size, u16: the whole datagram, header included, without padding after the last entry
 *   4 nr_conns (u8, so at most 255 entries)
 *   5 version (1)
 *   6 spare, u16 (0)
 * then nr_conns entries, each starting 4-byte aligned from the message start (zero bytes pad the gap).
 *
 * IPv4 entry, 36 bytes (struct ip_vs_sync_v4):
 *   0 type (0: IPv4; bit 0 set: IPv6, whose entry is 72 bytes with 16-byte addresses)
 *   1 protocol (6 TCP, 17 UDP, ...)
 *   2 ver_size, u16: entry version in the top 4 bits (0), entry size with its options in the low 12
 *   4 flags, u32 (IP_VS_CONN_F_*)
 *   8 state, u16 (IP_VS_TCP_S_*, IP_VS_UDP_S_*, or IP_VS_CTPL_S_* for a template)
 *  10 cport, 12 vport, 14 dport (u16 each)
 *  16 fwmark, u32
 *  20 timeout, u32 (seconds: the state's full timeout, not what is left of it)
 *  24 caddr, 28 vaddr, 32 daddr
 * IPv6 entry, 72 bytes (struct ip_vs_sync_v6): type 1 (STYPE_F_INET6), then bytes 1..23 as above, then
 *  24 caddr, 40 vaddr, 56 daddr (16 bytes each, network order). The kernel's master writes type 1 for an AF_INET6
 *  connection and sizes the entry from the v6 struct; a backup without CONFIG_IP_VS_IPV6 drops the entry alone.
 * then options up to the entry's size: type u8, length u8 (never 0), data; a type with bit 6 (IPVS_OPT_F_PARAM)
 * set may be skipped by a receiver that does not know it, any other unknown type drops the entry.
 */

export const SYNC_PROTO_VER = 1;
export const SYNC_MESG_HEADER = 8;
export const SYNC_V4_SIZE = 36;
export const SYNC_V6_SIZE = 72;
/** nr_conns is one byte. */
export const MAX_CONNS_PER_MESG = 255;
/** IPVS's defaults (IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT) and the TTL start_sync_thread() uses when none is given. */
export const SYNC_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
export const SYNC_TTL = 1;
/** IPv4 + UDP headers, taken off the MTU for sync_maxlen. */
export const SYNC_HLEN = 20 + 8;

export const STYPE_F_INET6 = 0x01;
export const SVER_SHIFT = 12;
export const SVER_MASK = 0x0fff;
export const IPVS_OPT_SEQ_DATA = 1;
export const IPVS_OPT_PE_DATA = 2;
export const IPVS_OPT_PE_NAME = 3;
export const IPVS_OPT_F_PARAM = 1 << 6;
/** Option data lengths the kernel accepts (two struct ip_vs_seq of 3 u32; IP_VS_PEDATA_MAXLEN; IP_VS_PENAME_MAXLEN). */
export const SEQ_OPT_LEN = 24;
export const PEDATA_MAXLEN = 255;
export const PENAME_MAXLEN = 16;

/** IP_VS_CONN_F_* (include/uapi/linux/ip_vs.h). */
export const CONN_F = {
  FWD_MASK: 0x0007,
  MASQ: 0x0000,
  LOCALNODE: 0x0001,
  TUNNEL: 0x0002,
  DROUTE: 0x0003,
  BYPASS: 0x0004,
  SYNC: 0x0020,
  HASHED: 0x0040,
  NOOUTPUT: 0x0080,
  INACTIVE: 0x0100,
  OUT_SEQ: 0x0200,
  IN_SEQ: 0x0400,
  SEQ_MASK: 0x0600,
  NO_CPORT: 0x0800,
  TEMPLATE: 0x1000,
  ONE_PACKET: 0x2000,
} as const;

/** IP_VS_TCP_S_* (include/net/ip_vs.h); IP_VS_TCP_S_LAST is the count a receiver accepts below. */
export const TCP_S = {
  NONE: 0,
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT: 4,
  TIME_WAIT: 5,
  CLOSE: 6,
  CLOSE_WAIT: 7,
  LAST_ACK: 8,
  LISTEN: 9,
  SYNACK: 10,
  LAST: 11,
} as const;
export const UDP_S_NORMAL = 0;
export const UDP_S_LAST = 1;
export const CTPL_S_NONE = 0;
export const CTPL_S_LAST = 2;

/**
 * One connection entry as on the wire (options are not kept: xlvs has no sequence offsets or persistence engines).
 * The family is the addresses' (all three the same: IPVS-DR keeps a service and its reals in one family); IPv6
 * addresses are in canonical text (RFC 5952), as the rest of xlvs compares them.
 */
export interface SyncConn {
  protocol: number;
  flags: number;
  state: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  fwmark: number;
  /** Seconds. */
  timeout: number;
}

/**
 * IPVS's default sync_maxlen (start_sync_thread): a master sends at most 1500 - 28 bytes whatever the MTU (so a
 * backup on a smaller-MTU path still gets whole datagrams); a backup reads up to MTU - 28, with the MTU taken in
 * 1500..65535. A given value is clamped as the kernel clamps it (master 1.., backup 1024..; both up to 65535 - 28).
 */
export function syncMaxlen(role: 'master' | 'backup', mtu: number, given?: number): number {
  const lo = role === 'backup' ? 1024 : 1;
  if (given) return Math.min(Math.max(given, lo), 65535 - SYNC_HLEN);
  return (role === 'backup' ? Math.min(Math.max(mtu, 1500), 65535) : 1500) - SYNC_HLEN;
}

/** Entries of the plain IPv4 form (36 bytes, 4-aligned already) that fit one message of maxlen bytes (IPv6 entries are 72: half as many). */
export function connsPerMessage(maxlen: number): number {
  return Math.max(1, Math.min(MAX_CONNS_PER_MESG, Math.floor((maxlen - SYNC_MESG_HEADER) / SYNC_V4_SIZE)));
}

/** Writes a dotted quad without splitting it (the master writes three per entry, 100,000 entries a second). */
function putAddr(buf: Buffer, off: number, a: string): void {
  let v = 0;
  let o = off;
  for (let i = 0; i < a.length; i++) {
    const ch = a.charCodeAt(i);
    if (ch === 46) {
      buf[o++] = v;
      v = 0;
    } else v = v * 10 + ch - 48;
  }
  buf[o] = v;
}

/**
 * Builds one message the way the kernel's master does: header first, each entry 4-aligned, size growing as entries
 * are added. `add` refuses (returns false) an entry that would pass maxlen or the 255-entry limit: send, then start
 * a new builder.
 */
export class SyncMessageBuilder {
  private readonly buf: Buffer;
  private head = SYNC_MESG_HEADER;
  private n = 0;

  constructor(
    readonly syncid: number,
    readonly maxlen: number,
  ) {
    // One entry always fits, as the kernel sizes a buffer for at least one whatever sync_maxlen says.
    this.buf = Buffer.alloc(Math.max(maxlen, SYNC_MESG_HEADER + SYNC_V6_SIZE));
  }

  get count(): number {
    return this.n;
  }

  /** Throws a RangeError for an entry whose three addresses are not all IPv4 or all IPv6 (one entry has one type). */
  add(c: SyncConn): boolean {
    const v6 = c.caddr.includes(':');
    if (c.vaddr.includes(':') !== v6 || c.daddr.includes(':') !== v6)
      throw new RangeError(`sync entry: caddr ${c.caddr}, vaddr ${c.vaddr} and daddr ${c.daddr} are not of one address family`);
    const esize = v6 ? SYNC_V6_SIZE : SYNC_V4_SIZE;
    const pad = (4 - (this.head & 3)) & 3;
    if (this.n >= MAX_CONNS_PER_MESG || (this.n > 0 && this.head + pad + esize > this.maxlen)) return false;
    this.head += pad; // the buffer is zeroed, so the padding already is
    const b = this.buf;
    const o = this.head;
    b[o] = v6 ? STYPE_F_INET6 : 0;
    b[o + 1] = c.protocol;
    b.writeUInt16BE(esize & SVER_MASK, o + 2);
    b.writeUInt32BE(c.flags >>> 0, o + 4);
    b.writeUInt16BE(c.state, o + 8);
    b.writeUInt16BE(c.cport, o + 10);
    b.writeUInt16BE(c.vport, o + 12);
    b.writeUInt16BE(c.dport, o + 14);
    b.writeUInt32BE(c.fwmark >>> 0, o + 16);
    b.writeUInt32BE(c.timeout >>> 0, o + 20);
    if (v6) {
      b.set(ipToBytes(c.caddr), o + 24);
      b.set(ipToBytes(c.vaddr), o + 40);
      b.set(ipToBytes(c.daddr), o + 56);
    } else {
      putAddr(b, o + 24, c.caddr);
      putAddr(b, o + 28, c.vaddr);
      putAddr(b, o + 32, c.daddr);
    }
    this.head += esize;
    this.n++;
    return true;
  }

  /** The datagram (a copy; the builder may be reset and reused). */
  finish(): Buffer {
    const b = this.buf;
    b[0] = 0;
    b[1] = this.syncid;
    b.writeUInt16BE(this.head, 2);
    b[4] = this.n;
    b[5] = SYNC_PROTO_VER;
    b.writeUInt16BE(0, 6);
    return Buffer.from(b.subarray(0, this.head));
  }

  reset(): void {
    this.buf.fill(0);
    this.head = SYNC_MESG_HEADER;
    this.n = 0;
  }
}

/** One message from entries that must all fit (tests, and peers that send few). */
export function encodeSyncMessage(syncid: number, conns: readonly SyncConn[], maxlen = 65535 - SYNC_HLEN): Buffer {
  const b = new SyncMessageBuilder(syncid, maxlen);
  for (const c of conns) if (!b.add(c)) throw new RangeError(`sync message: ${conns.length} entries do not fit ${maxlen} bytes`);
  return b.finish();
}

/*
 * State mapping. xlvs tracks fewer TCP states than IPVS (XLVS_CS_*: SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE, UDP).
 * Sent: each xlvs state as the IPVS state of the same name (UDP as IP_VS_UDP_S_NORMAL); a template as
 * IP_VS_CTPL_S_NONE. Received: IPVS's opening states (NONE, SYN_SENT, SYN_RECV, LISTEN, SYNACK) become SYN_RECV,
 * its closing ones (FIN_WAIT, TIME_WAIT, CLOSE_WAIT, LAST_ACK) FIN_WAIT, so an entry keeps a short timeout until
 * the flow proves itself again; CLOSE stays CLOSE, any UDP state is UDP.
 */
export function xlvsToIpvsState(cs: number, protocol: number, template: boolean): number {
  if (template) return CTPL_S_NONE;
  if (protocol !== IPPROTO_TCP) return UDP_S_NORMAL;
  switch (cs) {
    case CS.ESTABLISHED:
      return TCP_S.ESTABLISHED;
    case CS.FIN_WAIT:
      return TCP_S.FIN_WAIT;
    case CS.CLOSE:
      return TCP_S.CLOSE;
    default:
      return TCP_S.SYN_RECV;
  }
}

export function ipvsToXlvsState(state: number, protocol: number, template: boolean): number {
  // A template has no flow state of its own; xlvs keeps it as the state its protocol's live entries hold.
  if (protocol === IPPROTO_UDP) return CS.UDP;
  if (template) return CS.ESTABLISHED;
  switch (state) {
    case TCP_S.ESTABLISHED:
      return CS.ESTABLISHED;
    case TCP_S.FIN_WAIT:
    case TCP_S.TIME_WAIT:
    case TCP_S.CLOSE_WAIT:
    case TCP_S.LAST_ACK:
      return CS.FIN_WAIT;
    case TCP_S.CLOSE:
      return CS.CLOSE;
    default:
      return CS.SYN_RECV;
  }
}

/**
 * Flags an xlvs entry is sent with, as IPVS's own DR connections carry them: the DR forwarding method, NOOUTPUT
 * (replies do not pass the director), INACTIVE while not ESTABLISHED (IPVS counts those as inactive), TEMPLATE for
 * a persistence template.
 */
export function syncFlags(cs: number, template: boolean): number {
  let f = CONN_F.DROUTE | CONN_F.NOOUTPUT;
  if (template) f |= CONN_F.TEMPLATE;
  else if (cs !== CS.ESTABLISHED) f |= CONN_F.INACTIVE;
  return f;
}
