// SPDX-License-Identifier: Apache-2.0
// ndp.ts: IPv6 neighbour discovery frames (RFC 4861): a neighbour solicitation to build, solicitations and advertisements to read, and which of them claim a VIP for another host.

import type { DoctorCheck } from './doctor';
import { bytesToIp, canonicalIp, ipToBytes } from './net/addr';
import { IPPROTO_ICMPV6 } from './net/proto';
import { buildIcmp6, ETH_P_IPV6, macBytes, macString } from './packets';

/** Re-exported for NDP's callers: packets.ts and net/proto.ts are the numbers' homes. */
export { ETH_P_IPV6, IPPROTO_ICMPV6 };
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
/** NDP's option types: the sender's and the target's link-layer address. */
const OPT_SOURCE_LLADDR = 1;
const OPT_TARGET_LLADDR = 2;

/** The solicited-node multicast group of an address (ff02::1:ffXX:XXXX, its last 24 bits): where an NS for it goes. */
export function solicitedNode(target: string): string {
  const t = ipToBytes(target);
  const b = new Uint8Array(16);
  b.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13]!, t[14]!, t[15]!]);
  return bytesToIp(b);
}

/** The Ethernet group an IPv6 multicast address maps to (33:33 and its last 32 bits, RFC 2464). */
export function multicastMac(group: string): string {
  const g = ipToBytes(group);
  return macString(Buffer.from([0x33, 0x33, g[12]!, g[13]!, g[14]!, g[15]!]));
}

/**
 * A neighbour solicitation for target from srcIp/srcMac, to the target's solicited-node group (multicast, as the
 * kernel resolves an unknown neighbour), with the source link-layer option; hop limit 255 as RFC 4861 requires.
 */
export function buildNeighborSolicit(srcMac: string, srcIp: string, target: string): Buffer {
  const dst = solicitedNode(target);
  // After type, code and checksum: 4 reserved bytes, the target, then the option (its length in units of 8 bytes).
  const body = Buffer.alloc(28);
  Buffer.from(ipToBytes(target)).copy(body, 4);
  body[20] = OPT_SOURCE_LLADDR;
  body[21] = 1;
  macBytes(srcMac).copy(body, 22);
  return buildIcmp6({ dstMac: multicastMac(dst), srcMac, saddr: srcIp, daddr: dst, ttl: 255, type: ND_NEIGHBOR_SOLICIT, body });
}

export interface NdpFrame {
  type: 'ns' | 'na';
  ethSrc: string;
  ethDst: string;
  srcIp: string;
  dstIp: string;
  /** The address solicited (NS) or advertised (NA). */
  target: string;
  /** NA flags: router, solicited, override. */
  solicited: boolean;
  override: boolean;
  /** The link-layer address option: the sender's (NS) or the target's (NA); null when absent. */
  lladdr: string | null;
}

/**
 * An NS or NA in an untagged Ethernet frame whose ICMPv6 follows the fixed header directly (as the kernel sends
 * them); null for anything else, and for anything not sent with hop limit 255 (RFC 4861 7.1: never trusted).
 */
export function parseNdp(frame: Buffer): NdpFrame | null {
  if (frame.length < 14 + 40 + 24 || frame.readUInt16BE(12) !== ETH_P_IPV6) return null;
  const ip = 14;
  if (frame[ip]! >> 4 !== 6 || frame[ip + 6] !== IPPROTO_ICMPV6 || frame[ip + 7] !== 255) return null;
  const icmp = ip + 40;
  const t = frame[icmp]!;
  if (t !== ND_NEIGHBOR_SOLICIT && t !== ND_NEIGHBOR_ADVERT) return null;
  const end = Math.min(frame.length, icmp + frame.readUInt16BE(ip + 4));
  let lladdr: string | null = null;
  const want = t === ND_NEIGHBOR_SOLICIT ? OPT_SOURCE_LLADDR : OPT_TARGET_LLADDR;
  for (let o = icmp + 24; o + 8 <= end; ) {
    const len = frame[o + 1]! * 8;
    if (len === 0) break;
    if (frame[o] === want && len >= 8) lladdr = macString(frame, o + 2);
    o += len;
  }
  const flags = frame[icmp + 4]!;
  const v6 = (off: number) => bytesToIp(new Uint8Array(frame.subarray(off, off + 16)));
  return {
    type: t === ND_NEIGHBOR_SOLICIT ? 'ns' : 'na',
    ethSrc: macString(frame, 6),
    ethDst: macString(frame, 0),
    srcIp: v6(ip + 8),
    dstIp: v6(ip + 24),
    target: v6(icmp + 8),
    solicited: t === ND_NEIGHBOR_ADVERT && (flags & 0x40) !== 0,
    override: t === ND_NEIGHBOR_ADVERT && (flags & 0x20) !== 0,
    lladdr,
  };
}

