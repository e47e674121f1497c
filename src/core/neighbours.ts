// SPDX-License-Identifier: Apache-2.0
// neighbours.ts: which neighbour states give a usable MAC and which entries the director should re-solicit.

export interface NeighbourEntry {
  address: string;
  mac: string | null;
  /** Kernel NUD states, e.g. ["REACHABLE"], ["STALE"], ["FAILED"]. */
  state: string[];
}

const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

/** The MAC the datapath may forward to, or null. */
export function usableMac(e: NeighbourEntry | undefined): string | null {
  if (!e || !e.mac) return null;
  return e.state.some((s) => USABLE.has(s)) ? e.mac.toLowerCase() : null;
}

/**
 * The director never sends to its reals through the kernel (XDP_TX bypasses the neighbour
 * subsystem), so entries age to STALE and would keep an outdated MAC forever. Soliciting a
 * STALE entry makes the kernel re-confirm it by unicast ARP (DELAY -> PROBE -> REACHABLE or FAILED).
 */
export function needsSolicit(e: NeighbourEntry | undefined): boolean {
  if (!e || !e.mac) return true;
  return e.state.some((s) => s === 'STALE' || s === 'FAILED' || s === 'INCOMPLETE' || s === 'NONE');
}
