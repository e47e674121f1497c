// SPDX-License-Identifier: Apache-2.0
// announce.ts: which VIPs this director offers to the router over BGP (a /32 BIRD exports), and why; pure, the adapter applies it.

import { compareIp } from './net/addr';

/** One VIP's verdict: announced while the director can serve it, with the reason shown by status and metrics. */
export interface VipAnnouncement {
  vip: string;
  announced: boolean;
  /** serving | drained | detached | no schedulable real */
  reason: AnnounceReason;
}

export type AnnounceReason = 'serving' | 'drained' | 'detached' | 'no schedulable real';

/** What the decision reads: the datapath, the operator's drain, and each service's schedulable reals (sorry server included). */
export interface AnnounceInput {
  /** The XDP program is attached to the interface (xlvs down, or someone detaching it, withdraws everything). */
  attached: boolean;
  /** `xlvs director drain` is in force. */
  drained: boolean;
  /** Every configured service by VIP, with how many of its reals (or its sorry server) take new connections. */
  services: readonly { vip: string; schedulable: number }[];
}

/**
 * One verdict per VIP, sorted by address so the output is stable. A VIP with several services (ports) is announced
 * while any of them can take a connection: withdrawing it would take the working ports away with the broken one,
 * and another director with the same config and the same reals could do no better.
 */
export function decideAnnouncements(x: AnnounceInput): VipAnnouncement[] {
  const byVip = new Map<string, number>();
  for (const s of x.services) byVip.set(s.vip, (byVip.get(s.vip) ?? 0) + Math.max(0, s.schedulable));
  return [...byVip.entries()]
    .sort(([a], [b]) => compareIp(a, b))
    .map(([vip, schedulable]) => {
      const reason: AnnounceReason = !x.attached ? 'detached' : x.drained ? 'drained' : schedulable === 0 ? 'no schedulable real' : 'serving';
      return { vip, announced: reason === 'serving', reason };
    });
}

/** The route changes that bring what is announced (`present`) to the verdicts: adds first, so a VIP is never briefly missing twice. */
export function announceDiff(verdicts: readonly VipAnnouncement[], present: Iterable<string>): { add: string[]; remove: string[] } {
  const want = new Set(verdicts.filter((v) => v.announced).map((v) => v.vip));
  const have = new Set(present);
  return { add: [...want].filter((v) => !have.has(v)), remove: [...have].filter((v) => !want.has(v)) };
}

/**
 * Drain progress: done once the withdrawal is in place and no tracked connection has seen a packet for `quietS`
 * seconds (the router has moved every flow elsewhere). Connections stay in the table until they time out; only
 * the ones still sending count.
 */
export function drainProgress(lastSeen: readonly number[], nowS: number, quietS: number): { active: number; tracked: number; done: boolean } {
  let active = 0;
  for (const t of lastSeen) if (nowS - t < quietS) active++;
  return { active, tracked: lastSeen.length, done: active === 0 };
}
