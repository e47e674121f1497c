// SPDX-License-Identifier: Apache-2.0
// flowhash.ts: the datapath's flow hash (bpf/include/xlvs_hash.h) in TypeScript, so trace and tests predict the Maglev bucket exactly.

import { ipToBytes } from './net/addr';

function rotl32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl32(k, 15);
  k = Math.imul(k, 0x1b873593);
  h = (h ^ k) >>> 0;
  h = rotl32(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function finalize(h: number, len: number): number {
  h = (h ^ len) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The words are wire bytes read as little-endian u32, as the XDP program loads them on a little-endian host. */
export function flowHashWords(saddr: number, daddr: number, ports: number, proto: number): number {
  let h = proto >>> 0;
  h = mixWord(h, saddr);
  h = mixWord(h, daddr);
  h = mixWord(h, ports);
  return finalize(h, 12);
}

/** xlvs_flow_hash6: both 16-byte addresses (at sOff and dOff of buf), then the port pair word. */
export function flowHash6Words(buf: Uint8Array, sOff: number, dOff: number, ports: number, proto: number): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let h = proto >>> 0;
  for (let i = 0; i < 4; i++) h = mixWord(h, b.readUInt32LE(sOff + i * 4));
  for (let i = 0; i < 4; i++) h = mixWord(h, b.readUInt32LE(dOff + i * 4));
  h = mixWord(h, ports >>> 0);
  return finalize(h, 36);
}

/** xlvs_addr6_fold: an IPv6 address as the one word sh, dh and mh without port hash. */
export function addr6Fold(addr: Uint8Array): number {
  const b = Buffer.from(addr.buffer, addr.byteOffset, addr.byteLength);
  let h = 0;
  for (let i = 0; i < 4; i++) h = mixWord(h, b.readUInt32LE(i * 4));
  return finalize(h, 16);
}

/** An address as the one word the hash schedulers mix: an IPv4 address's wire bytes read little-endian, an IPv6 one folded (xlvs_addr6_fold). */
export function addrWord(addr: string): number {
  const b = ipToBytes(addr);
  return b.length === 16 ? addr6Fold(b) : Buffer.from(b).readUInt32LE(0);
}

/** The port pair word as the datapath loads it from the frame (client port first, wire order). */
export function portsWord(sport: number, dport: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  return b.readUInt32LE(0);
}

/** Flow hash of a 5-tuple given as addresses (both of one family) and host-order ports. */
export function flowHash(saddr: string, daddr: string, sport: number, dport: number, proto: number): number {
  if (saddr.includes(':')) {
    const b = Buffer.concat([ipToBytes(saddr), ipToBytes(daddr)]);
    return flowHash6Words(b, 0, 16, portsWord(sport, dport), proto);
  }
  const b = Buffer.alloc(12);
  b.set(saddr.split('.').map(Number), 0);
  b.set(daddr.split('.').map(Number), 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return flowHashWords(b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), proto);
}
