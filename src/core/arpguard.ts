// SPDX-License-Identifier: Apache-2.0
// arpguard.ts: the ARP guard's pure part: which ARP frames claim a VIP for another host, and how long a claim lasts (NDP claims, from core/ndp.ts, share the book).

import type { ParsedFrame } from './packetparse';
import { ARP_REPLY, ARP_REQUEST } from './packets';

/**
 * How a host claimed a VIP. reply: it answered ARP for the VIP (to the guard's own "who has VIP?" or, seen
 * passively, an unsolicited reply such as `arping -A`). gratuitous: a request for the VIP from the VIP (`arping -U`,
 * an address being brought up). request: it asked for some other address with the VIP as its sender address, as a
 * real server with arp_announce=0 does when a reply from the VIP needs the router's MAC. Every one of them makes
 * the hosts that hear it point the VIP at the sender's MAC. advert: IPv6, a neighbour advertisement for the VIP
 * (classifyNdp; an IPv6 request is a solicitation from the VIP).
 */
export type ClaimKind = 'reply' | 'gratuitous' | 'request' | 'advert';

export interface ArpClaimSeen {
  vip: string;
  /** The sender hardware address: the MAC the frame teaches its hearers for the VIP. */
  mac: string;
  kind: ClaimKind;
  /** A reply to the director (an answer to the guard's own question, or anyone's from it): the rounds can re-check it. */
  answer: boolean;
}

const ZERO_MAC = '00:00:00:00:00:00';

/**
 * Whether a frame claims one of `vips` for a host other than the director (`own`, its MAC): an ARP request or reply
 * whose sender protocol address is the VIP and whose sender hardware address is someone else's unicast MAC. An ARP
 * probe (sender 0.0.0.0, RFC 5227) claims nothing; neither does anything the director sends itself.
 */
export function classifyArp(f: ParsedFrame | null, own: string, vips: ReadonlySet<string>): ArpClaimSeen | null {
  const a = f?.arp;
  if (!a || (a.op !== ARP_REQUEST && a.op !== ARP_REPLY)) return null;
  if (!vips.has(a.spa)) return null;
  const mac = a.sha.toLowerCase();
  // A multicast or zero sender address is malformed: no neighbour table learns it.
  if (mac === own.toLowerCase() || mac === ZERO_MAC || parseInt(mac.slice(0, 2), 16) & 1) return null;
  const kind: ClaimKind = a.op === ARP_REPLY ? 'reply' : a.tpa === a.spa ? 'gratuitous' : 'request';
  return { vip: a.spa, mac, kind, answer: kind === 'reply' && a.tha.toLowerCase() === own.toLowerCase() };
}

export interface VipClaim {
  vip: string;
  mac: string;
  /** The real server that MAC belongs to, when the director knows it. */
  real: string | null;
  since: number;
  lastSeen: number;
}

interface Entry extends VipClaim {
  /** Whether the last frame was an answer to the director (see ArpClaimSeen.answer). */
  answer: boolean;
  /** Active rounds in a row without a frame of this claim. */
  missed: number;
  touched: boolean;
}

/** Rounds a claim may go unseen before it is declared over (one lost reply is not a fix). */
export const CLEAR_AFTER = 3;

/**
 * The claims in force: one per (VIP, MAC) from its first frame until it stops. A claim last seen answering the
 * director ends after CLEAR_AFTER rounds of the guard's "who has VIP?" without an answer. A host that announces the
 * VIP unasked (gratuitous ARP, an unsolicited reply, arp_announce=0) may not send again for a while, and no question
 * of the guard prompts it to, so such a claim also needs `holdMs` of silence.
 */
export class ClaimBook {
  private readonly claims = new Map<string, Entry>();

  constructor(private readonly holdMs: number) {}

  /** A frame of a claim; returns the claim when it is new (the one time to raise the alarm), else null. */
  seen(c: ArpClaimSeen, realOf: (mac: string) => string | null, now: number): VipClaim | null {
    const k = `${c.vip}/${c.mac}`;
    const e = this.claims.get(k);
    if (e) {
      e.lastSeen = now;
      e.answer = c.answer;
      e.touched = true;
      return null;
    }
    const n: Entry = { vip: c.vip, mac: c.mac, real: realOf(c.mac), since: now, lastSeen: now, answer: c.answer, missed: 0, touched: true };
    this.claims.set(k, n);
    return strip(n);
  }

  /**
   * The end of one active round: claims of VIPs no longer configured are dropped silently; the claims that ended
   * are returned.
   */
  round(vips: readonly string[], now: number): VipClaim[] {
    const live = new Set(vips);
    const ended: VipClaim[] = [];
    for (const [k, e] of this.claims) {
      if (!live.has(e.vip)) {
        this.claims.delete(k);
        continue;
      }
      if (e.touched) {
        e.touched = false;
        e.missed = 0;
        continue;
      }
      e.missed++;
      if (e.missed >= CLEAR_AFTER && now - e.lastSeen >= (e.answer ? 0 : this.holdMs)) {
        this.claims.delete(k);
        ended.push(strip(e));
      }
    }
    return ended;
  }

  list(vip?: string): VipClaim[] {
    return [...this.claims.values()].filter((c) => !vip || c.vip === vip).map(strip);
  }
}

function strip(e: Entry): VipClaim {
  return { vip: e.vip, mac: e.mac, real: e.real, since: e.since, lastSeen: e.lastSeen };
}
