// SPDX-License-Identifier: Apache-2.0
// flowhash.ts: the datapath's flow hash (bpf/include/xlvs_hash.h) in TypeScript, so trace and tests predict the Maglev bucket exactly.

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

/** The words are wire bytes read as little-endian u32, as the XDP program loads them on a little-endian host. */
export function flowHashWords(saddr: number, daddr: number, ports: number, proto: number): number {
  let h = proto >>> 0;
  h = mixWord(h, saddr);
  h = mixWord(h, daddr);
  h = mixWord(h, ports);
  h = (h ^ 12) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Flow hash of a 5-tuple given as dotted addresses and host-order ports. */
export function flowHash(saddr: string, daddr: string, sport: number, dport: number, proto: number): number {
  const b = Buffer.alloc(12);
  b.set(saddr.split('.').map(Number), 0);
  b.set(daddr.split('.').map(Number), 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return flowHashWords(b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), proto);
}
