// controller.ts: the running director's brain: serialized changes (validate -> plan -> apply -> persist), listings with counters and rates; every effect injected.

import { Counters, IPPROTO_TCP, REAL_F_SCHED } from './abi';
import { Config, RealConfig, ServiceConfig, schedFlags, validateConfig } from './config';
import { UsageError } from './errors';
import { ObservedService, Op, describeOp, healthKey, observedAfter, plan, planSummary } from './plan';

/** What the controller needs from the datapath; the daemon passes the real one, tests an in-memory fake. */
export interface DatapathPort {
  apply(ops: readonly Op[]): void;
  /** Tracked connections whose real is one of ids. */
  connsOf(realIds: ReadonlySet<number>): number;
  /** Counters by service id and by real id (summed over CPUs). */
  counters(): { svc: Map<number, Counters>; real: Map<number, Counters> };
  zero(ids: { svc: number[]; real: number[] }): void;
  /** Every connection-table entry (client, VIP side and the real id it is pinned to). */
  connections?(): { saddr: string; sport: number; daddr: string; dport: number; proto: number; realId: number; state?: number; lastSeen?: number }[];
  /** Tracked connections per real id, as the datapath counts them (active = ESTABLISHED). */
  realConns?(ids: Iterable<number>): Map<number, { active: bigint; inactive: bigint; overloaded: number }>;
  /** Idle timeouts in seconds (ipvsadm --set). */
  setTimeouts?(t: { tcp: number; tcp_fin: number; udp: number }): void;
  /** Expires idle connections and persistence templates once. */
  sweep?(): Promise<SweepStats>;
}

/** What the last sweep of the connection table found. */
export interface SweepStats { conns: number; expired: number; templates: number; templatesExpired: number }

export interface ControllerEffects {
  datapath: DatapathPort;
  /** Current MAC of each address (null: unresolved); may solicit resolution as a side effect. */
  resolve(addresses: readonly string[]): Map<string, string | null>;
  /** Host checks a config must pass before anything is applied (interface exists, reals on-link); throws UsageError. */
  check(cfg: Config): void;
  /** Writes the config where a restart will read it (atomically). */
  persist(cfg: Config): void;
  /** The set of VIPs the running services use, after every applied change. */
  vipsChanged?(vips: string[]): void;
  log(msg: string, fields?: Record<string, unknown>): void;
  now(): number;
  /** After every applied change (health checks follow the config). */
  applied?(cfg: Config): void;
  /** MACs other than the director's that answered ARP for the VIP (the ARP guard). */
  vipClaims?(vip: string): { mac: string; real: string | null; since: number }[];
  /** Health of one real of one service (healthKey); undefined when it is not checked. */
  health?(key: string): RealHealth | undefined;
}

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
}

/** A service named the way ipvsadm and the API name it. */
export interface ServiceKey {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

export interface PlanReport {
  dryRun: boolean;
  ops: string[];
  bucketsMoved: number;
  /** Tracked connections whose real the change removes (they will be rescheduled). */
  connsMoved: number;
}

export interface Rates { cps: number; inpps: number; outpps: number; inbps: number; outbps: number }

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
  /** The weight the datapath uses now, when slow start is still ramping it up to `weight`. */
  effectiveWeight?: number;
}

export interface ServiceListing {
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  scheduler: string;
  /** The scheduler flags in force (ipvsadm -b). */
  schedFlags?: string[];
  /** ipvsadm -p/-M. */
  persistence?: { timeout: number; netmask: string };
  maglevSize: number;
  stats: { conns: number; packets: number; bytes: number; drops?: number };
  rate: Rates;
  reals: RealListing[];
  /** Other hosts answering ARP for this VIP, as the ARP guard last saw them (empty: none, or the guard is off). */
  arpClaims?: { mac: string; real: string | null; since: number }[];
  /** The sorry server, if configured: its MAC and whether it takes new connections (every real down). */
  sorryServer?: { address: string; mac: string | null; schedulable: boolean };
}

/** ipvsadm --rate semantics: per-second rates over a sliding window of one-second samples. */
const RATE_WINDOW = 5;

