// SPDX-License-Identifier: Apache-2.0
// arpguard.ts: the ARP guard: watches every ARP frame (and, for IPv6 VIPs, every neighbour solicitation and advertisement) on the director's NIC, asks "who has VIP?" every few seconds, and reports any other MAC that claims a VIP (a real server answering or announcing it steals clients from the director).

import * as os from 'node:os';
import { type ArpClaimSeen, ClaimBook, classifyArp, type VipClaim } from '../core/arpguard';
import { buildNeighborSolicit, classifyNdp, ETH_P_IPV6, ndpFilter, parseNdp } from '../core/ndp';
import { canonicalIp, isIPv6 } from '../core/net/addr';
import { parseFrame } from '../core/packetparse';
import { arpWhoHas, ETH_P_ARP } from '../core/packets';
import { monotonicMs } from './clock';
import type { EventSink } from './event';
import { ipJson } from './host';
import { native, type PacketSocket } from './native';

export type { VipClaim } from '../core/arpguard';

/** What the guard needs of a packet socket (the native one, or a test's). */
export type FrameSocket = Pick<PacketSocket, 'send' | 'recv' | 'close'>;

export interface ArpGuardOptions {
  ifindex: number;
  mac: string;
  /** The director's own address on the NIC (the sender of the requests); null: no active rounds, the watch goes on. */
  address(): string | null;
  /** Its own IPv6 address on the NIC, the source of the rounds' neighbour solicitations; null or absent: none sent. */
  address6?(): string | null;
  /** IPv4 and IPv6 VIPs (IPv6 in canonical text). */
  vips(): string[];
  realOf(mac: string): string | null;
  intervalMs: number;
  event: EventSink;
  /** Silence that ends a claim seen only as announcements (default PASSIVE_HOLD_MS). */
  holdMs?: number;
  /** Default: an AF_PACKET socket for ARP on ifindex. */
  socket?: () => FrameSocket;
  /** Default: an AF_PACKET socket for IPv6 on ifindex that keeps only NDP (opened once a VIP is IPv6). */
  socket6?: () => FrameSocket;
}

/**
 * The director's own global IPv6 address on ifname (not one of the VIPs it holds there), the source of the guard's
 * neighbour solicitations; null when it has none.
 */
export function ownAddress6(ifname: string, vips: ReadonlySet<string>): string | null {
  const [link] = ipJson<any[]>(['-6', 'addr', 'show', 'dev', ifname, 'scope', 'global']);
  // iproute2's JSON keeps an empty object for each address the filter left out: only entries with a local count.
  const addrs = ((link?.addr_info ?? []) as any[]).filter((a) => a.local).map((a) => canonicalIp(String(a.local)));
  return addrs.find((a) => !vips.has(a)) ?? null;
}

/** A host that announced a VIP without answering for it may do so again only at its next neighbour resolution. */
export const PASSIVE_HOLD_MS = 60_000;

/** How often the cached VIP set of the watch is refreshed (frames between two refreshes use the last one). */
const VIPS_TTL_MS = 250;

export class ArpGuard {
  private sock: FrameSocket | undefined;
  private loop: Promise<void> | undefined;
  private sock6: FrameSocket | undefined;
  private loop6: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly book: ClaimBook;
  private readonly own: string;
  private vipSet = new Set<string>();
  private vipsAt = -Infinity;
  private running = false;
  private stopped = false;
  rounds = 0;
  /** ARP frames the watch has read (for tests and debugging). */
  frames = 0;
  /** NDP frames the IPv6 watch has read. */
  frames6 = 0;

  constructor(private readonly o: ArpGuardOptions) {
    this.book = new ClaimBook(o.holdMs ?? PASSIVE_HOLD_MS);
    this.own = o.mac.toLowerCase();
  }