/**
 * How a host claimed an IPv6 VIP. advert: a neighbour advertisement for it (an answer to anyone's solicitation, or
 * unsolicited, as on an address coming up with ndisc_notify). request: a solicitation with the VIP as its source
 * and a source link-layer option, which teaches its hearers the VIP at the sender's MAC (what arp_announce=0 is for
 * IPv4; Linux never sends one for an address on lo). Both make the hosts that hear them send the VIP's traffic there.
 */
export interface NdpClaimSeen {
  vip: string;
  mac: string;
  kind: 'advert' | 'request';
  /** An advertisement sent to the director: an answer to its own solicitation, which the rounds can re-check. */
  answer: boolean;
}

/** Whether an NDP frame claims one of vips (canonical text) for a MAC other than own; null when it claims nothing. */
export function classifyNdp(f: NdpFrame | null, own: string, vips: ReadonlySet<string>): NdpClaimSeen | null {
  if (!f) return null;
  const me = own.toLowerCase();
  let vip: string;
  let kind: NdpClaimSeen['kind'];
  if (f.type === 'na') {
    vip = canonicalIp(f.target);
    kind = 'advert';
  } else {
    // An NS from :: is duplicate address detection: it claims nothing yet.
    if (!f.lladdr) return null;
    vip = canonicalIp(f.srcIp);
    kind = 'request';
  }
  if (!vips.has(vip)) return null;
  const mac = (f.lladdr ?? f.ethSrc).toLowerCase();
  if (mac === me || f.ethSrc.toLowerCase() === me || parseInt(mac.slice(0, 2), 16) & 1 || mac === '00:00:00:00:00:00') return null;
  return { vip, mac, kind, answer: kind === 'advert' && f.ethDst.toLowerCase() === me };
}

/**
 * A classic BPF program for an ETH_P_IPV6 packet socket that keeps only neighbour solicitations and advertisements
 * whose ICMPv6 header follows the fixed header (as NDP is sent), as struct sock_filter in the host's byte order: the
 * NDP watch of a busy NIC copies nothing else into user space.
 */
export function ndpFilter(endianness: 'LE' | 'BE'): Buffer {
  // ldb [20] (next header); jeq 58; ldb [54] (ICMPv6 type); jge 135; jgt 136 -> drop; accept; drop.
  const prog: [number, number, number, number][] = [
    [0x30, 0, 0, 14 + 6],
    [0x15, 0, 4, IPPROTO_ICMPV6],
    [0x30, 0, 0, 14 + 40],
    [0x35, 0, 2, ND_NEIGHBOR_SOLICIT],
    [0x25, 1, 0, ND_NEIGHBOR_ADVERT],
    [0x06, 0, 0, 0x40000],
    [0x06, 0, 0, 0],
  ];
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    if (endianness === 'LE') {
      out.writeUInt16LE(code, i * 8);
      out.writeUInt32LE(k, i * 8 + 4);
    } else {
      out.writeUInt16BE(code, i * 8);
      out.writeUInt32BE(k, i * 8 + 4);
    }
    out[i * 8 + 2] = jt;
    out[i * 8 + 3] = jf;
  });
  return out;
}

/**
 * The doctor's ndp-vip verdict: the MACs that answered its neighbour solicitation for an IPv6 VIP. Any MAC but the
 * director's fails, naming the real it belongs to; no source address to solicit from is a skip.
 */
export function doctorNdpVip(vip: string, dirMac: string, answers: string[] | null, realsByMac: Map<string, string>, holdsVip: boolean): DoctorCheck {
  const base = { check: 'ndp-vip' as const, subject: `VIP ${vip}`, vip };
  if (answers === null) {
    return { ...base, status: 'skip', detail: `the director has no global IPv6 address on the interface to solicit ${vip} from` };
  }
  const others = [...new Set(answers.map((m) => m.toLowerCase()).filter((m) => m !== dirMac.toLowerCase()))];
  if (others.length) {
    const who = others.map((m) => (realsByMac.has(m) ? `${m} (real ${realsByMac.get(m)})` : m));
    const reals = others.filter((m) => realsByMac.has(m)).map((m) => realsByMac.get(m)!);
    return {
      ...base,
      status: 'fail',
      detail: `neighbour solicitations for ${vip} answered by ${who.join(', ')}: the router may send clients past the director`,
      hint: reals.length
        ? `on ${reals.join(', ')}: xlvs realserver check --vip ${vip} (the VIP on lo only, no proxy neighbour entry for it)`
        : `find the host with MAC ${others[0]} and take ${vip} off it`,
    };
  }
  return {
    ...base,
    status: 'pass',
    detail: `no host but the director answers neighbour solicitations for ${vip}${holdsVip ? '' : ` (the director does not hold ${vip} now; xlvs up adds it)`}`,
  };
}
