// SPDX-License-Identifier: Apache-2.0
// packetparse.ts: pure parsing of received frames (Ethernet, ARP, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6) for the doctor's probes and the ARP guard.

import { isIPv6 } from './net/addr';
import {
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  ICMP_ECHO,
  ICMP_ECHO_REPLY,
  ICMP_UNREACH,
  ICMP6_ECHO,
  ICMP6_ECHO_REPLY,
  ICMP6_UNREACH,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4String,
  ipv6String,
  macString,
} from './packets';

export interface ParsedTcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** The MSS option, if the segment carries one. */
  mss?: number;
}

/** An ICMP message, or an ICMPv6 one in an IPv6 packet (its own type numbers: ICMP6_*). */
export interface ParsedIcmp {
  type: number;
  code: number;
  /** Echo identifier and sequence (echo and echo reply only). */
  ident?: number;
  seq?: number;
  /** The offending datagram quoted in an error message (destination unreachable and friends). */
  quoted?: { saddr: string; daddr: string; proto: number; sport?: number; dport?: number };
}

/** An IP packet of either family; addresses in canonical text, proto the upper layer (IPv6: the fixed header's next header). */
export interface ParsedIp {
  saddr: string;
  daddr: string;
  proto: number;
  tcp?: ParsedTcp;
  udp?: { sport: number; dport: number; payload: Buffer };
  icmp?: ParsedIcmp;
}

export type ParsedIpv4 = ParsedIp;
export type ParsedIpv6 = ParsedIp;

export interface ParsedArp {
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export interface ParsedFrame {
  dstMac: string;
  srcMac: string;
  ethertype: number;
  arp?: ParsedArp;
  ipv4?: ParsedIpv4;
  ipv6?: ParsedIpv6;
}

function parseTcpOptions(opts: Buffer): number | undefined {
  for (let i = 0; i < opts.length; ) {
    const kind = opts[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = opts[i + 1];
    if (len === undefined || len < 2 || i + len > opts.length) break;
    if (kind === 2 && len === 4) return opts.readUInt16BE(i + 2);
    i += len;
  }
  return undefined;
}

function parseL4Ports(b: Buffer, off: number, proto: number): { sport?: number; dport?: number } {
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && b.length >= off + 4) return { sport: b.readUInt16BE(off), dport: b.readUInt16BE(off + 2) };
  return {};
}

/** TCP, UDP or ICMP/ICMPv6 at l4 (the packet ends at end) into ip; what is truncated is left out. */
function parseUpper(b: Buffer, l4: number, end: number, ip: ParsedIp, v6: boolean): void {
  const icmpProto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  if (ip.proto === IPPROTO_TCP && end >= l4 + 20) {
    const doff = (b[l4 + 12]! >> 4) * 4;
    const t: ParsedTcp = {
      sport: b.readUInt16BE(l4),
      dport: b.readUInt16BE(l4 + 2),
      seq: b.readUInt32BE(l4 + 4),
      ack: b.readUInt32BE(l4 + 8),
      flags: b[l4 + 13]!,
    };
    if (doff > 20 && end >= l4 + doff) {
      const mss = parseTcpOptions(b.subarray(l4 + 20, l4 + doff));
      if (mss !== undefined) t.mss = mss;
    }
    ip.tcp = t;
  } else if (ip.proto === IPPROTO_UDP && end >= l4 + 8) {
    ip.udp = { sport: b.readUInt16BE(l4), dport: b.readUInt16BE(l4 + 2), payload: Buffer.from(b.subarray(l4 + 8, end)) };
  } else if (ip.proto === icmpProto && end >= l4 + 8) {
    const icmp: ParsedIcmp = { type: b[l4]!, code: b[l4 + 1]! };
    const echo = v6 ? [ICMP6_ECHO, ICMP6_ECHO_REPLY] : [ICMP_ECHO, ICMP_ECHO_REPLY];
    const q = l4 + 8;
    if (echo.includes(icmp.type)) {
      icmp.ident = b.readUInt16BE(l4 + 4);
      icmp.seq = b.readUInt16BE(l4 + 6);
    } else if (!v6 && icmp.type === ICMP_UNREACH && end >= q + 20) {
      const qihl = (b[q]! & 0x0f) * 4;
      icmp.quoted = {
        saddr: ipv4String(b, q + 12),
        daddr: ipv4String(b, q + 16),
        proto: b[q + 9]!,
        ...(end >= q + qihl + 4 ? parseL4Ports(b, q + qihl, b[q + 9]!) : {}),
      };
    } else if (v6 && icmp.type === ICMP6_UNREACH && end >= q + 40) {
      // The quoted packet's upper layer is read only when it follows the fixed header, as in what the probes send.
      icmp.quoted = {
        saddr: ipv6String(b, q + 8),
        daddr: ipv6String(b, q + 24),
        proto: b[q + 6]!,
        ...(end >= q + 44 ? parseL4Ports(b, q + 40, b[q + 6]!) : {}),
      };
    }
    ip.icmp = icmp;
  }
}

/**
 * Dissects a frame; fields it cannot read (truncated, VLAN-tagged, fragments, an IPv6 upper layer behind extension
 * headers) are left out. Never throws.
 */
export function parseFrame(b: Buffer): ParsedFrame | null {
  if (b.length < 14) return null;
  const f: ParsedFrame = { dstMac: macString(b, 0), srcMac: macString(b, 6), ethertype: b.readUInt16BE(12) };
  if (f.ethertype === ETH_P_ARP && b.length >= 14 + 28) {
    if (b.readUInt16BE(14) === 1 && b.readUInt16BE(16) === ETH_P_IP && b[18] === 6 && b[19] === 4) {
      f.arp = { op: b.readUInt16BE(20), sha: macString(b, 22), spa: ipv4String(b, 28), tha: macString(b, 32), tpa: ipv4String(b, 38) };
    }
    return f;
  }
  if (f.ethertype === ETH_P_IPV6) {
    if (b.length < 54 || b[14]! >> 4 !== 6) return f;
    const ip: ParsedIpv6 = { saddr: ipv6String(b, 22), daddr: ipv6String(b, 38), proto: b[20]! };
    f.ipv6 = ip;
    parseUpper(b, 54, Math.min(b.length, 54 + b.readUInt16BE(18)), ip, true);
    return f;
  }
  if (f.ethertype !== ETH_P_IP || b.length < 34 || b[14]! >> 4 !== 4) return f;
  const ihl = (b[14]! & 0x0f) * 4;
  const total = b.readUInt16BE(16);
  if (ihl < 20 || total < ihl || b.length < 14 + ihl) return f;
  const ip: ParsedIpv4 = { saddr: ipv4String(b, 26), daddr: ipv4String(b, 30), proto: b[23]! };
  f.ipv4 = ip;
  // Only the first fragment carries the transport header.
  if ((b.readUInt16BE(20) & 0x1fff) !== 0) return f;
  parseUpper(b, 14 + ihl, Math.min(b.length, 14 + total), ip, false);
  return f;
}

/** The IP packet of a parsed frame in the family of addr (the probes match answers by the address they sent to). */
export function ipOf(f: ParsedFrame, addr: string): ParsedIp | undefined {
  return isIPv6(addr) ? f.ipv6 : f.ipv4;
}