  /** Never throws: a socket that cannot be opened is a warning, and the next round tries again. */
  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.intervalMs);
    void this.round();
  }

  /** The passive watch: one socket for every ARP frame on the NIC, which the active rounds also send through. */
  private ensureWatch(): FrameSocket {
    if (this.sock) return this.sock;
    const s = this.o.socket ? this.o.socket() : new (native().PacketSocket)(this.o.ifindex, { protocol: ETH_P_ARP });
    this.sock = s;
    this.loop = this.watch(s);
    return s;
  }

  /** The IPv6 watch: neighbour solicitations and advertisements only (the socket's filter drops the rest). */
  private ensureWatch6(): FrameSocket {
    if (this.sock6) return this.sock6;
    const s = this.o.socket6 ? this.o.socket6() : new (native().PacketSocket)(this.o.ifindex, { protocol: ETH_P_IPV6, filter: ndpFilter(os.endianness()) });
    this.sock6 = s;
    this.loop6 = this.watch(s, true);
    return s;
  }

  private async watch(s: FrameSocket, v6 = false): Promise<void> {
    const mine = () => (v6 ? this.sock6 : this.sock) === s;
    while (!this.stopped && mine()) {
      let b: Buffer | null;
      try {
        b = await s.recv(250);
      } catch (e) {
        if (this.stopped) return;
        // The next round opens a new socket (the NIC may have been re-created).
        this.o.event('warn', 'ARP guard watch failed', { event: 'arp-guard', err: (e as Error).message });
        if (v6) this.sock6 = undefined;
        else this.sock = undefined;
        try {
          s.close();
        } catch {
          /* already closed */
        }
        return;
      }
      if (b) {
        if (v6) this.frame6(b);
        else this.frame(b);
      }
    }
  }

  private vips(now: number): Set<string> {
    if (now - this.vipsAt >= VIPS_TTL_MS) {
      this.vipSet = new Set(this.o.vips());
      this.vipsAt = now;
    }
    return this.vipSet;
  }

  /** One ARP frame from the NIC: a reply to a round, or anything a host sent on its own. */
  private frame(b: Buffer): void {
    this.frames++;
    const now = Date.now();
    const c = classifyArp(parseFrame(b), this.own, this.vips(monotonicMs()));
    if (c) this.claim(c, now);
  }

  /** One NDP frame: an advertisement for a VIP (an answer to a round, or unsolicited), or a solicitation from one. */
  private frame6(b: Buffer): void {
    this.frames6++;
    const c = classifyNdp(parseNdp(b), this.own, this.vips(monotonicMs()));
    if (c) this.claim(c, Date.now());
  }

  private claim(c: ArpClaimSeen, now: number): void {
    const n = this.book.seen(c, this.o.realOf, now);
    if (!n) return;
    const { vip, mac, real } = n;
    const v6 = isIPv6(vip);
    this.o.event('error', 'VIP claimed by another MAC', {
      event: 'arp-guard',
      vip,
      mac,
      real,
      ...(v6 ? { ndp: c.kind } : { arp: c.kind }),
      fix: !real
        ? 'find the host with this MAC'
        : v6
          ? `on ${real}: xlvs realserver check --vip ${vip} (the VIP on lo only, no proxy neighbour entry for it)`
          : `on ${real}: xlvs realserver setup --vip ${vip} (arp_ignore=1, arp_announce=2)`,
    });
  }

  /** One round: every VIP asked once; answers (through the watch) awaited for a quarter of the interval (at most 500 ms). */
  async round(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      // First, and synchronously: start() relies on the first round to open the watch.
      const s = this.ensureWatch();
      const vips = this.o.vips();
      const v6 = vips.filter((v) => isIPv6(v));
      const s6 = v6.length ? this.ensureWatch6() : undefined;
      const ip = this.o.address();
      const ip6 = v6.length ? (this.o.address6?.() ?? null) : null;
      if (!ip && !(ip6 && s6)) return;
      if (ip) for (const v of vips) if (!isIPv6(v)) s.send(arpWhoHas(this.own, ip, v));
      if (ip6 && s6) for (const v of v6) s6.send(buildNeighborSolicit(this.own, ip6, v));
      await new Promise((r) => setTimeout(r, Math.min(500, Math.floor(this.o.intervalMs / 4))));
      if (this.stopped) return;
      for (const c of this.book.round(vips, Date.now())) {
        this.o.event('info', 'VIP claim ended', { event: 'arp-guard', vip: c.vip, mac: c.mac, real: c.real });
      }
      this.rounds++;
    } catch (e) {
      this.o.event('warn', 'ARP guard round failed', { event: 'arp-guard', err: (e as Error).message });
    } finally {
      this.running = false;
    }
  }

  /** Current claims (for the API, `xlvs list`, metrics). */
  claimsOf(vip?: string): VipClaim[] {
    return this.book.list(vip);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const socks = [this.sock, this.sock6];
    this.sock = undefined;
    this.sock6 = undefined;
    for (const s of socks) {
      try {
        s?.close();
      } catch {
        /* already closed */
      }
    }
    await Promise.all([this.loop, this.loop6]);
  }
}
