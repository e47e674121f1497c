// SPDX-License-Identifier: Apache-2.0
// plan.ts: the reconcile core: plan(desired, observed) -> the minimal, safely ordered datapath operations, plus what a dry run reports.

import { MAX_REALS, MAX_SERVICES, REAL_F_MAC, REAL_F_SCHED } from './abi';
import type { ServiceConfig } from './config';
import { type RealState, realFlags, type ServiceState, serviceFields, serviceTable, tableKind } from './director';
import { type Family, isIPv6 } from './net/addr';
import { type ServiceRef, serviceId, serviceName, serviceTag } from './net/label';
import type { Protocol } from './net/proto';
import type { SyncSettings } from './syncdp';

/** What the datapath holds for one service (the daemon's model, or what a restart reads back from the pinned maps). */
export interface ObservedService {
  readonly id: number;
  readonly vip: string;
  readonly port: number;
  readonly proto: number;
  readonly mhSize: number;
  readonly reals: readonly ObservedReal[];
  /** The schedule table last written; undefined when unknown, which forces a rewrite. */
  readonly table?: Uint32Array;
  /**
   * The table was read back from pinned maps: another process wrote it, maybe another version from another history,
   * so it is recomputed (and rewritten only where it differs) rather than trusted because its reals match.
   */
  readonly tableFromPins?: true;
  readonly scheduler?: string;
  readonly flags?: number;
  readonly persistTimeout?: number;
  readonly persistMask?: string;
  /** Entries of the table in use (xlvs_svc.tbl_size). */
  readonly tblSize?: number;
}

export interface ObservedReal {
  readonly id: number;
  readonly address: string;
  readonly weight: number;
  /** The configured weight while slow start ramps weight below it (it fixes the Maglev base, see serviceTable). */
  readonly configWeight?: number;
  readonly mac: string | null;
  readonly flags: number;
  readonly uThreshold?: number;
  readonly lThreshold?: number;
}

export type Op =
  /** fresh: the id was unused, so its counters are zeroed before traffic can reach it. */
  | { op: 'putReal'; real: RealState; fresh: boolean }
  /**
   * Written in place when the live table has its size, else swapped in whole (SchedTables.write in src/adapters/schedtables.ts);
   * moved = buckets whose real changed (0 for a new service).
   */
  | { op: 'putTable'; svcId: number; name: string; table: Uint32Array; moved: number }
  | { op: 'putService'; service: ServiceState; fresh: boolean }
  | { op: 'deleteService'; svcId: number; name: string; vip: string; port: number; proto: number }
  | { op: 'deleteTable'; svcId: number }
  | { op: 'deleteReal'; realId: number; address: string; name: string }
  /**
   * Connection entries that still name a deleted real go before its id can be handed out again. tables: the
   * families the reals served (a real is of its VIP's family), so an IPv4-only purge does not walk the IPv6 table.
   */
  | { op: 'purgeConns'; realIds: number[]; tables: Family[] }
  /** Connection sync settings (xlvs_cfg.sync_emit): written last, so emission starts on a complete service set. */
  | { op: 'setSync'; sync: SyncSettings };

/** The ids held by every observed service, for a plan of some of them (plan()'s elsewhere). */
export interface PlanIds {
  readonly realIds: ReadonlySet<number>;
  readonly svcIds: ReadonlySet<number>;
  readonly highestReal: number;
}

export interface Plan {
  /** The state once every op is applied: ids assigned, tables attached. */
  readonly services: ServiceState[];
  readonly tables: Map<number, Uint32Array>;
  readonly ops: Op[];
  /** The sync settings once every op is applied (undefined when the caller planned none). */
  readonly sync?: SyncSettings;
}

/** The key observed (protocol number) and desired (protocol name) services are joined on. */
export const svcKey = (vip: string, port: number, protocol: Protocol | number): string => serviceId({ vip, port, protocol });

/**
 * Hands out ids not in `used`, never one in `avoid` (being freed by this very plan), starting at `from` and wrapping.
 * Real ids start after the highest one in use: the connection table is purged on removal, but an entry the datapath
 * writes while the purge walks the table may still name the removed real's id, so a freed id comes back as late as possible.
 */
function allocator(used: Set<number>, avoid: Set<number>, max: number, what: string, from = 0, taken?: ReadonlySet<number>): () => number {
  let next = from % max;
  return () => {
    for (let n = 0; n < max; n++, next = (next + 1) % max) {
      if (used.has(next) || avoid.has(next) || taken?.has(next)) continue;
      used.add(next);
      const id = next;
      next = (next + 1) % max;
      return id;
    }
    throw new Error(`no free ${what} id (limit ${max})`);
  };
}

