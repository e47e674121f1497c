// SPDX-License-Identifier: Apache-2.0
// packets.ts: pure Ethernet/ARP/IPv4/IPv6/TCP/UDP/ICMP/ICMPv6 frame building, with the constants and address helpers frames need (parsing: packetparse.ts).

import { bytesToIp, ipToBytes, isIPv4, isIPv6 } from './net/addr';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
/** Re-exported for the probes' callers: net/proto.ts is the numbers' one home. */
export { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP };

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_UNREACH = 3;
export const ICMP_ECHO = 8;

/** ICMPv6 (RFC 4443): destination unreachable (code 4: port unreachable), echo request and reply. */
export const ICMP6_UNREACH = 1;
export const ICMP6_ECHO = 128;
export const ICMP6_ECHO_REPLY = 129;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}

export function macBytes(s: string): Buffer {
  if (!isMac(s)) throw new Error(`not a MAC address: ${JSON.stringify(s)}`);
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

export function macString(b: Buffer, off = 0): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function ipv4Bytes(s: string): Buffer {
  if (!isIPv4(s)) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  return Buffer.from(ipToBytes(s));
}

export function ipv6Bytes(s: string): Buffer {
  if (!isIPv6(s)) throw new Error(`not an IPv6 address: ${JSON.stringify(s)}`);
  return Buffer.from(ipToBytes(s));
}

/** The canonical text (RFC 5952) of the 16 bytes at off. */
export function ipv6String(b: Buffer, off = 0): string {
  return bytesToIp(new Uint8Array(b.subarray(off, off + 16)));
}

export function ipv4String(b: Buffer, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function ipv4ToInt(s: string): number {
  return ipv4Bytes(s).readUInt32BE(0);
}

export function intToIpv4(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return ipv4String(b);
}

/** The Internet checksum (RFC 1071) of buf, folded, continuing from a partial sum. */
export function inetChecksum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum >>> 16) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface L2 {
  dstMac: string;
  srcMac: string;
}

/** Addresses of one family: IPv4 frames for IPv4 addresses, IPv6 frames for IPv6 ones. */
export interface L3 extends L2 {
  saddr: string;
  daddr: string;
  /** TTL or hop limit; default 64. */
  ttl?: number;
  /** IPv4's identification; default 0 (the kernel's choice for DF packets too). IPv6 has none. */
  id?: number;
}

function ethernet(l2: L2, ethertype: number, payload: Buffer): Buffer {
  const eth = Buffer.alloc(14);
  macBytes(l2.dstMac).copy(eth, 0);
  macBytes(l2.srcMac).copy(eth, 6);
  eth.writeUInt16BE(ethertype, 12);
  return Buffer.concat([eth, payload]);
}

function ipv4(l3: L3, proto: number, l4: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(l3.id ?? 0, 4);
  ip.writeUInt16BE(0x4000, 6); // DF: a probe must not be fragmented on its way, like a real client's TCP
  ip[8] = l3.ttl ?? 64;
  ip[9] = proto;
  ipv4Bytes(l3.saddr).copy(ip, 12);
  ipv4Bytes(l3.daddr).copy(ip, 16);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  return ethernet(l3, ETH_P_IP, Buffer.concat([ip, l4]));
}

/**
 * The fixed IPv6 header (no extension headers: the upper layer follows it, as the probes send and the kernel answers
 * them); IPv6 routers never fragment, so there is no DF to set.
 */
function ipv6(l3: L3, nextHeader: number, l4: Buffer): Buffer {
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(l4.length, 4);
  ip[6] = nextHeader;
  ip[7] = l3.ttl ?? 64;
  ipv6Bytes(l3.saddr).copy(ip, 8);
  ipv6Bytes(l3.daddr).copy(ip, 24);
  return ethernet(l3, ETH_P_IPV6, Buffer.concat([ip, l4]));
}

/** The IP header of the addresses' family around an upper-layer message. */
function ipPacket(l3: L3, proto: number, l4: Buffer): Buffer {
  return isIPv6(l3.saddr) ? ipv6(l3, proto, l4) : ipv4(l3, proto, l4);
}

/**
 * Partial sum of the upper-layer pseudo-header (TCP, UDP, ICMPv6): IPv4's 12 bytes (RFC 793) or IPv6's 40 (RFC
 * 8200 8.1), chosen by the addresses' family.
 */
export function pseudoHeaderSum(saddr: string, daddr: string, proto: number, len: number): number {
  let p: Buffer;
  if (isIPv6(saddr)) {
    p = Buffer.alloc(40);
    ipv6Bytes(saddr).copy(p, 0);
    ipv6Bytes(daddr).copy(p, 16);
    p.writeUInt32BE(len, 32);
    p[39] = proto;
  } else {
    p = Buffer.alloc(12);
    ipv4Bytes(saddr).copy(p, 0);
    ipv4Bytes(daddr).copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
  }
  let sum = 0;
  for (let i = 0; i < p.length; i += 2) sum += p.readUInt16BE(i);
  return sum;
}

export interface TcpSpec extends L3 {
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  /** Adds an MSS option (a SYN from a real client carries one). */
  mss?: number;
}

export function buildTcp(s: TcpSpec): Buffer {
  const opts = s.mss === undefined ? Buffer.alloc(0) : Buffer.from([2, 4, (s.mss >> 8) & 0xff, s.mss & 0xff]);
  const tcp = Buffer.alloc(20 + opts.length);
  tcp.writeUInt16BE(s.sport, 0);
  tcp.writeUInt16BE(s.dport, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  tcp[12] = (tcp.length / 4) << 4;
  tcp[13] = s.flags;
  tcp.writeUInt16BE(s.window ?? 64240, 14);
  opts.copy(tcp, 20);
  tcp.writeUInt16BE(inetChecksum(tcp, pseudoHeaderSum(s.saddr, s.daddr, IPPROTO_TCP, tcp.length)), 16);
  return ipPacket(s, IPPROTO_TCP, tcp);
}

export interface UdpSpec extends L3 {
  sport: number;
  dport: number;
  payload?: Buffer;
}

export function buildUdp(s: UdpSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(s.sport, 0);
  udp.writeUInt16BE(s.dport, 2);
  udp.writeUInt16BE(udp.length, 4);
  payload.copy(udp, 8);
  const sum = inetChecksum(udp, pseudoHeaderSum(s.saddr, s.daddr, IPPROTO_UDP, udp.length));
  // 0 means "no checksum" in UDP, so a computed 0 is sent as all ones.
  udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return ipPacket(s, IPPROTO_UDP, udp);
}

export interface EchoSpec extends L3 {
  ident: number;
  seq: number;
  payload?: Buffer;
}

/** An echo request: ICMP for IPv4 addresses, ICMPv6 (type 128, pseudo-header in its checksum) for IPv6 ones. */
export function buildIcmpEcho(s: EchoSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const rest = Buffer.alloc(4 + payload.length);
  rest.writeUInt16BE(s.ident, 0);
  rest.writeUInt16BE(s.seq, 2);
  payload.copy(rest, 4);
  if (isIPv6(s.saddr)) return buildIcmp6({ ...s, type: ICMP6_ECHO, body: rest });
  const icmp = Buffer.concat([Buffer.from([ICMP_ECHO, 0, 0, 0]), rest]);
  icmp.writeUInt16BE(inetChecksum(icmp), 2);
  return ipv4(s, IPPROTO_ICMP, icmp);
}

export interface Icmp6Spec extends L3 {
  type: number;
  code?: number;
  /** The message after its 4-byte type/code/checksum head. */
  body: Buffer;
}

/** An ICMPv6 message in an IPv6 frame, its checksum over the pseudo-header (RFC 4443 2.3): echo, and NDP's (ndp.ts). */
export function buildIcmp6(s: Icmp6Spec): Buffer {
  const msg = Buffer.concat([Buffer.from([s.type, s.code ?? 0, 0, 0]), s.body]);
  msg.writeUInt16BE(inetChecksum(msg, pseudoHeaderSum(s.saddr, s.daddr, IPPROTO_ICMPV6, msg.length)), 2);
  return ipv6(s, IPPROTO_ICMPV6, msg);
}

export interface ArpSpec {
  op: number;
  /** Ethernet source and destination; the sender hardware address is the source. */
  srcMac: string;
  dstMac: string;
  spa: string;
  tpa: string;
  /** Target hardware address; zero for a request. */
  tha?: string;
}

export function buildArp(s: ArpSpec): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0); // Ethernet
  a.writeUInt16BE(ETH_P_IP, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(s.op, 6);
  macBytes(s.srcMac).copy(a, 8);
  ipv4Bytes(s.spa).copy(a, 14);
  macBytes(s.tha ?? '00:00:00:00:00:00').copy(a, 18);
  ipv4Bytes(s.tpa).copy(a, 24);
  // Padded to the 60-byte Ethernet minimum, as a NIC would.
  return Buffer.concat([ethernet(s, ETH_P_ARP, a), Buffer.alloc(18)]);
}

/** A broadcast "who has tpa, tell spa". */
export function arpWhoHas(srcMac: string, spa: string, tpa: string): Buffer {
  return buildArp({ op: ARP_REQUEST, srcMac, dstMac: BROADCAST_MAC, spa, tpa });
}
