// SPDX-License-Identifier: Apache-2.0
// packets.ts: builds the fixture suite's frames, malformed ones included (VLAN tags, IP options, fragments), on top of src/core/packets.

import { ipToBytes } from '../../src/core/net/addr';
import { inetChecksum, ipv4Bytes, macBytes } from '../../src/core/packets';

export interface FrameSpec {
  dst?: string;
  src?: string;
  /** Ethertype; 0x0800 unless given. */
  ethertype?: number;
  /** 802.1Q tag inserted after the MACs. */
  vlan?: number;
  /** QinQ: an outer 802.1ad tag (TPID 0x88a8) with this VLAN id before the 802.1Q one. */
  outerVlan?: number;
  /** ICMP (proto 1): type, code, the header's last 4 bytes and the quoted datagram; absent: an echo request. */
  icmp?: { type: number; code: number; rest?: number; quote?: Buffer };
  saddr?: string;
  daddr?: string;
  proto?: number;
  ttl?: number;
  /** Raw option bytes (a multiple of 4) after the 20-byte IPv4 header. */
  ipOptions?: Buffer;
  /** frag_off field: flags (MF = 0x2000) and offset in 8-byte units. */
  fragOff?: number;
  sport?: number;
  dport?: number;
  /** TCP flag bits: SYN 0x02, ACK 0x10, FIN 0x01, RST 0x04. */
  tcpFlags?: number;
  payload?: Buffer;
}

export const DIRECTOR_MAC = '02:00:00:00:00:02';
export const ROUTER_MAC = '02:00:00:00:00:01';
export const SYN = 0x02;
export const ACK = 0x10;
export const FIN = 0x01;
export const RST = 0x04;

const mac = macBytes;
const ip4 = ipv4Bytes;
const csum = inetChecksum;
const ip6 = (a: string) => Buffer.from(ipToBytes(a));

/** A complete frame with valid IPv4 and L4 checksums (so the fixtures prove the datapath leaves them alone). */
export function frame(s: FrameSpec = {}): Buffer {
  const proto = s.proto ?? 6;
  const payload = s.payload ?? Buffer.alloc(0);
  let l4: Buffer;
  if (proto === 6) {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(s.sport ?? 40000, 0);
    l4.writeUInt16BE(s.dport ?? 80, 2);
    l4.writeUInt32BE(0x01020304, 4);
    l4.writeUInt32BE((s.tcpFlags ?? SYN) & ACK ? 0x0a0b0c0d : 0, 8);
    l4[12] = 5 << 4;
    l4[13] = s.tcpFlags ?? SYN;
    l4.writeUInt16BE(64240, 14);
  } else if (proto === 17) {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(s.sport ?? 40000, 0);
    l4.writeUInt16BE(s.dport ?? 53, 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  } else if (proto === 1 && s.icmp) {
    l4 = Buffer.concat([Buffer.from([s.icmp.type, s.icmp.code, 0, 0, 0, 0, 0, 0]), s.icmp.quote ?? Buffer.alloc(0)]);
    l4.writeUInt32BE(s.icmp.rest ?? 0, 4);
    l4.writeUInt16BE(csum(Buffer.concat([l4, payload])), 2);
  } else {
    l4 = Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]); // ICMP echo request header
  }
  const opts = s.ipOptions ?? Buffer.alloc(0);
  const ip = Buffer.alloc(20 + opts.length);
  ip[0] = 0x40 | ((20 + opts.length) / 4);
  ip.writeUInt16BE(ip.length + l4.length + payload.length, 2);
  ip.writeUInt16BE(0x1234, 4);
  ip.writeUInt16BE(s.fragOff ?? 0x4000, 6); // DF unless told otherwise
  ip[8] = s.ttl ?? 63;
  ip[9] = proto;
  ip4(s.saddr ?? '203.0.113.10').copy(ip, 12);
  ip4(s.daddr ?? '10.0.0.100').copy(ip, 16);
  opts.copy(ip, 20);
  ip.writeUInt16BE(csum(ip), 10);
  if (proto === 6 || proto === 17) {
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, proto]), Buffer.alloc(2)]);
    pseudo.writeUInt16BE(l4.length + payload.length, 10);
    const sum = csum(Buffer.concat([pseudo, l4, payload]));
    l4.writeUInt16BE(proto === 17 && sum === 0 ? 0xffff : sum, proto === 6 ? 16 : 6);
  }
  const eth = Buffer.alloc(14);
  mac(s.dst ?? DIRECTOR_MAC).copy(eth, 0);
  mac(s.src ?? ROUTER_MAC).copy(eth, 6);
  eth.writeUInt16BE(s.ethertype ?? 0x0800, 12);
  return Buffer.concat([vlanTagged(eth, s), ip, l4, payload]);
}

/** An Ethernet header with the spec's VLAN tags (outer 802.1ad, inner 802.1Q) between the MACs and the ethertype. */
function vlanTagged(eth: Buffer, s: { vlan?: number; outerVlan?: number }): Buffer {
  const tags = [
    ...(s.outerVlan === undefined ? [] : [Buffer.from([0x88, 0xa8, s.outerVlan >> 8, s.outerVlan & 255])]),
    ...(s.vlan === undefined ? [] : [Buffer.from([0x81, 0x00, s.vlan >> 8, s.vlan & 255])]),
  ];
  return Buffer.concat([eth.subarray(0, 12), ...tags, eth.subarray(12)]);
}