/** A table depends only on the scheduler, the size and each schedulable real's id and weight; equal signatures mean equal tables. */
function signature(
  scheduler: string,
  mhSize: number,
  port: number,
  reals: readonly { id: number; address: string; weight: number; configWeight?: number }[],
  flags: (i: number) => number,
): string {
  // A member list holds every real whatever its state: the datapath checks availability per connection.
  if (tableKind(scheduler) === 'list') return `${scheduler}|${reals.map((r) => r.id).join(',')}`;
  const one = (r: (typeof reals)[number], i: number) => `${r.id}:${r.address}:${r.configWeight ?? r.weight}:${flags(i) & REAL_F_SCHED ? r.weight : 0}`;
  return `${scheduler}|${mhSize}|${port}|${reals.map(one).join(',')}`;
}

/** The service-map fields that differ between the observed and desired service (each needs a putService). */
function serviceChanged(o: ObservedService, s: ServiceState): boolean {
  return (
    (o.scheduler ?? 'mh') !== s.scheduler ||
    (o.flags ?? 0) !== (s.flags ?? 0) ||
    (o.persistTimeout ?? 0) !== (s.persistTimeout ?? 0) ||
    (o.persistMask ?? '255.255.255.255') !== (s.persistMask ?? '255.255.255.255')
  );
}

function sameTable(a: Uint32Array | undefined, b: Uint32Array): boolean {
  return !!a && a.length === b.length && movedBuckets(a, b) === 0;
}

