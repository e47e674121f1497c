// SPDX-License-Identifier: Apache-2.0
// framefuzz-ipv4.ts: the fuzzer's IPv4 frame template (TCP, UDP or ICMP, VLAN tags, options, payload) and where its fields lie for the mutations.

import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';
import { inetChecksum, ipv4Bytes, macBytes } from './packets';
import type { Rng } from './rng';

/** Frames stay within what BPF_PROG_TEST_RUN takes for XDP (a page less headroom and skb_shared_info). */
export const MAX_FRAME = 1514;

export interface Ipv4Spec {
  dst: string;
  src?: string;
  /** VLAN tags after the MACs, outermost first: TPID and VLAN id. */
  tags?: { tpid: number; vid: number }[];
  saddr: string;
  daddr: string;
  proto: number;
  sport: number;
  dport: number;
  /** IPv4 option bytes (a multiple of 4, <= 40). */
  ipOpts: number;
  /** TCP option bytes (a multiple of 4, <= 40). */
  tcpOpts: number;
  tcpFlags: number;
  fragOff: number;
  payload: number;
}

/** Where the mutations find the fields of a built IPv4 frame. */
export interface Layout {
  ip: number;
  l4: number;
  proto: number;
}

export function buildIpv4(s: Ipv4Spec & { dstMac?: Buffer }, r: Rng): { f: Buffer; lay: Layout } {
  const tags = s.tags ?? [];
  const l2 = 14 + 4 * tags.length;
  const ihl = 20 + s.ipOpts;
  const l4len = s.proto === IPPROTO_TCP ? 20 + s.tcpOpts : 8;
  const f = Buffer.alloc(Math.min(MAX_FRAME, l2 + ihl + l4len + s.payload));
  const payload = f.length - (l2 + ihl + l4len);
  (s.dstMac ?? macBytes(s.dst)).copy(f, 0);
  macBytes(s.src ?? '02:00:00:00:00:01').copy(f, 6);
  tags.forEach((t, i) => {
    f.writeUInt16BE(t.tpid, 12 + 4 * i);
    f.writeUInt16BE(t.vid, 14 + 4 * i);
  });
  f.writeUInt16BE(0x0800, l2 - 2);
  const ip = l2;
  f[ip] = 0x40 | (ihl / 4);
  f.writeUInt16BE(ihl + l4len + payload, ip + 2);
  f.writeUInt16BE(r.int(65536), ip + 4);
  f.writeUInt16BE(s.fragOff, ip + 6);
  f[ip + 8] = 64;
  f[ip + 9] = s.proto;
  ipv4Bytes(s.saddr).copy(f, ip + 12);
  ipv4Bytes(s.daddr).copy(f, ip + 16);
  // Options: NOPs and an end-of-list, or random bytes (the datapath never reads them).
  for (let i = 0; i < s.ipOpts; i++) f[ip + 20 + i] = r.chance(0.8) ? 1 : r.int(256);
  f.writeUInt16BE(inetChecksum(f.subarray(ip, ip + ihl)), ip + 10);
  const l4 = ip + ihl;
  if (s.proto === IPPROTO_TCP) {
    f.writeUInt16BE(s.sport, l4);
    f.writeUInt16BE(s.dport, l4 + 2);
    f.writeUInt32BE(r.u32(), l4 + 4);
    f.writeUInt32BE(r.u32(), l4 + 8);
    f[l4 + 12] = ((20 + s.tcpOpts) / 4) << 4;
    f[l4 + 13] = s.tcpFlags;
    f.writeUInt16BE(64240, l4 + 14);
    for (let i = 0; i < s.tcpOpts; i++) f[l4 + 20 + i] = 1;
  } else if (s.proto === IPPROTO_UDP) {
    f.writeUInt16BE(s.sport, l4);
    f.writeUInt16BE(s.dport, l4 + 2);
    f.writeUInt16BE(8 + payload, l4 + 4);
  } else {
    f[l4] = 8; // ICMP echo request, or the first bytes of anything else
    f.writeUInt16BE(r.int(65536), l4 + 4);
  }
  for (let i = f.length - payload; i < f.length; i++) f[i] = r.int(256);
  return { f, lay: { ip, l4, proto: s.proto } };
}
