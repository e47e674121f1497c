// SPDX-License-Identifier: Apache-2.0
// ipvssync-decode.ts: strict decoding of IPVS sync v1 messages (layout in ipvssync.ts): entries kept or skipped, or the message dropped, and why.

import {
  CONN_F,
  IPVS_OPT_F_PARAM,
  IPVS_OPT_PE_DATA,
  IPVS_OPT_PE_NAME,
  IPVS_OPT_SEQ_DATA,
  PEDATA_MAXLEN,
  PENAME_MAXLEN,
  SEQ_OPT_LEN,
  STYPE_F_INET6,
  SVER_MASK,
  SVER_SHIFT,
  SYNC_MESG_HEADER,
  SYNC_PROTO_VER,
  SYNC_V4_SIZE,
  SYNC_V6_SIZE,
  type SyncConn,
  TCP_S,
  UDP_S_LAST,
} from './ipvssync';
import { bytesToIp } from './net/addr';
import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

function getAddr(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** 16 bytes in network order as canonical IPv6 text. */
function getAddr6(buf: Buffer, off: number): string {
  return bytesToIp(buf.subarray(off, off + 16));
}

/** Why a whole message was dropped (counted as malformed), as the kernel's backup drops it. */
export type SyncDropReason =
  | 'short header'
  | 'size mismatch'
  | 'version'
  | 'entry truncated'
  | 'entry past message'
  | 'entry version'
  | 'entry type'
  | 'entry too small'
  | 'option header'
  | 'option length'
  | 'option repeated';

/** Entries skipped one by one, the rest of the message still used (the kernel skips them the same way). */
export interface SyncSkipped {
  /** An option type xlvs does not know and the sender marked mandatory. */
  mandatoryOption: number;
  /** A protocol other than TCP and UDP. */
  protocol: number;
  /** A state number past the protocol's last. */
  state: number;
  /** Persistence-engine data (sip): xlvs has no engines, and the kernel's backup too drops an entry whose engine it lacks. */
  peData: number;
}

export type SyncDecoded =
  | { kind: 'ok'; syncid: number; conns: SyncConn[]; skipped: SyncSkipped }
  /** A well-formed message for another syncid (the backup listens to one; syncid 0 listens to all). */
  | { kind: 'ignored'; syncid: number }
  | { kind: 'malformed'; reason: SyncDropReason; detail: string };

const noSkips = (): SyncSkipped => ({ mandatoryOption: 0, protocol: 0, state: 0, peData: 0 });

/**
 * Decodes one datagram as the kernel's backup (ip_vs_process_message) does, never throwing: the whole message is
 * dropped on a framing error (its size field, an entry or option running past its end, an entry version), single
 * entries are skipped for what only they carry. `wantSyncid` 0 accepts every syncid, as in IPVS. Version 0 messages
 * (no header version byte) are dropped as 'version': xlvs speaks version 1 only.
 */
export function decodeSyncMessage(buf: Buffer, wantSyncid = 0): SyncDecoded {
  const bad = (reason: SyncDropReason, detail: string): SyncDecoded => ({ kind: 'malformed', reason, detail });
  if (buf.length < SYNC_MESG_HEADER) return bad('short header', `${buf.length} bytes, the header alone is ${SYNC_MESG_HEADER}`);
  const size = buf.readUInt16BE(2);
  if (size !== buf.length) return bad('size mismatch', `size field ${size}, datagram ${buf.length} bytes`);
  const syncid = buf[1]!;
  if (buf[0] !== 0 || buf[5] !== SYNC_PROTO_VER || buf.readUInt16BE(6) !== 0)
    return bad('version', `reserved ${buf[0]}, version ${buf[5]}, spare ${buf.readUInt16BE(6)} (only version 1 is spoken)`);
  if (wantSyncid !== 0 && syncid !== wantSyncid) return { kind: 'ignored', syncid };
  const n = buf[4]!;
  const conns: SyncConn[] = [];
  const skipped = noSkips();
  let p = SYNC_MESG_HEADER;
  for (let i = 0; i < n; i++) {
    if (p + SYNC_V4_SIZE > buf.length) return bad('entry truncated', `entry ${i} at ${p}: fewer than ${SYNC_V4_SIZE} bytes left`);
    const vs = buf.readUInt16BE(p + 2);
    const esize = vs & SVER_MASK;
    const end = p + esize;
    if (end > buf.length) return bad('entry past message', `entry ${i} at ${p}: size ${esize} runs past the message's ${buf.length} bytes`);
    if (vs >> SVER_SHIFT) return bad('entry version', `entry ${i} at ${p}: version ${vs >> SVER_SHIFT}`);
    const type = buf[p]!;
    const v6 = (type & STYPE_F_INET6) !== 0;
    if (!v6 && type !== 0) return bad('entry type', `entry ${i} at ${p}: type ${type}`);
    const fixed = v6 ? SYNC_V6_SIZE : SYNC_V4_SIZE;
    if (esize < fixed) return bad('entry too small', `entry ${i} at ${p}: size ${esize} is below the ${fixed}-byte ${v6 ? 'IPv6' : 'IPv4'} entry`);
    // Options: type, length (never 0), data; each must end within the entry.
    let q = p + fixed;
    let seen = 0;
    let skip: keyof SyncSkipped | undefined;
    while (q < end) {
      if (q + 2 > end) return bad('option header', `entry ${i}: option at ${q} has no room for its type and length`);
      const otype = buf[q]!;
      const olen = buf[q + 1]!;
      q += 2;
      if (!olen || q + olen > end) return bad('option length', `entry ${i}: option ${otype} of length ${olen} at ${q - 2} does not fit the entry`);
      const base = otype & ~IPVS_OPT_F_PARAM;
      if (base === IPVS_OPT_SEQ_DATA || base === IPVS_OPT_PE_DATA || base === IPVS_OPT_PE_NAME) {
        const max = base === IPVS_OPT_SEQ_DATA ? SEQ_OPT_LEN : base === IPVS_OPT_PE_DATA ? PEDATA_MAXLEN : PENAME_MAXLEN;
        if (base === IPVS_OPT_SEQ_DATA ? olen !== max : olen > max)
          return bad('option length', `entry ${i}: option ${base} has length ${olen} (${base === IPVS_OPT_SEQ_DATA ? 'must be' : 'at most'} ${max})`);
        if (seen & (1 << base)) return bad('option repeated', `entry ${i}: option ${base} twice`);
        seen |= 1 << base;
        if (base === IPVS_OPT_PE_DATA) skip ??= 'peData';
      } else if (!(otype & IPVS_OPT_F_PARAM)) skip ??= 'mandatoryOption';
      q += olen;
    }
    const flags = buf.readUInt32BE(p + 4);
    const state = buf.readUInt16BE(p + 8);
    const protocol = buf[p + 1]!;
    const template = (flags & CONN_F.TEMPLATE) !== 0;
    if (!skip && !template && protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) skip = 'protocol';
    if (!skip && !template && state >= (protocol === IPPROTO_TCP ? TCP_S.LAST : UDP_S_LAST)) skip = 'state';
    if (skip) skipped[skip]++;
    else
      conns.push({
        protocol,
        flags,
        state,
        cport: buf.readUInt16BE(p + 10),
        vport: buf.readUInt16BE(p + 12),
        dport: buf.readUInt16BE(p + 14),
        fwmark: buf.readUInt32BE(p + 16),
        timeout: buf.readUInt32BE(p + 20),
        caddr: v6 ? getAddr6(buf, p + 24) : getAddr(buf, p + 24),
        vaddr: v6 ? getAddr6(buf, p + 40) : getAddr(buf, p + 28),
        daddr: v6 ? getAddr6(buf, p + 56) : getAddr(buf, p + 32),
      });
    p += (esize + 3) & ~3;
  }
  return { kind: 'ok', syncid, conns, skipped };
}
