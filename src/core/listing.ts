// SPDX-License-Identifier: Apache-2.0
// listing.ts: what `list` shows of the running services: per-service and per-real counters, health, tracked connections, and rates over a sliding window of samples.

import { type Counters, REAL_F_SCHED } from './abi';
import { type RealConfig, type ServiceConfig, schedFlags } from './config';
import { serviceId } from './net/label';
import { protoOf } from './net/proto';
import { healthKey, type ObservedReal, type ObservedService } from './plan';

export interface RealHealth {
  state: 'up' | 'down';
  detail: string;
  since: number;
  check: string;
  /** Checks that counted (inconclusive ones do not), and how many of them failed. */
  checks: number;
  failures: number;
  /** ms since the epoch of the last result, null before the first. */
  lastAt: number | null;
  /** ms the counted checks took in all (for a rate of duration per check), and the last one. */
  durationMsSum?: number;
  lastDurationMs?: number | null;
}

export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface RealListing {
  address: string;
  weight: number;
  mac: string | null;
  schedulable: boolean;
  /** 'unchecked' when the service has no check. */
  health?: 'up' | 'down' | 'unchecked';
  healthDetail?: RealHealth;
  stats: { conns: number; packets: number; bytes: number };
  rate: Rates;
  /** Tracked connections: active = ESTABLISHED, inactive = every other state (null: unknown to this datapath). */
  activeConns?: number | null;
  inactiveConns?: number | null;
  /** Reached its upper threshold and not yet back under the lower one: takes no new connections. */
  overloaded?: boolean;
  /** ipvsadm -x / -y (0: none). */
  upperThreshold?: number;
  lowerThreshold?: number;
  /**
   * The weight in force when it differs from `weight`: 0 while the real takes no new connections (health check
   * failed, MAC unknown or stale: keepalived's inhibit_on_failure shows such a real at weight 0 too), or the slow-start
   * ramp on its way up to `weight`. `weightNote` says which.
   */
  effectiveWeight?: number;
  weightNote?: 'down' | 'no-mac' | 'slow-start';
}

export interface ServiceListing {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  scheduler: string;
  /** The scheduler flags in force (ipvsadm -b). */
  schedFlags?: string[];
  /** ipvsadm -p/-M. */
  /** netmask: dotted for an IPv4 service, a prefix length for an IPv6 one. */
  persistence?: { timeout: number; netmask: string | number };
  maglevSize: number;
  stats: { conns: number; packets: number; bytes: number; drops?: number };
  rate: Rates;
  reals: RealListing[];
  /** Other hosts answering ARP for this VIP, as the ARP guard last saw them (empty: none, or the guard is off). */
  arpClaims?: { mac: string; real: string | null; since: number }[];
  /** The sorry server, if configured: its MAC and whether it takes new connections (every real down). */
  sorryServer?: { address: string; mac: string | null; schedulable: boolean };
}

/** One connection-table entry with its real by address, for ipvsadm -c. */
export interface ConnectionListing {
  protocol: 'tcp' | 'udp';
  client: string;
  cport: number;
  vip: string;
  vport: number;
  real: string;
  /** abi CS (absent: a datapath that does not say). */
  state?: number;
  /** Second of the kernel's coarse monotonic clock when the entry last saw a packet. */
  lastSeen?: number;
}

/** ipvsadm --rate semantics: per-second rates over a sliding window of one-second samples. */
const RATE_WINDOW = 5;

interface Sample {
  t: number;
  svc: Map<number, Counters>;
  real: Map<number, Counters>;
}