interface Sample {
  t: number;
  svc: Map<number, Counters>;
  real: Map<number, Counters>;
}

function sameKey(s: { vip: string; port: number; protocol: string }, k: ServiceKey): boolean {
  return s.vip === k.vip && s.port === k.port && s.protocol === k.protocol;
}

export function keyName(k: ServiceKey): string {
  return `${k.protocol.toUpperCase()} ${k.vip}:${k.port}`;
}

const zeroRates = (): Rates => ({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
const num = (c: Counters | undefined) => ({ conns: Number(c?.conns ?? 0n), packets: Number(c?.packets ?? 0n), bytes: Number(c?.bytes ?? 0n), drops: Number(c?.drops ?? 0n) });

export class Controller {
  private cfg: Config;
  private observed: ObservedService[];
  private queue: Promise<unknown> = Promise.resolve();
  private samples: Sample[] = [];
  private lastVips: string | undefined;
  /** Reals whose health check failed (healthKey), as the health runner last reported them. */
  private down: ReadonlySet<string> = new Set();
  private nextDown: ReadonlySet<string> = new Set();
  private downQueued: Promise<PlanReport> | undefined;
  /** Slow start: when each ramping real (healthKey) joined or recovered. */
  private ramps = new Map<string, number>();
  private timeoutsSet: string | undefined;
  private lastSweep: SweepStats | undefined;
  /** The inputs of the last applied plan besides the config (a re-sync with the same ones is skipped). */
  private lastPlan: { macs: ReadonlyMap<string, string | null>; down: ReadonlySet<string> } | undefined;

  constructor(cfg: Config, observed: readonly ObservedService[], private readonly fx: ControllerEffects) {
    this.cfg = cfg;
    this.observed = [...observed];
  }

  config(): Config {
    return structuredClone(this.cfg);
  }

  /** Writers run one at a time, in arrival order; a failed change does not block the next. */
  private serialize<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Brings the datapath to the config (first start, adoption, or a MAC change); no persistence. */
  sync(): Promise<PlanReport> {
    return this.serialize(() => this.applyNow(this.cfg, { dryRun: false, persist: false }));
  }

  /** The health runner's verdict changed: the same plan path as any other change (tables rebuilt, flags updated). */
  setDown(down: ReadonlySet<string>): Promise<PlanReport> {
    this.nextDown = new Set(down);
    // A recovered real of a slow-start service ramps up again instead of taking its full share at once.
    for (const k of this.down) if (!this.nextDown.has(k)) this.startRamp(k);
    // Coalesced: many reals failing together (a switch port, a rack) make one plan, not one per real.
    if (this.downQueued) return this.downQueued;
    const p = this.serialize(() => {
      this.downQueued = undefined;
      this.down = this.nextDown;
      return this.applyNow(this.cfg, { dryRun: false, persist: false });
    });
    this.downQueued = p;
    return p;
  }

  /** The MAC the datapath holds for an address (health probes along the DR path are addressed to it). */
  macOf(address: string): string | null {
    for (const s of this.observed) for (const r of s.reals) if (r.address === address && r.mac) return r.mac;
    return null;
  }

  /** Whether the address is one of the running services' reals (or sorry servers). */
  isReal(address: string): boolean {
    return this.observed.some((s) => s.reals.some((r) => r.address === address));
  }

  /** The real address a MAC belongs to, if it is one of ours (the ARP guard names the culprit). */
  realByMac(mac: string): string | null {
    for (const s of this.observed) for (const r of s.reals) if (r.mac && r.mac.toLowerCase() === mac.toLowerCase()) return r.address;
    return null;
  }

  /** The whole config replaced (apply -f, SIGHUP, restore). */
  apply(input: unknown, opts: { dryRun?: boolean; persist?: boolean } = {}): Promise<PlanReport> {
    return this.serialize(() => this.applyNow(validateConfig(input), { dryRun: !!opts.dryRun, persist: opts.persist ?? true }));
  }

  /** One edit of the service list (add/edit/delete a service or real); validated as a whole config. */
  change(edit: (services: ServiceConfig[]) => void): Promise<PlanReport> {
    return this.serialize(() => {
      // Shallow: every edit copies the service it changes (own()), so the running config is never written to.
      const next = { ...this.cfg, services: [...this.cfg.services] };
      edit(next.services);
      return this.applyNow(validateConfig(next), { dryRun: false, persist: true });
    });
  }

  private applyNow(cfg: Config, opts: { dryRun: boolean; persist: boolean }): PlanReport {
    const problems: string[] = [];
    // These are fixed when the program is loaded and its maps are created; changing them needs `xlvs down`.
    if (cfg.interface !== this.cfg.interface) problems.push(`interface: ${JSON.stringify(cfg.interface)} differs from the running director's ${JSON.stringify(this.cfg.interface)} (stop it and run "xlvs down" to move it)`);
    if (cfg.conn_table_size !== this.cfg.conn_table_size) problems.push(`conn_table_size: ${cfg.conn_table_size} differs from the running director's ${this.cfg.conn_table_size} (resizing drops every connection: "xlvs down" first)`);
    if (cfg.conn_table_per_cpu !== this.cfg.conn_table_per_cpu) problems.push(`conn_table_per_cpu: ${cfg.conn_table_per_cpu} differs from the running director's ${this.cfg.conn_table_per_cpu} (changing it drops every connection: "xlvs down" first)`);
    if (problems.length) throw new UsageError('invalid config', problems);
    // A periodic re-sync of the same config (MAC refresh) skips the host checks: they ran when it was accepted.
    if (cfg !== this.cfg) this.fx.check(cfg);
    const addresses = [...new Set(cfg.services.flatMap((s) => [...s.reals.map((r) => r.address), ...(s.sorry_server ? [s.sorry_server] : [])]))];
    const macs = this.fx.resolve(addresses);
    // The periodic re-sync with nothing new (same config, MACs, health, no ramp running) has nothing to plan: at
    // 10,000 services a plan costs a few hundred ms, which a once-a-second refresh must not pay.
    if (!opts.dryRun && this.lastPlan && cfg === this.cfg && this.down === this.lastPlan.down && !this.ramps.size && sameMacs(macs, this.lastPlan.macs)) {
      return { dryRun: false, ops: [], bucketsMoved: 0, connsMoved: 0 };
    }
    if (!opts.dryRun) this.noteNewReals(cfg);
    const p = plan(this.ramped(cfg.services), this.observed, macs, this.down);
    const sum = planSummary(p);
    const report: PlanReport = {
      dryRun: opts.dryRun,
      ops: describeOps(p.ops, opts.dryRun),
      bucketsMoved: sum.bucketsMoved,
      connsMoved: sum.removedRealIds.length ? this.fx.datapath.connsOf(new Set(sum.removedRealIds)) : 0,
    };
    if (opts.dryRun) return report;
    // Persist first: if the write fails nothing changed, and a restart never comes back older than the datapath.
    if (opts.persist) this.fx.persist(cfg);
    if (p.ops.length) {
      try {
        this.fx.datapath.apply(p.ops);
      } catch (e) {
        // The file goes back to what is (still) running; the model is unchanged, so the next plan redoes whatever part landed.
        if (opts.persist) this.fx.persist(this.cfg);
        throw e;
      }
      if (p.ops.length <= OPS_LISTED) for (const line of report.ops) this.fx.log(line);
      else this.fx.log(`applied ${p.ops.length} operations`, opCounts(p.ops));
    }
    const timeouts = JSON.stringify(cfg.timeouts);
    if (timeouts !== this.timeoutsSet && this.fx.datapath.setTimeouts) {
      this.fx.datapath.setTimeouts(cfg.timeouts);
      this.timeoutsSet = timeouts;
    }
    const vips = [...new Set(cfg.services.map((s) => s.vip))].sort();
    this.lastPlan = { macs, down: this.down };
    this.cfg = cfg;
    this.observed = observedAfter(p);
    // Only when the set changed (or on the first sync): the periodic MAC refresh should not touch addresses.
    if (vips.join() !== this.lastVips) {
      this.fx.vipsChanged?.(vips);
      this.lastVips = vips.join();
    }
    this.fx.applied?.(cfg);
    return report;
  }

  private startRamp(key: string): void {
    const svc = this.cfg.services.find((s) => key.startsWith(`${s.protocol}/${s.vip}:${s.port}/`));
    if (svc?.slow_start_s) this.ramps.set(key, this.fx.now());
  }

  /** Reals added to a running slow-start service start ramping (a fresh director's reals all start together: no ramp). */
  private noteNewReals(cfg: Config): void {
    const running = new Map(this.observed.map((o) => [`${o.vip}:${o.port}/${o.proto}`, new Set(o.reals.map((r) => r.address))]));
    for (const s of cfg.services) {
      if (!s.slow_start_s) continue;
      const had = running.get(`${s.vip}:${s.port}/${s.protocol === 'tcp' ? IPPROTO_TCP : 17}`);
      if (!had) continue;
      for (const r of s.reals) if (!had.has(r.address)) this.ramps.set(healthKey(s, r.address), this.fx.now());
    }
  }

  /**
   * Slow start: a ramping real's weight grows linearly from 1 to its configured weight over slow_start_s; the periodic
   * sync re-plans, so each step is an ordinary (minimal) table update. Finished ramps are forgotten.
   */
  private ramped(services: readonly ServiceConfig[]): ServiceConfig[] {
    if (!this.ramps.size) return services as ServiceConfig[];
    const now = this.fx.now();
    return services.map((s) => {
      if (!s.slow_start_s) return s;
      const span = s.slow_start_s * 1000;
      return {
        ...s,
        reals: s.reals.map((r) => {
          const k = healthKey(s, r.address);
          const t0 = this.ramps.get(k);
          if (t0 === undefined) return r;
          if (now - t0 >= span || r.weight === 0) {
            this.ramps.delete(k);
            return r;
          }
          return { ...r, weight: Math.max(1, Math.floor((r.weight * (now - t0)) / span)) };
        }),
      };
    });
  }

  /** The weight a real has in the datapath now (below its configured weight while slow start ramps it). */
  private effectiveWeight(s: ServiceConfig, r: RealConfig): number {
    const t0 = this.ramps.get(healthKey(s, r.address));
    if (t0 === undefined || !s.slow_start_s) return r.weight;
    return Math.min(r.weight, Math.max(1, Math.floor((r.weight * (this.fx.now() - t0)) / (s.slow_start_s * 1000))));
  }

  /** Expires idle connections and templates (the daemon calls this every sweep_interval_ms). */
  async sweep(): Promise<SweepStats | undefined> {
    if (!this.fx.datapath.sweep) return undefined;
    this.lastSweep = await this.fx.datapath.sweep();
    return this.lastSweep;
  }

  /** Connection-table occupancy as of the last sweep. */
  connTable(): SweepStats | undefined {
    return this.lastSweep;
  }

  connTableCapacity(): number {
    return this.cfg.conn_table_size;
  }

  /** One counter sample (the daemon calls this every second). */
  sample(): void {
    const c = this.fx.datapath.counters();
    this.samples.push({ t: this.fx.now(), svc: c.svc, real: c.real });
    if (this.samples.length > RATE_WINDOW + 1) this.samples.shift();
  }

  private rate(kind: 'svc' | 'real', id: number): Rates {
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

  list(): ServiceListing[] {
    const c = this.fx.datapath.counters();
    const rc = this.fx.datapath.realConns?.(this.observed.flatMap((o) => o.reals.map((r) => r.id)));
    const byKey = new Map(this.observed.map((o) => [`${o.vip}:${o.port}/${o.proto}`, o]));
    const health = (s: ServiceConfig, address: string): Pick<RealListing, 'health' | 'healthDetail'> => {
      const h = s.check ? this.fx.health?.(healthKey(s, address)) : undefined;
      return h ? { health: h.state, healthDetail: h } : { health: s.check ? (this.down.has(healthKey(s, address)) ? 'down' : 'up') : 'unchecked' };
    };
    return this.cfg.services.map((s) => {
      const o = byKey.get(`${s.vip}:${s.port}/${s.protocol === 'tcp' ? IPPROTO_TCP : 17}`);
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
        rate: o ? this.rate('svc', o.id) : zeroRates(),
        reals: s.reals.map((r) => {
          const or = oreals.get(r.address);
          return {
            address: r.address,
            weight: r.weight,
            mac: or?.mac ?? null,
            schedulable: !!or && (or.flags & REAL_F_SCHED) !== 0,
            ...health(s, r.address),
            stats: num(or ? c.real.get(or.id) : undefined),
            rate: or ? this.rate('real', or.id) : zeroRates(),
            activeConns: rc && or ? Number(rc.get(or.id)?.active ?? 0n) : null,
            inactiveConns: rc && or ? Number(rc.get(or.id)?.inactive ?? 0n) : null,
            overloaded: isOverloaded(rc && or ? rc.get(or.id)?.overloaded ?? 0 : 0, r.upper_threshold ?? 0),
            upperThreshold: r.upper_threshold ?? 0,
            lowerThreshold: r.lower_threshold ?? 0,
            ...(this.effectiveWeight(s, r) !== r.weight ? { effectiveWeight: this.effectiveWeight(s, r) } : {}),
          };
        }),
        ...(this.fx.vipClaims ? { arpClaims: this.fx.vipClaims(s.vip) } : {}),
        ...(s.sorry_server ? { sorryServer: { address: s.sorry_server, mac: oreals.get(s.sorry_server)?.mac ?? null, schedulable: ((oreals.get(s.sorry_server)?.flags ?? 0) & REAL_F_SCHED) !== 0 } } : {}),
      };
    });
  }

  /**
   * The connection table with each entry's real by address (entries naming no current real are left out), its state
   * (abi CS) and last-packet second (the kernel's coarse monotonic clock), for ipvsadm -c.
   */
  connections(): { protocol: 'tcp' | 'udp'; client: string; cport: number; vip: string; vport: number; real: string; state?: number; lastSeen?: number }[] {
    const byId = new Map(this.observed.flatMap((s) => s.reals.map((r) => [r.id, r.address] as const)));
    return (this.fx.datapath.connections?.() ?? []).flatMap((c) => {
      const real = byId.get(c.realId);
      if (!real) return [];
      const protocol = c.proto === IPPROTO_TCP ? ('tcp' as const) : ('udp' as const);
      return [{ protocol, client: c.saddr, cport: c.sport, vip: c.daddr, vport: c.dport, real, ...(c.state !== undefined ? { state: c.state } : {}), ...(c.lastSeen !== undefined ? { lastSeen: c.lastSeen } : {}) }];
    });
  }


  /** Zeroes the counters of every service (or one) and restarts the rate window. */
  zero(key?: ServiceKey): Promise<void> {
    return this.serialize(() => {
      const svcs = this.observed.filter((o) => !key || (o.vip === key.vip && o.port === key.port && o.proto === (key.protocol === 'tcp' ? IPPROTO_TCP : 17)));
      if (key && !svcs.length) throw new NotFoundError(`no service ${keyName(key)}`);
      this.fx.datapath.zero({ svc: svcs.map((s) => s.id), real: svcs.flatMap((s) => s.reals.map((r) => r.id)) });
      this.samples = [];
    });
  }

  /** ipvsadm --set: new idle timeouts (0 or absent keeps a value, as IPVS does); validated, persisted and applied like any change. */
  setTimeouts(t: Partial<Config['timeouts']>): Promise<PlanReport> {
    return this.serialize(() => {
      const next = structuredClone(this.cfg);
      for (const k of ['tcp', 'tcp_fin', 'udp'] as const) if (t[k] !== undefined && t[k] !== 0) next.timeouts[k] = t[k];
      return this.applyNow(validateConfig(next), { dryRun: false, persist: true });
    });
  }


}

/** Beyond this many operations a change is logged as counts per kind, and listed only by a dry run. */
const OPS_LISTED = 1000;

/** One line per op; a big applied plan (a 10,000-service start-up) lists the first OPS_LISTED and how many more. */
function describeOps(ops: readonly Op[], all: boolean): string[] {
  if (all || ops.length <= OPS_LISTED) return ops.map(describeOp);
  return [...ops.slice(0, OPS_LISTED).map(describeOp), `... and ${ops.length - OPS_LISTED} more operations`];
}

function opCounts(ops: readonly Op[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const o of ops) n[o.op] = (n[o.op] ?? 0) + 1;
  return n;
}

function sameMacs(a: ReadonlyMap<string, string | null>, b: ReadonlyMap<string, string | null>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v || !b.has(k)) return false;
  return true;
}

/** Mirrors the datapath: overloaded at a threshold the current upper threshold does not exceed. */
export function isOverloaded(at: number, upper: number): boolean {
  return at !== 0 && upper !== 0 && upper <= at;
}

/** The named service or real does not exist (ipvsadm: "No such service" / "No such destination"). */
export class NotFoundError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The service or real already exists (ipvsadm: "Service already exists" / "Destination already exists"). */
export class ExistsError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ExistsError';
  }
}

