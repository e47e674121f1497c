// arpguard.ts: the ARP guard: asks "who has VIP?" on the director's NIC every few seconds and reports any other MAC that claims a VIP (a real server answering ARP for it steals clients from the director).

import { ProbeSocket, arpVipProbe } from './drprobe';

export interface VipClaim {
  vip: string;
  mac: string;
  /** The real server that MAC belongs to, when the director knows it. */
  real: string | null;
  since: number;
  lastSeen: number;
}

export interface ArpGuardOptions {
  ifindex: number;
  mac: string;
  /** The director's own address on the NIC (the sender of the requests); null: the guard cannot run. */
  address(): string | null;
  vips(): string[];
  realOf(mac: string): string | null;
  intervalMs: number;
  event(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void;
}

/** Rounds a claim may go unseen before it is declared over (one lost reply is not a fix). */
const CLEAR_AFTER = 3;

export class ArpGuard {
  private ps: ProbeSocket | undefined;
  private psFor: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly claims = new Map<string, VipClaim & { missed: number }>();
  private running = false;
  private stopped = false;
  rounds = 0;

  constructor(private readonly o: ArpGuardOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.intervalMs);
    void this.round();
  }

  /** One round: every VIP asked once; answers gathered for a quarter of the interval (at most 500 ms). */
  async round(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const ip = this.o.address();
      if (!ip) return;
      if (this.psFor !== ip) {
        await this.ps?.close();
        this.ps = new ProbeSocket(this.o.ifindex, [ip]);
        this.psFor = ip;
      }
      const own = this.o.mac.toLowerCase();
      const ms = Math.min(500, Math.floor(this.o.intervalMs / 4));
      const vips = this.o.vips();
      const answers = await Promise.all(vips.map((v) => arpVipProbe(this.ps!, { mac: own, ip }, v, ms)));
      const now = Date.now();
      const seen = new Set<string>();
      vips.forEach((vip, i) => {
        for (const a of answers[i]!) {
          const mac = a.mac.toLowerCase();
          if (mac === own) continue;
          const k = `${vip}/${mac}`;
          seen.add(k);
          const c = this.claims.get(k);
          if (c) {
            c.lastSeen = now;
            c.missed = 0;
            continue;
          }
          const real = this.o.realOf(mac);
          this.claims.set(k, { vip, mac, real, since: now, lastSeen: now, missed: 0 });
          this.o.event('error', 'VIP claimed by another MAC', { event: 'arp-guard', vip, mac, real, fix: real ? `on ${real}: xlvs realserver setup --vip ${vip} (arp_ignore=1, arp_announce=2)` : 'find the host with this MAC' });
        }
      });
      for (const [k, c] of this.claims) {
        if (seen.has(k) || !vips.includes(c.vip)) { if (!vips.includes(c.vip)) this.claims.delete(k); continue; }
        if (++c.missed >= CLEAR_AFTER) {
          this.claims.delete(k);
          this.o.event('info', 'VIP claim ended', { event: 'arp-guard', vip: c.vip, mac: c.mac, real: c.real });
        }
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
    return [...this.claims.values()].filter((c) => !vip || c.vip === vip).map(({ missed: _m, ...c }) => c);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ps?.close();
    this.ps = undefined;
  }
}
