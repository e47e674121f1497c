// SPDX-License-Identifier: Apache-2.0
// controller.ts: the running director's brain: serialized changes (validate -> plan -> apply -> persist), sync, health verdicts and slow-start ramps; every effect injected.

import { REAL_F_SCHED } from './abi';
import { type Config, type ServiceConfig, validateConfig } from './config';
import { configDiff } from './configdiff';
import { indexServices, validateEdit } from './configedit';
import type { ControllerEffects, PlanReport, SweepStats } from './controller-port';
import { ExistsError, NotFoundError, type ServiceKey } from './edits';
import { UsageError } from './errors';
import { type ConnectionListing, listConnections, listServices, RateWindow, type ServiceListing } from './listing';
import { serviceId, serviceName } from './net/label';
import { protoNumber } from './net/proto';
import { describeOp, type ObservedService, type Op, observedAfter, plan, planSummary } from './plan';
import { type ChangeScope, editScope, healthScope, ObservedIndex } from './scope';
import { SlowStart } from './slowstart';
import type { SyncDaemonConfig, SyncRole } from './syncconfig';
import { SYNC_OFF, type SyncSettings } from './syncdp';

// The controller's boundary lives in controller-port.ts; importers of this module keep finding it here.
export type { ControllerEffects, DatapathPort, PlanReport, SweepStats } from './controller-port';

export class Controller {
  private cfg: Config;
  private observed: readonly ObservedService[];
  /** The observed services by key and the ids they hold: a change plans the services it touched alone. */
  private readonly index: ObservedIndex;
  /** Slow start: the reals ramping up after joining or recovering, and the weights they have meanwhile. */
  private readonly slowStart = new SlowStart(() => this.fx.now());
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rates = new RateWindow();
  private lastVips: string | undefined;
  /** Reals whose health check failed (healthKey), as the health runner last reported them. */
  private down: ReadonlySet<string> = new Set();
  private nextDown: ReadonlySet<string> = new Set();
  private downQueued: Promise<PlanReport> | undefined;
  private timeoutsSet: string | undefined;
  private budgetSet: number | undefined;
  private lastSweep: SweepStats | undefined;
  /** The inputs of the last applied plan besides the config (a re-sync with the same ones is skipped). */
  private lastPlan: { macs: ReadonlyMap<string, string | null>; down: ReadonlySet<string>; sync: SyncSettings } | undefined;
  /** Connection sync settings wanted (setSync) and those the datapath holds: a load starts with emission off. */
  private syncWant: SyncSettings = SYNC_OFF;
  private syncHave: SyncSettings = SYNC_OFF;

  constructor(
    cfg: Config,
    observed: readonly ObservedService[],
    private readonly fx: ControllerEffects,
  ) {
    this.cfg = cfg;
    indexServices(cfg.services);
    this.index = new ObservedIndex(observed);
    this.observed = this.index.all();
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
    for (const k of this.down) if (!this.nextDown.has(k)) this.slowStart.start(k, this.cfg.services);
    // Coalesced: many reals failing together (a switch port, a rack) make one plan, not one per real.
    if (this.downQueued) return this.downQueued;
    const p = this.serialize(() => {
      this.downQueued = undefined;
      const scope = healthScope(this.cfg.services, this.down, this.nextDown);
      this.down = this.nextDown;
      return this.applyNow(this.cfg, { dryRun: false, persist: false }, scope);
    });
    this.downQueued = p;
    return p;
  }

  /** Connection sync: turns emission on or off (the sync master); planned and applied like any other change. */
  setSync(sync: SyncSettings): Promise<PlanReport> {
    return this.serialize(() => {
      this.syncWant = { ...sync };
      return this.applyNow(this.cfg, { dryRun: false, persist: false });
    });
  }

  /**
   * ipvsadm --start-daemon / --stop-daemon: one sync daemon's settings set (null: stopped); validated, persisted and
   * applied like any change. Starting one that runs, or stopping one that does not, is refused as IPVS refuses it.
   */
  setSyncDaemon(role: SyncRole, daemon: Partial<SyncDaemonConfig> | null): Promise<PlanReport> {
    return this.serialize(() => {
      const running = !!this.cfg.sync?.[role];
      if (daemon && running) throw new ExistsError(`the ${role} sync daemon is already running`);
      if (!daemon && !running) throw new NotFoundError(`no ${role} sync daemon is running`);
      const sync: Record<string, unknown> = { ...this.cfg.sync };
      if (daemon) sync[role] = daemon;
      else delete sync[role];
      return this.applyNow(validateConfig({ ...this.cfg, sync }), { dryRun: false, persist: true });
    });
  }