/**
 * The service named k, copied into the list first so an edit never writes into the running config's objects: the
 * controller hands edits a shallow copy of the list (a deep copy of 10,000 services costs more than the edit).
 */
function own(services: ServiceConfig[], k: ServiceKey): ServiceConfig | undefined {
  const i = services.findIndex((x) => sameKey(x, k));
  if (i < 0) return undefined;
  const copy = { ...services[i]!, reals: [...services[i]!.reals] };
  services[i] = copy;
  return copy;
}

/** Pure edits of the service list the API verbs make; each throws NotFound/Exists the way ipvsadm reports them. */
export const edits = {
  addService(s: Partial<ServiceConfig> & ServiceKey) {
    return (services: ServiceConfig[]) => {
      if (services.some((x) => sameKey(x, s))) throw new ExistsError(`service ${keyName(s)} already exists`);
      services.push({ reals: [], ...s } as ServiceConfig);
    };
  },
  editService(k: ServiceKey, patch: Partial<Omit<ServiceConfig, 'vip' | 'port' | 'protocol' | 'reals'>>) {
    return (services: ServiceConfig[]) => {
      const i = services.findIndex((x) => sameKey(x, k));
      if (i < 0) throw new NotFoundError(`no service ${keyName(k)}`);
      services[i] = { ...services[i]!, ...patch };
    };
  },
  deleteService(k: ServiceKey) {
    return (services: ServiceConfig[]) => {
      const i = services.findIndex((x) => sameKey(x, k));
      if (i < 0) throw new NotFoundError(`no service ${keyName(k)}`);
      services.splice(i, 1);
    };
  },
  clear() {
    return (services: ServiceConfig[]) => {
      services.splice(0);
    };
  },
  addReal(k: ServiceKey, r: Partial<RealConfig> & { address: string }) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${keyName(k)}`);
      if (s.reals.some((x) => x.address === r.address)) throw new ExistsError(`real ${r.address} of ${keyName(k)} already exists`);
      s.reals.push({ weight: 1, ...r } as RealConfig);
    };
  },
  editReal(k: ServiceKey, r: Partial<RealConfig> & { address: string }) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${keyName(k)}`);
      const j = s.reals.findIndex((x) => x.address === r.address);
      if (j < 0) throw new NotFoundError(`no real ${r.address} in ${keyName(k)}`);
      s.reals[j] = { ...s.reals[j]!, ...r };
    };
  },
  deleteReal(k: ServiceKey, address: string) {
    return (services: ServiceConfig[]) => {
      const s = own(services, k);
      if (!s) throw new NotFoundError(`no service ${keyName(k)}`);
      const j = s.reals.findIndex((x) => x.address === address);
      if (j < 0) throw new NotFoundError(`no real ${address} in ${keyName(k)}`);
      s.reals.splice(j, 1);
    };
  },
};
