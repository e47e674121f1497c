// SPDX-License-Identifier: Apache-2.0
// prefix.ts: network masks of both families: IPv4's dotted netmask, IPv6's prefix length, and an address masked by either (persistence granularity).

import { bytesToIp, familyOf, ipToBytes, isIPv4 } from './addr';

/** A dotted IPv4 netmask of contiguous ones from the left, e.g. 255.255.255.0 (0.0.0.0 and 255.255.255.255 too). */
export function isNetmask(s: string): boolean {
  if (!isIPv4(s)) return false;
  const n = s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
  const inv = ~n >>> 0;
  return ((inv + 1) & inv) === 0;
}

/** The prefix length of a dotted netmask (255.255.255.0 -> 24); the caller checked isNetmask. */
export function netmaskPrefix(mask: string): number {
  let bits = 0;
  for (const b of ipToBytes(mask)) for (let m = 0x80; m; m >>= 1) if (b & m) bits++;
  return bits;
}

/** The dotted netmask of a prefix length 0..32 (24 -> 255.255.255.0). */
export function prefixNetmask(len: number): string {
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) b[i] = (0xff << (8 - Math.max(0, Math.min(8, len - 8 * i)))) & 0xff;
  return bytesToIp(b);
}

/** An IPv6 prefix length as ipvsadm's -M takes it for an IPv6 service: an integer 1..128. */
export function isPrefixLength6(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 128;
}

/**
 * The network of `addr` under a mask (as IPVS's persistence template keys a client network): a prefix length (a
 * number or its decimal text, ipvsadm's -M for IPv6), or a mask written as an address of the same family
 * (255.255.255.0, ffff:ffff:ffff:ffff::). Returns canonical text; throws on a mask of the other family.
 */
export function maskAddress(addr: string, mask: string | number): string {
  const src = ipToBytes(addr);
  const out = new Uint8Array(src.length);
  if (typeof mask === 'number' || /^\d{1,3}$/.test(mask)) {
    const len = Number(mask);
    for (let i = 0; i < src.length; i++) out[i] = src[i]! & ((0xff << (8 - Math.max(0, Math.min(8, len - 8 * i)))) & 0xff);
  } else {
    const m = ipToBytes(mask);
    if (m.length !== src.length) throw new Error(`the mask ${mask} is not of the family of ${addr}`);
    for (let i = 0; i < src.length; i++) out[i] = src[i]! & m[i]!;
  }
  return bytesToIp(out);
}

/** Whether `addr` lies in `cidr` ("10.0.0.0/24", "2001:db8::/64"); an address of the other family never does. */
export function inPrefix(addr: string, cidr: string): boolean {
  const slash = cidr.lastIndexOf('/');
  const net = cidr.slice(0, slash);
  const len = cidr.slice(slash + 1);
  if (familyOf(addr) !== familyOf(net)) return false;
  return maskAddress(addr, len) === maskAddress(net, len);
}