function movedBuckets(a: Uint32Array | undefined, b: Uint32Array): number {
  if (!a || a.length !== b.length) return a ? b.length : 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/**
 * Order, so that no lookup ever meets a half-written state:
 *   1. reals (new ones are unreachable until a table names them; changed flags land before tables are rebuilt),
 *   2. tables (each swapped whole), 3. new service keys (their reals and table exist already) and larger Maglev sizes
 *      (a smaller size goes in before its table instead, so `hash % size` always indexes inside the live table),
 *   4. removed service keys first, then their tables, 5. removed reals (no table names them any more),
 *   6. purge connection entries naming removed reals, so their ids can be reused safely later.
 * `macs` gives each real address's resolved MAC (absent: keep what was observed, else unresolved).
 */
export function plan(
  desired: readonly ServiceConfig[],
  observed: readonly ObservedService[],
  macs: ReadonlyMap<string, string | null> = new Map(),
  /** Reals whose health check failed, by healthKey(); the service's on_down says what their connections do. */
  down: ReadonlySet<string> = new Set(),
  /** Sync settings wanted and those the datapath holds (undefined: unknown, so they are written). */
  sync?: { want: SyncSettings; have: SyncSettings | undefined },
  /**
   * Planning a few services alone (a change to them): desired and observed hold only those, and these are the ids
   * every observed service holds, so a new id is none of them, and the highest real id in use (see allocator).
   */
  elsewhere?: PlanIds,
): Plan {
  const obsByKey = new Map(observed.map((s) => [svcKey(s.vip, s.port, s.proto), s]));
  const wantKeys = new Set(desired.map((s) => svcKey(s.vip, s.port, s.protocol)));
  const removedSvcs = observed.filter((s) => !wantKeys.has(svcKey(s.vip, s.port, s.proto)));

  // Ids freed by this plan are not handed out by it.
  const freedReals = new Set<number>();
  const freedFamilies = new Set<Family>();
  for (const s of removedSvcs) for (const r of s.reals) freedReals.add(r.id);
  for (const s of removedSvcs) if (s.reals.length) freedFamilies.add(familyOfVip(s.vip));
  for (const d of desired) {
    const o = obsByKey.get(svcKey(d.vip, d.port, d.protocol));
    if (!o) continue;
    const keep = new Set(withSorry(d, down).map((r) => r.address));
    for (const r of o.reals)
      if (!keep.has(r.address)) {
        freedReals.add(r.id);
        freedFamilies.add(familyOfVip(o.vip));
      }
  }
  const usedReals = new Set(observed.flatMap((s) => s.reals.map((r) => r.id)));
  const usedSvcs = new Set(observed.map((s) => s.id));
  let highest = elsewhere?.highestReal ?? -1;
  for (const id of usedReals) highest = Math.max(highest, id);
  for (const id of freedReals) highest = Math.max(highest, id);
  const newRealId = allocator(usedReals, freedReals, MAX_REALS, 'real', highest + 1, elsewhere?.realIds);
  const newSvcId = allocator(usedSvcs, new Set(removedSvcs.map((s) => s.id)), MAX_SERVICES, 'service', 0, elsewhere?.svcIds);

  const putReals: Op[] = [];
  const putTables: Op[] = [];
  const putServices: Op[] = [];
  const shrinks: Op[] = [];
  const deleteReals: Op[] = [];
  const expired: number[] = [];
  const expiredFamilies = new Set<Family>();
  const services: ServiceState[] = [];
  const tables = new Map<number, Uint32Array>();

  for (const d of desired) {
    const o = obsByKey.get(svcKey(d.vip, d.port, d.protocol));
    const id = o ? o.id : newSvcId();
    const obsReals = new Map((o?.reals ?? []).map((r) => [r.address, r]));
    const effective = withSorry(d, down);
    let realsChanged = !o || o.reals.length !== effective.length;
    const reals: RealState[] = effective.map((r, i) => {
      const or = obsReals.get(r.address);
      // A MAC the neighbour table no longer holds is kept for the real's existing connections (macStale).
      const resolved = macs.has(r.address) ? macs.get(r.address)! : undefined;
      const mac = resolved ?? or?.mac ?? null;
      const macStale = mac !== null && resolved === null;
      const isDown = down.size > 0 && down.has(healthKey(d, r.address));
      const configWeight = 'configWeight' in r && typeof r.configWeight === 'number' && r.configWeight !== r.weight ? r.configWeight : undefined;
      const state: RealState = {
        id: or ? or.id : newRealId(),
        svcId: id,
        address: r.address,
        weight: r.weight,
        ...(configWeight !== undefined ? { configWeight } : {}),
        uThreshold: r.upper_threshold ?? 0,
        lThreshold: r.lower_threshold ?? 0,
        mac,
        ...(macStale ? { macStale: true as const } : {}),
        ...(isDown ? { down: d.on_down ?? 'keep' } : {}),
      };
      if (
        !or ||
        or.weight !== state.weight ||
        or.mac !== state.mac ||
        or.flags !== realFlags(state) ||
        (or.uThreshold ?? 0) !== state.uThreshold ||
        (or.lThreshold ?? 0) !== state.lThreshold
      ) {
        putReals.push({ op: 'putReal', real: state, fresh: !or });
        realsChanged = true;
        // expire_nodest_conn: clearing F_MAC already reschedules cached and tracked flows; purging the entries too
        // means a recovered real does not get back flows whose clients were moved elsewhere meanwhile.
        if (or && or.flags & REAL_F_MAC && state.down === 'expire') {
          expired.push(or.id);
          expiredFamilies.add(familyOfVip(d.vip));
        }
      }
      if (!realsChanged && (o!.reals[i]!.address !== r.address || or?.configWeight !== configWeight)) realsChanged = true;
      return state;
    });
    const s: ServiceState = { ...serviceFields(d), id, reals };
    services.push(s);
    const name = serviceName(s);
    let table: Uint32Array;
    // The common case of a periodic re-plan: same reals in the same order, nothing about them changed. A table read
    // back from the pins is recomputed instead: the process that wrote it may have built it another way.
    const trusted = !!o?.table && !o.tableFromPins;
    const same = trusted && !realsChanged && (o!.scheduler ?? 'mh') === s.scheduler && o!.mhSize === s.mhSize && o!.port === s.port;
    const sigNew = same ? '' : signature(s.scheduler, s.mhSize, s.port, reals, (i) => realFlags(reals[i]!));
    if (same || (trusted && signature(o!.scheduler ?? 'mh', o!.mhSize, o!.port, o!.reals, (i) => o!.reals[i]!.flags) === sigNew)) {
      table = o!.table!;
    } else {
      // A function of the service's state alone, never of the table in the datapath (see serviceTable).
      const fresh = serviceTable(s);
      if (o?.tableFromPins && sameTable(o.table, fresh)) table = o.table!;
      else {
        table = fresh;
        putTables.push({ op: 'putTable', svcId: id, name, table, moved: movedBuckets(o?.table, table) });
      }
    }
    tables.set(id, table);
    s.tblSize = table.length;
    // A new size goes in on whichever side keeps every index inside the table in use: a smaller size before
    // its (smaller) table, a larger one after its (larger) table. Other field changes go in after the table.
    const oldSize = o ? (o.tblSize ?? o.mhSize) : 0;
    if (o && oldSize > s.tblSize) shrinks.push({ op: 'putService', service: s, fresh: false });
    else if (!o || oldSize !== s.tblSize || serviceChanged(o, s)) putServices.push({ op: 'putService', service: s, fresh: !o });
    if (o) {
      const keep = new Set(effective.map((r) => r.address));
      for (const r of o.reals) if (!keep.has(r.address)) deleteReals.push({ op: 'deleteReal', realId: r.id, address: r.address, name });
    }
  }

  const deletes: Op[] = [];
  for (const o of removedSvcs) {
    const name = serviceName({ vip: o.vip, port: o.port, protocol: o.proto });
    deletes.push({ op: 'deleteService', svcId: o.id, name, vip: o.vip, port: o.port, proto: o.proto });
  }
  for (const o of removedSvcs) deletes.push({ op: 'deleteTable', svcId: o.id });
  for (const o of removedSvcs) {
    const name = serviceName({ vip: o.vip, port: o.port, protocol: o.proto });
    for (const r of o.reals) deleteReals.push({ op: 'deleteReal', realId: r.id, address: r.address, name });
  }
  const purged = [...freedReals].sort((a, b) => a - b);
  const ops = [
    ...putReals,
    ...shrinks,
    ...putTables,
    ...putServices,
    ...deletes,
    ...deleteReals,
    ...(purged.length ? [{ op: 'purgeConns', realIds: purged, tables: [...freedFamilies].sort() } as Op] : []),
    ...(expired.length ? [{ op: 'purgeConns', realIds: expired.sort((a, b) => a - b), tables: [...expiredFamilies].sort() } as Op] : []),
    ...(sync && sync.want.emit !== sync.have?.emit ? [{ op: 'setSync', sync: { ...sync.want } } as Op] : []),
  ];
  return { services, tables, ops, ...(sync ? { sync: { ...sync.want } } : {}) };
}

/** Names one real of one service in the set of reals that failed their checks. */
export function healthKey(s: ServiceRef, address: string): string {
  return `${serviceTag(s)}/${address}`;
}

/** Every real of the service counts as down (a service with no reals has none up either). */
export function allDown(d: ServiceConfig, down: ReadonlySet<string>): boolean {
  return d.reals.every((r) => down.has(healthKey(d, r.address)));
}

/**
 * The reals the datapath holds: the configured ones plus the sorry server, which is always present (so its MAC is
 * tracked and its connections survive) but has weight 0, i.e. takes no new connections, while any real is up.
 */
export function withSorry(
  d: ServiceConfig,
  down: ReadonlySet<string>,
): { address: string; weight: number; upper_threshold?: number; lower_threshold?: number }[] {
  if (!d.sorry_server) return d.reals;
  return [...d.reals, { address: d.sorry_server, weight: allDown(d, down) ? 1 : 0 }];
}

/** The model after applying a plan: what the next plan compares against. */
export function observedAfter(p: Plan): ObservedService[] {
  return p.services.map((s) => ({
    id: s.id,
    vip: s.vip,
    port: s.port,
    proto: s.proto,
    mhSize: s.mhSize,
    table: p.tables.get(s.id),
    scheduler: s.scheduler,
    flags: s.flags ?? 0,
    persistTimeout: s.persistTimeout ?? 0,
    persistMask: s.persistMask ?? '255.255.255.255',
    tblSize: s.tblSize ?? p.tables.get(s.id)?.length ?? 0,
    reals: s.reals.map((r) => ({
      id: r.id,
      address: r.address,
      weight: r.weight,
      ...(r.configWeight !== undefined ? { configWeight: r.configWeight } : {}),
      mac: r.mac,
      flags: realFlags(r),
      uThreshold: r.uThreshold ?? 0,
      lThreshold: r.lThreshold ?? 0,
    })),
  }));
}

/** One line per op, for logs and `apply --dry-run`. */
export function describeOp(op: Op): string {
  switch (op.op) {
    case 'putReal':
      return `${op.fresh ? 'add' : 'update'} real ${op.real.address} (id ${op.real.id}, weight ${op.real.weight}, MAC ${op.real.mac ?? 'unresolved'})`;
    case 'putTable':
      return `swap schedule table of ${op.name} (${op.table.length} entries, ${op.moved} changed)`;
    case 'putService':
      return `${op.fresh ? 'add' : 'resize'} service ${serviceName(op.service)} (id ${op.service.id})`;
    case 'deleteService':
      return `delete service ${op.name} (id ${op.svcId})`;
    case 'deleteTable':
      return `delete schedule table of service id ${op.svcId}`;
    case 'deleteReal':
      return `delete real ${op.address} of ${op.name} (id ${op.realId})`;
    case 'purgeConns':
      return `purge connection entries of real id(s) ${op.realIds.join(', ')}`;
    case 'setSync':
      return `connection sync emission ${op.sync.emit ? 'on' : 'off'}`;
  }
}

/** Totals a dry run prints; connsMoved comes from the caller counting connection entries whose real is deleted. */
export function planSummary(p: Plan): { ops: number; bucketsMoved: number; removedRealIds: number[] } {
  let bucketsMoved = 0;
  const removed: number[] = [];
  for (const op of p.ops) {
    if (op.op === 'putTable') bucketsMoved += op.moved;
    if (op.op === 'deleteReal') removed.push(op.realId);
  }
  return { ops: p.ops.length, bucketsMoved, removedRealIds: removed };
}

/** The family of a service's connection table (its reals are of its VIP's family). */
function familyOfVip(vip: string): Family {
  return isIPv6(vip) ? 6 : 4;
}
