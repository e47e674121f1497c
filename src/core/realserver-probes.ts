// SPDX-License-Identifier: Apache-2.0
// realserver-probes.ts: what check learns beyond the host's settings: the sockets listening (from /proc/net) and the MTU search's packet sizes.

import { canonicalIp, isIP, isIPv6 } from './net/addr';

export interface Listener {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  /** Dotted quad; for IPv6 "::", "::ffff:a.b.c.d" or eight hex groups. */
  address: string;
  port: number;
}

function hexWordsToBytes(hex: string, endianness: 'LE' | 'BE'): number[] {
  const out: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const bytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    // The kernel prints each 32-bit word of the address as a host-order number.
    out.push(...(endianness === 'LE' ? bytes.reverse() : bytes));
  }
  return out;
}

function ipv6Text(b: number[]): string {
  if (b.every((x) => x === 0)) return '::';
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

/** Listening TCP sockets (state 0A) or bound UDP sockets (state 07) from /proc/net/{tcp,tcp6,udp,udp6}. */
export function parseProcNet(text: string, o: { proto: 'tcp' | 'udp'; family: 4 | 6; endianness: 'LE' | 'BE' }): Listener[] {
  const want = o.proto === 'tcp' ? '0A' : '07';
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== want) continue;
    const [addrHex, portHex] = f[1]!.split(':') as [string, string];
    const bytes = hexWordsToBytes(addrHex, o.endianness);
    const address = o.family === 4 ? bytes.join('.') : ipv6Text(bytes);
    out.push({ proto: o.proto, family: o.family, address, port: parseInt(portHex, 16) });
  }
  return out;
}

/** Whether a socket bound like l takes connections addressed to vip. */
export function listenerServes(l: Listener, vip: string): boolean {
  if (isIPv6(vip)) return l.family === 6 && (l.address === '::' || (isIP(l.address) && canonicalIp(l.address) === canonicalIp(vip)));
  if (l.family === 4) return l.address === vip || l.address === '0.0.0.0';
  return l.address === '::' || l.address === `::ffff:${vip}`;
}

// ---------------------------------------------------------------- MTU search

/**
 * Packet sizes to try next when `lo` bytes got through and `hi` did not: up to k sizes strictly between, evenly
 * spread, so each round of parallel pings narrows the gap k+1-fold.
 */
export function mtuCandidates(lo: number, hi: number, k: number): number[] {
  const gap = hi - lo;
  if (gap <= 1) return [];
  const n = Math.min(k, gap - 1);
  const out: number[] = [];
  for (let i = 1; i <= n; i++) {
    const s = lo + Math.round((gap * i) / (n + 1));
    if (s > lo && s < hi && !out.includes(s)) out.push(s);
  }
  return out;
}

/** A DF ping at `size` bytes (the whole IP packet) and, if that failed, the largest size that got through. */
export interface MtuProbe {
  target: string;
  size: number;
  passed: boolean;
  /** A small ping got through (so a failure is about size, not reachability). */
  reachable: boolean;
  /** Largest packet that got through, when the full size did not. */
  largest?: number;
}
