// SPDX-License-Identifier: Apache-2.0
// pcap.ts: a minimal reader for classic pcap files (Ethernet link type) and an IPv4/Ethernet frame decoder for the lab checks.

import { IPPROTO_TCP, IPPROTO_UDP } from '../core/net/proto';

export interface PcapRecord {
  /** Capture time in microseconds since the epoch (nanosecond files are truncated). */
  tsUs: number;
  /** Length on the wire; larger than data.length when the snap length cut the frame. */
  origLen: number;
  data: Buffer;
}

export interface Pcap {
  linkType: number;
  records: PcapRecord[];
}

const LINKTYPE_ETHERNET = 1;

export function parsePcap(buf: Buffer): Pcap {
  if (buf.length < 24) throw new Error(`pcap: file too short (${buf.length} bytes)`);
  // The magic is written in the writer's byte order, so it tells both the order and the timestamp unit.
  const magicLE = buf.readUInt32LE(0);
  let le: boolean;
  let nanos: boolean;
  switch (magicLE) {
    case 0xa1b2c3d4:
      le = true;
      nanos = false;
      break;
    case 0xa1b23c4d:
      le = true;
      nanos = true;
      break;
    case 0xd4c3b2a1:
      le = false;
      nanos = false;
      break;
    case 0x4d3cb2a1:
      le = false;
      nanos = true;
      break;
    default:
      throw new Error(`pcap: unknown magic 0x${magicLE.toString(16)} (pcapng is not supported)`);
  }
  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    off += 16;
    // tcpdump killed mid-write can leave a truncated last record; everything before it is still valid.
    if (off + inclLen > buf.length) break;
    records.push({
      tsUs: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac),
      origLen,
      data: buf.subarray(off, off + inclLen),
    });
    off += inclLen;
  }
  return { linkType, records };
}

export interface EthIpv4Frame {
  dstMac: string;
  srcMac: string;
  srcIp: string;
  dstIp: string;
  protocol: number;
  ttl: number;
  /** The IPv4 packet exactly as its total-length field bounds it (Ethernet padding removed). */
  ip: Buffer;
  srcPort?: number;
  dstPort?: number;
  /** TCP flags byte, when protocol is TCP. */
  tcpFlags?: number;
}

export function macToString(b: Buffer): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipToString(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** Decodes an Ethernet II frame carrying IPv4 (one 802.1Q tag tolerated); returns null for anything else. */
export function decodeEthIpv4(frame: Buffer): EthIpv4Frame | null {
  if (frame.length < 14) return null;
  let etOff = 12;
  let ethertype = frame.readUInt16BE(etOff);
  if (ethertype === 0x8100) {
    etOff += 4;
    if (frame.length < etOff + 2) return null;
    ethertype = frame.readUInt16BE(etOff);
  }
  if (ethertype !== 0x0800) return null;
  const ipOff = etOff + 2;
  if (frame.length < ipOff + 20) return null;
  const vihl = frame[ipOff];
  if (vihl >> 4 !== 4) return null;
  const ihl = (vihl & 0x0f) * 4;
  const totalLen = frame.readUInt16BE(ipOff + 2);
  if (ihl < 20 || totalLen < ihl || frame.length < ipOff + totalLen) return null;
  const ip = frame.subarray(ipOff, ipOff + totalLen);
  const out: EthIpv4Frame = {
    dstMac: macToString(frame.subarray(0, 6)),
    srcMac: macToString(frame.subarray(6, 12)),
    srcIp: ipToString(ip.subarray(12, 16)),
    dstIp: ipToString(ip.subarray(16, 20)),
    protocol: ip[9],
    ttl: ip[8],
    ip,
  };
  const fragOff = ip.readUInt16BE(6) & 0x1fff;
  if ((out.protocol === IPPROTO_TCP || out.protocol === IPPROTO_UDP) && fragOff === 0 && totalLen >= ihl + 4) {
    out.srcPort = ip.readUInt16BE(ihl);
    out.dstPort = ip.readUInt16BE(ihl + 2);
    if (out.protocol === IPPROTO_TCP && totalLen >= ihl + 14) out.tcpFlags = ip[ihl + 13];
  }
  return out;
}

export function assertEthernet(p: Pcap): void {
  if (p.linkType !== LINKTYPE_ETHERNET) throw new Error(`pcap: link type ${p.linkType}, expected Ethernet (1)`);
}