const zeroRates = (): Rates => ({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
const num = (c: Counters | undefined) => ({
  conns: Number(c?.conns ?? 0n),
  packets: Number(c?.packets ?? 0n),
  bytes: Number(c?.bytes ?? 0n),
  drops: Number(c?.drops ?? 0n),
});

/** The last RATE_WINDOW + 1 counter samples, and the rates between the first and the last. */
export class RateWindow {
  private samples: Sample[] = [];

  add(t: number, c: { svc: Map<number, Counters>; real: Map<number, Counters> }): void {
    this.samples.push({ t, svc: c.svc, real: c.real });
    if (this.samples.length > RATE_WINDOW + 1) this.samples.shift();
  }

  /** Counters were zeroed: the window refills from scratch. */
  clear(): void {
    this.samples = [];
  }

  rate(kind: 'svc' | 'real', id: number): Rates {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) return zeroRates();
    const a = first[kind].get(id);
    const b = last[kind].get(id);
    if (!a || !b) return zeroRates();
    const dt = (last.t - first.t) / 1000;
    // A counter that went backwards was zeroed or its id reused: no rate until the window refills.
    const per = (x: bigint, y: bigint) => (y >= x ? Math.round(Number(y - x) / dt) : 0);
    // Direct routing: replies never pass the director, so out is always 0 (as ipvsadm shows for DR).
    return { cps: per(a.conns, b.conns), inpps: per(a.packets, b.packets), outpps: 0, inbps: per(a.bytes, b.bytes), outbps: 0 };
  }
}

/** Mirrors the datapath: overloaded at a threshold the current upper threshold does not exceed. */
export function isOverloaded(at: number, upper: number): boolean {
  return at !== 0 && upper !== 0 && upper <= at;
}

/** What a listing is made of: the running config, what the datapath holds, and the controller's view of health and ramps. */
export interface ListingInput {
  services: readonly ServiceConfig[];
  observed: readonly ObservedService[];
  counters: { svc: Map<number, Counters>; real: Map<number, Counters> };
  realConns: Map<number, { active: bigint; inactive: bigint; overloaded: number }> | undefined;
  rates: RateWindow;
  /** Reals whose health check failed (healthKey), for services the health runner reports no detail of. */
  down: ReadonlySet<string>;
  health?: (key: string) => RealHealth | undefined;
  vipClaims?: (vip: string) => { mac: string; real: string | null; since: number }[];
  effectiveWeight(s: ServiceConfig, r: RealConfig): number;
}

export function listServices(x: ListingInput): ServiceListing[] {
  const { counters: c, realConns: rc } = x;
  // What the datapath schedules with, so `-Ln` never shows a down real at full weight.
  const inForce = (s: ServiceConfig, r: RealConfig, or: ObservedReal | undefined): Pick<RealListing, 'effectiveWeight' | 'weightNote'> => {
    if (r.weight === 0) return {};
    if (!or || (or.flags & REAL_F_SCHED) === 0) {
      const down = s.check && (x.health?.(healthKey(s, r.address))?.state ?? (x.down.has(healthKey(s, r.address)) ? 'down' : 'up')) === 'down';
      return { effectiveWeight: 0, weightNote: down ? 'down' : 'no-mac' };
    }
    const w = x.effectiveWeight(s, r);
    return w !== r.weight ? { effectiveWeight: w, weightNote: 'slow-start' } : {};
  };
  const byKey = new Map(x.observed.map((o) => [serviceId({ vip: o.vip, port: o.port, protocol: o.proto }), o]));
  const health = (s: ServiceConfig, address: string): Pick<RealListing, 'health' | 'healthDetail'> => {
    const h = s.check ? x.health?.(healthKey(s, address)) : undefined;
    return h ? { health: h.state, healthDetail: h } : { health: s.check ? (x.down.has(healthKey(s, address)) ? 'down' : 'up') : 'unchecked' };
  };
  return x.services.map((s) => {
    const o = byKey.get(serviceId(s));
    const oreals = new Map((o?.reals ?? []).map((r) => [r.address, r]));
    return {
      vip: s.vip,
      port: s.port,
      protocol: s.protocol,
      scheduler: s.scheduler,
      schedFlags: schedFlags(s),
      ...(s.persistence ? { persistence: { ...s.persistence } } : {}),
      maglevSize: s.maglev_size,
      stats: num(o ? c.svc.get(o.id) : undefined),
      rate: o ? x.rates.rate('svc', o.id) : zeroRates(),
      reals: s.reals.map((r) => {
        const or = oreals.get(r.address);
        return {
          address: r.address,
          weight: r.weight,
          mac: or?.mac ?? null,
          schedulable: !!or && (or.flags & REAL_F_SCHED) !== 0,
          ...health(s, r.address),
          stats: num(or ? c.real.get(or.id) : undefined),
          rate: or ? x.rates.rate('real', or.id) : zeroRates(),
          activeConns: rc && or ? Number(rc.get(or.id)?.active ?? 0n) : null,
          inactiveConns: rc && or ? Number(rc.get(or.id)?.inactive ?? 0n) : null,
          overloaded: isOverloaded(rc && or ? (rc.get(or.id)?.overloaded ?? 0) : 0, r.upper_threshold ?? 0),
          upperThreshold: r.upper_threshold ?? 0,
          lowerThreshold: r.lower_threshold ?? 0,
          ...inForce(s, r, or),
        };
      }),
      ...(x.vipClaims ? { arpClaims: x.vipClaims(s.vip) } : {}),
      ...(s.sorry_server
        ? {
            sorryServer: {
              address: s.sorry_server,
              mac: oreals.get(s.sorry_server)?.mac ?? null,
              schedulable: ((oreals.get(s.sorry_server)?.flags ?? 0) & REAL_F_SCHED) !== 0,
            },
          }
        : {}),
    };
  });
}

/**
 * The connection table with each entry's real by address (entries naming no current real are left out), its state
 * (abi CS) and last-packet second (the kernel's coarse monotonic clock), for ipvsadm -c.
 */
export function listConnections(
  observed: readonly ObservedService[],
  entries: readonly { saddr: string; sport: number; daddr: string; dport: number; proto: number; realId: number; state?: number; lastSeen?: number }[],
): ConnectionListing[] {
  const byId = new Map(observed.flatMap((s) => s.reals.map((r) => [r.id, r.address] as const)));
  return entries.flatMap((c) => {
    const real = byId.get(c.realId);
    if (!real) return [];
    const protocol = protoOf(c.proto) ?? 'udp';
    return [
      {
        protocol,
        client: c.saddr,
        cport: c.sport,
        vip: c.daddr,
        vport: c.dport,
        real,
        ...(c.state !== undefined ? { state: c.state } : {}),
        ...(c.lastSeen !== undefined ? { lastSeen: c.lastSeen } : {}),
      },
    ];
  });
}