  /** The running services as the datapath holds them (ids included), and the config: what connection sync maps through. */
  syncView(): { observed: readonly ObservedService[]; config: Readonly<Config> } {
    return { observed: this.observed, config: this.cfg };
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
      const services = [...this.cfg.services];
      edit(services);
      // Checks the services the edit replaced, and the cross-service rules against an index: not 10,000 services.
      const cfg = validateEdit(this.cfg, services);
      return this.applyNow(cfg, { dryRun: false, persist: true }, editScope(this.cfg.services, cfg.services));
    });
  }

  /**
   * Validated cfg -> plan -> apply. With a scope (the services an edit or a health verdict touched) and nothing else
   * pending (same MACs planned, sync settings, no ramp), only those services are planned: one table rebuilt and
   * swapped at 10,000 services, not 10,000 compared. Anything else plans everything, as a reload does.
   */
  private applyNow(cfg: Config, opts: { dryRun: boolean; persist: boolean }, scope?: ChangeScope): PlanReport {
    const problems: string[] = [];
    // These are fixed when the program is loaded and its maps are created; changing them needs `xlvs down`.
    if (cfg.interface !== this.cfg.interface)
      problems.push(
        `interface: ${JSON.stringify(cfg.interface)} differs from the running director's ${JSON.stringify(this.cfg.interface)} (stop it and run "xlvs down" to move it)`,
      );
    if (cfg.conn_table_size !== this.cfg.conn_table_size)
      problems.push(
        `conn_table_size: ${cfg.conn_table_size} differs from the running director's ${this.cfg.conn_table_size} (resizing drops every connection: "xlvs down" first)`,
      );
    if (cfg.conn_table6_size !== this.cfg.conn_table6_size)
      problems.push(
        `conn_table6_size: ${cfg.conn_table6_size ?? 'default'} differs from the running director's ${this.cfg.conn_table6_size ?? 'default'} (resizing drops every IPv6 connection: "xlvs down" first)`,
      );
    if (cfg.conn_table_per_cpu !== this.cfg.conn_table_per_cpu)
      problems.push(
        `conn_table_per_cpu: ${cfg.conn_table_per_cpu} differs from the running director's ${this.cfg.conn_table_per_cpu} (changing it drops every connection: "xlvs down" first)`,
      );
    if (problems.length) throw new UsageError('invalid config', problems);
    // A periodic re-sync of the same config (MAC refresh) skips the host checks: they ran when it was accepted.
    if (cfg !== this.cfg) this.fx.check(cfg);
    // A config with a sync section decides emission (on while it has a master); without one, setSync's choice stands.
    if (!opts.dryRun && (cfg.sync || this.cfg.sync) && this.syncWant.emit !== !!cfg.sync?.master) this.syncWant = cfg.sync?.master ? SYNC_EMIT : SYNC_OFF;
    // The services a scoped plan leaves out were planned with lastPlan's MACs and sync settings; health changes only
    // in the scope's services (healthScope) or not at all (an edit: down is lastPlan's).
    const last = this.lastPlan;
    const scoped =
      !opts.dryRun && scope && last && this.syncWant === last.sync && (scope.downBefore ?? this.down) === last.down && !this.slowStart.active
        ? scope
        : undefined;
    const desired = scoped ? scoped.desired : cfg.services;
    const addresses = [...new Set(desired.flatMap((s) => [...s.reals.map((r) => r.address), ...(s.sorry_server ? [s.sorry_server] : [])]))];
    const macs = this.fx.resolve(addresses);
    // The periodic re-sync with nothing new (same config, MACs, health, no ramp running) has nothing to plan: at
    // 10,000 services a plan costs a few hundred ms, which a once-a-second refresh must not pay.
    if (
      !opts.dryRun &&
      this.lastPlan &&
      cfg === this.cfg &&
      this.down === this.lastPlan.down &&
      this.syncWant === this.lastPlan.sync &&
      !this.slowStart.active &&
      sameMacs(macs, this.lastPlan.macs)
    ) {
      return { dryRun: false, ops: [], bucketsMoved: 0, connsMoved: 0 };
    }
    if (!opts.dryRun) this.slowStart.noteNewReals(desired, (k) => this.index.get(k));
    const sync = { want: this.syncWant, have: this.syncHave };
    const p = scoped
      ? plan(this.slowStart.ramped(desired), this.index.of(scoped.keys), macs, this.down, sync, this.index)
      : plan(this.slowStart.ramped(cfg.services), this.observed, macs, this.down, sync);
    const sum = planSummary(p);
    const report: PlanReport = {
      dryRun: opts.dryRun,
      ops: describeOps(p.ops, opts.dryRun),
      bucketsMoved: sum.bucketsMoved,
      connsMoved: sum.removedRealIds.length ? this.fx.datapath.connsOf(new Set(sum.removedRealIds)) : 0,
    };
    if (opts.dryRun) return { ...report, changes: configDiff(this.cfg, cfg) };
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
    if (cfg.new_conn_budget !== this.budgetSet && this.fx.datapath.setNewConnBudget) {
      this.fx.datapath.setNewConnBudget(cfg.new_conn_budget);
      this.budgetSet = cfg.new_conn_budget;
    }
    if (timeouts !== this.timeoutsSet && this.fx.datapath.setTimeouts) {
      this.fx.datapath.setTimeouts(cfg.timeouts);
      this.timeoutsSet = timeouts;
    }
    // A scoped plan resolved its own services' MACs only: lastPlan keeps the MACs the others were planned with, so
    // a new or changed MAC among them makes the next periodic re-sync plan everything (every service using it).
    this.lastPlan = scoped ? { ...last!, down: this.down } : { macs, down: this.down, sync: this.syncWant };
    this.cfg = cfg;
    indexServices(cfg.services);
    this.observed = scoped ? this.index.update(scoped.keys, observedAfter(p)) : this.index.reset(observedAfter(p));
    this.syncHave = p.sync ?? this.syncHave;
    // Only when the set changed (or on the first sync): the periodic MAC refresh should not touch addresses.
    const vips = scoped && !scoped.membership ? undefined : [...new Set(cfg.services.map((s) => s.vip))].sort();
    if (vips && vips.join() !== this.lastVips) {
      this.fx.vipsChanged?.(vips);
      this.lastVips = vips.join();
    }
    this.fx.applied?.(cfg);
    return report;
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

  /** conn_table_size: the entries the table may grow to. */
  connTableSize(): number {
    return this.cfg.conn_table_size;
  }

  /** Entries the table holds at its size now: a growable table's live size, else conn_table_size. */
  connTableCapacity(): number {
    return this.lastSweep?.capacity ?? this.cfg.conn_table_size;
  }

  /** One counter sample (the daemon calls this every second). */
  sample(): void {
    const c = this.fx.datapath.counters();
    this.rates.add(this.fx.now(), c);
  }

  list(): ServiceListing[] {
    return listServices({
      services: this.cfg.services,
      observed: this.observed,
      counters: this.fx.datapath.counters(),
      realConns: this.fx.datapath.realConns?.(this.observed.flatMap((o) => o.reals.map((r) => r.id))),
      rates: this.rates,
      down: this.down,
      // Called through fx, not detached from it: an effects object may be a class whose methods use `this`.
      health: (key) => this.fx.health?.(key),
      vipClaims: this.fx.vipClaims ? (vip) => this.fx.vipClaims!(vip) : undefined,
      effectiveWeight: (s, r) => this.slowStart.effectiveWeight(s, r),
    });
  }

  /** Each configured service's VIP and how many of its reals (sorry server included) take new connections now. */
  schedulable(): { vip: string; schedulable: number }[] {
    const byKey = new Map(this.observed.map((o) => [serviceId({ vip: o.vip, port: o.port, protocol: o.proto }), o]));
    return this.cfg.services.map((s) => {
      const o = byKey.get(serviceId(s));
      return { vip: s.vip, schedulable: (o?.reals ?? []).filter((r) => (r.flags & REAL_F_SCHED) !== 0).length };
    });
  }

  /** The connection table by real address, for ipvsadm -c (see listConnections). */
  connections(): ConnectionListing[] {
    return listConnections(this.observed, this.fx.datapath.connections?.() ?? []);
  }

  /** Zeroes the counters of every service (or one) and restarts the rate window. */
  zero(key?: ServiceKey): Promise<void> {
    return this.serialize(() => {
      const svcs = this.observed.filter((o) => !key || (o.vip === key.vip && o.port === key.port && o.proto === protoNumber(key.protocol)));
      if (key && !svcs.length) throw new NotFoundError(`no service ${serviceName(key)}`);
      this.fx.datapath.zero({ svc: svcs.map((s) => s.id), real: svcs.flatMap((s) => s.reals.map((r) => r.id)) });
      this.rates.clear();
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

/** The one emitting setting (so an unchanged config keeps the same object and the re-sync shortcut still applies). */
const SYNC_EMIT: SyncSettings = { emit: true };

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