/** An ARP request "who has tpa, tell spa". */
export function arpRequest(spa: string, tpa: string, sha = ROUTER_MAC): Buffer {
  const b = Buffer.alloc(42);
  mac('ff:ff:ff:ff:ff:ff').copy(b, 0);
  mac(sha).copy(b, 6);
  b.writeUInt16BE(0x0806, 12);
  b.writeUInt16BE(1, 14);
  b.writeUInt16BE(0x0800, 16);
  b[18] = 6;
  b[19] = 4;
  b.writeUInt16BE(1, 20);
  mac(sha).copy(b, 22);
  ip4(spa).copy(b, 28);
  ip4(tpa).copy(b, 38);
  return b;
}

/** An IPv6 TCP SYN to port 80 of 2001:db8::100 (no service of the IPv4 fixtures). */
export function ipv6Frame(): Buffer {
  return frame6({});
}

export interface Frame6Spec {
  dst?: string;
  src?: string;
  saddr?: string;
  daddr?: string;
  /** Upper-layer protocol: 6, 17 or 58 (ICMPv6). */
  proto?: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  payload?: Buffer;
  /** Extension headers before the upper layer, in order: [next-header type of this header, its bytes (next header filled in)]. */
  ext?: [number, Buffer][];
  /** ICMPv6: type, code, the 4 bytes after the checksum (MTU), and the quoted packet. */
  icmp?: { type: number; code?: number; mtu?: number; quote?: Buffer };
  /** An 802.1Q tag, and an 802.1ad one outside it (QinQ), as frame() takes them. */
  vlan?: number;
  outerVlan?: number;
}

/** A complete IPv6 frame with a valid upper-layer checksum. */
export function frame6(s: Frame6Spec): Buffer {
  const proto = s.proto ?? 6;
  const payload = s.payload ?? Buffer.alloc(0);
  const src = ip6(s.saddr ?? '2001:db8:1::10'),
    dst = ip6(s.daddr ?? '2001:db8::100');
  let l4: Buffer;
  if (proto === 6) {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(s.sport ?? 40000, 0);
    l4.writeUInt16BE(s.dport ?? 80, 2);
    l4.writeUInt32BE(0x01020304, 4);
    l4[12] = 5 << 4;
    l4[13] = s.tcpFlags ?? SYN;
    l4.writeUInt16BE(64240, 14);
  } else if (proto === 17) {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(s.sport ?? 40000, 0);
    l4.writeUInt16BE(s.dport ?? 53, 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  } else {
    const ic = s.icmp ?? { type: 128 };
    l4 = Buffer.concat([Buffer.from([ic.type, ic.code ?? 0, 0, 0]), Buffer.alloc(4), ic.quote ?? Buffer.alloc(0)]);
    l4.writeUInt32BE(ic.mtu ?? 0, 4);
  }
  const body = Buffer.concat([l4, payload]);
  const pseudo = Buffer.concat([src, dst, Buffer.alloc(8)]);
  pseudo.writeUInt32BE(body.length, 32);
  pseudo[39] = proto;
  const sumAt = proto === 6 ? 16 : proto === 17 ? 6 : 2;
  const sum = csum(Buffer.concat([pseudo, body]));
  body.writeUInt16BE(proto === 17 && sum === 0 ? 0xffff : sum, sumAt);
  // Extension headers: each one's first byte names what follows it.
  const ext = (s.ext ?? []).map(([, b]) => Buffer.from(b));
  const types = [...(s.ext ?? []).map(([t]) => t), proto];
  ext.forEach((b, i) => {
    b[0] = types[i + 1]!;
  });
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(ext.reduce((n, b) => n + b.length, 0) + body.length, 4);
  ip[6] = types[0]!;
  ip[7] = 64;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  const eth = Buffer.alloc(14);
  mac(s.dst ?? DIRECTOR_MAC).copy(eth, 0);
  mac(s.src ?? ROUTER_MAC).copy(eth, 6);
  eth.writeUInt16BE(0x86dd, 12);
  return Buffer.concat([vlanTagged(eth, s), ip, ...ext, body]);
}

/** An 8-byte extension header (hop-by-hop or destination options: one PadN option; routing: type 0 segments left 0). */
export function extHeader(bytes = 8): Buffer {
  const b = Buffer.alloc(bytes);
  b[1] = bytes / 8 - 1;
  b[2] = 1; // PadN
  b[3] = bytes - 4;
  return b;
}

/** A fragment header: offset in 8-byte units, more-fragments flag. */
export function fragHeader(offset: number, more: boolean): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(0xabcdef, 4);
  return b;
}

export function macOf(frameBuf: Buffer, which: 'dst' | 'src'): string {
  const o = which === 'dst' ? 0 : 6;
  return Array.from(frameBuf.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * What an ICMP error quotes of a frame (untagged): its IP header and the first n bytes after it (RFC 792: 8, the
 * ports; RFC 1812 routers quote as much as fits).
 */
export function quoteOf(f: Buffer, n = 8): Buffer {
  const ihl = (f[14]! & 15) * 4;
  return Buffer.from(f.subarray(14, 14 + ihl + n));
}
