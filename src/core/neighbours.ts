// SPDX-License-Identifier: Apache-2.0
// neighbours.ts: which neighbour states (ARP or NDP) give a usable MAC, which entries the director should re-solicit, and how entries are keyed.

import { canonicalIp, ipToBytes, isIP } from './net/addr';

export interface NeighbourEntry {
  /** Canonical text (neighbourKey): dotted IPv4 or RFC 5952 IPv6. */
  address: string;
  mac: string | null;
  /** Kernel NUD states, e.g. ["REACHABLE"], ["STALE"], ["FAILED"]. */
  state: string[];
}

/**
 * The key of an address in a neighbour table: its canonical text, so the kernel's spelling (inet_ntop) and the
 * config's meet. Text that is no address is returned as is (it matches nothing the kernel reports).
 */
export function neighbourKey(address: string): string {
  return isIP(address) ? canonicalIp(address) : address;
}

/**
 * Whether a kernel entry can be a neighbour the director sends to: not a multicast mapping (the kernel keeps NOARP
 * entries such as ff02::16 -> 33:33:00:00:00:16 for the groups an interface sends to; they change as MLD runs).
 */
export function isUnicastNeighbour(address: string): boolean {
  const b = isIP(address) ? ipToBytes(address) : null;
  if (!b) return false;
  return b.length === 4 ? b[0]! < 224 : b[0] !== 0xff;
}

/** IPv4 (ARP) and IPv6 (NDP) share the kernel's NUD states, so one rule serves both families. */
const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

/** The MAC the datapath may forward to, or null. */
export function usableMac(e: NeighbourEntry | undefined): string | null {
  if (!e || !e.mac) return null;
  return e.state.some((s) => USABLE.has(s)) ? e.mac.toLowerCase() : null;
}

/**
 * The director never sends to its reals through the kernel (XDP_TX bypasses the neighbour
 * subsystem), so entries age to STALE and would keep an outdated MAC forever. Soliciting a
 * STALE entry makes the kernel re-confirm it by unicast ARP or a unicast neighbour solicitation (DELAY -> PROBE ->
 * REACHABLE or FAILED).
 */
export function needsSolicit(e: NeighbourEntry | undefined): boolean {
  if (!e || !e.mac) return true;
  return e.state.some((s) => s === 'STALE' || s === 'FAILED' || s === 'INCOMPLETE' || s === 'NONE');
}
