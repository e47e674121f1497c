// SPDX-License-Identifier: Apache-2.0
// trace.ts: where a flow goes and why, decided the way bpf/xlvs.bpf.c decides it, over lookups the caller injects.

import { CS, FALLBACK_STRIDE, FALLBACK_TRIES, REAL_F_MAC, REAL_F_SCHED, REAL_NONE, SCHED, SEQ_MAX_TRIES, SVC_F_FALLBACK, SVC_F_HASH_PORT } from './abi';
import { formatHostPort } from './net/addr';
import { serviceId } from './net/label';
import { maskAddress } from './net/prefix';
import { ipvsadmProto, protoOf } from './net/proto';
import { type CountsSchedulerName, pickByCounts, pickHashed, type SchedReal, schedHash, seqPick } from './sched';

export interface TraceFlow {
  client: string;
  cport: number;
  vip: string;
  vport: number;
  proto: number;
}

/** An xlvs_reals entry; the lookup answers null for an id never written or cleared (address 0). */
export interface TraceReal {
  id: number;
  address: string;
  svcId: number;
  flags: number;
  mac: string;
  weight: number;
  uThreshold: number;
  lThreshold: number;
}

/** An xlvs_conn entry. */
export interface TraceConn {
  realId: number;
  svcId: number;
  state: number;
}

/** An xlvs_svc entry (the lookup is by exact key: the port-0 fallback is trace's to make). */
export interface TraceService {
  id: number;
  sched: number;
  flags: number;
  tblSize: number;
  persistTimeout: number;
  persistMask: string;
}

/** An xlvs_rconn entry. */
export interface TraceCounts {
  active: number;
  inactive: number;
  overloaded: number;
}

/** An xlvs_persist entry. */
export interface TraceTemplate {
  realId: number;
  svcId: number;
  lastSeen: number;
  timeout: number;
}

/** The maps trace reads; the adapter backs them with the pinned maps, tests with plain objects. */
export interface TraceLookups {
  conn(f: TraceFlow): TraceConn | null;
  service(vip: string, port: number, proto: number): TraceService | null;
  /** The service's whole schedule table (xlvs_tbl's inner map); null when it has none. */
  table(svcId: number): Uint32Array | null;
  real(id: number): TraceReal | null;
  counts(id: number): TraceCounts | null;
  /** xlvs_pos.next: the position the next new connection of an rr/wrr service takes. */
  position(svcId: number): bigint | null;
  template(caddr: string, svcId: number): TraceTemplate | null;
  /** Seconds on the datapath's clock (bpf_ktime_get_coarse_ns() / 1e9, as a u32). */
  now(): number;
}

export interface TraceEntry {
  realId: number;
  svcId: number;
  state: string;
  /** The datapath forwards on it: its real has a MAC and still belongs to the entry's service. */
  usable: boolean;
  /** FIN_WAIT or CLOSE: a bare SYN on this tuple deletes the entry and is scheduled as a new connection. */
  reopensOnBareSyn: boolean;
}

export interface TraceServiceMatch {
  id: number;
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  /** Which key matched: the flow's own port, or the VIP's port-0 (all ports) service. */
  match: 'exact' | 'port-0';
  scheduler: string;
  flags: string[];
  tblSize: number;
  persistTimeout: number;
  persistMask: string;
}

export interface TracePersistence {
  /** The client address under the service's persistence mask: the template's key with the service id. */
  client: string;
  template: TraceTemplate | null;
  /** now - lastSeen in seconds, signed as the datapath computes it (a just-stamped template may be a second ahead); null without a template. */
  age: number | null;
  honoured: boolean;
  /** Within a second of expiry: trace's clock and the datapath's coarse one agree only to ±1 s. */
  uncertain: boolean;
}

/** One table entry a hash or sequence scheduler looked at; realId REAL_NONE for an empty bucket. */
export interface TraceProbe {
  index: number;
  realId: number;
  address: string | null;
  available: boolean;
  why: string | null;
}

/** One member of a connection-count scheduler's list, with the live counts it was judged on. */
export interface TraceMember {
  realId: number;
  address: string | null;
  weight: number;
  active: number;
  inactive: number;
  available: boolean;
  why: string | null;
}

interface ScheduleBase {
  scheduler: string;
  realId: number | null;
  /** rr, wrr and the count schedulers: the answer is the next new connection's, as of now (it depends on state). */
  dependsOnState: boolean;
}

export type TraceSchedule =
  | (ScheduleBase & { kind: 'hash'; hashed: string; hash: number; bucket: number; fallback: boolean; probes: TraceProbe[] })
  | (ScheduleBase & { kind: 'sequence'; next: number /* xlvs_pos.next (a u64: exact below 2^53) */; start: number; probes: TraceProbe[] })
  | (ScheduleBase & { kind: 'counts'; rule: string; members: TraceMember[] })
  | (ScheduleBase & { kind: 'no-table' });

export type TraceVerdict =
  | { kind: 'existing'; real: TraceReal; state: string; reason: string[] }
  | { kind: 'new'; real: TraceReal; by: 'persistence' | 'scheduler'; reason: string[] }
  | { kind: 'drop'; reason: string[] }
  | { kind: 'no-service'; reason: string[] };

export interface TraceResult {
  flow: TraceFlow;
  entry: TraceEntry | null;
  service: TraceServiceMatch | null;
  persistence: TracePersistence | null;
  schedule: TraceSchedule | null;
  verdict: TraceVerdict;
}

const stateName = (s: number): string => Object.entries(CS).find(([, v]) => v === s)?.[0] ?? `state ${s}`;
const schedName = (n: number): string | undefined => Object.entries(SCHED).find(([, v]) => v === n)?.[0];
const hex = (h: number) => `0x${h.toString(16).padStart(8, '0')}`;

function named(l: TraceLookups, id: number): string {
  if (id === REAL_NONE) return 'no real';
  const r = l.real(id);
  return r ? `real id ${id} (${r.address})` : `real id ${id}`;
}

/** Mirrors usable_real(): why a recorded flow's real is no longer forwarded to, or null. */
function unusable(r: TraceReal | null, svcId: number): string | null {
  if (!r) return 'does not exist';
  if (!(r.flags & REAL_F_MAC)) return 'has no MAC';
  return r.svcId !== svcId ? `now belongs to service id ${r.svcId}` : null;
}

/** Mirrors available_real(): why a real may not take a new connection of the service, or null when it may. */
function unavailable(l: TraceLookups, id: number, svcId: number): string | null {
  if (id === REAL_NONE) return 'an empty entry';
  const r = l.real(id);
  if (!r) return 'does not exist';
  if (!(r.flags & REAL_F_SCHED)) return 'is not schedulable (weight 0, health check down or MAC unresolved)';
  if (r.svcId !== svcId) return `belongs to service id ${r.svcId}`;
  if (!r.weight) return 'has weight 0';
  if (r.uThreshold) {
    const c = l.counts(id);
    if (!c) return 'has no connection counts';
    // Overloaded at a threshold the current one does not exceed (raising -x lifts it at once).
    if (c.overloaded && r.uThreshold <= c.overloaded) {
      const back = r.lThreshold ? `${r.lThreshold}` : `3/4 of ${r.uThreshold}`;
      return `is overloaded (${c.active + c.inactive} connections, upper threshold ${r.uThreshold}; it takes new ones again once under ${back})`;
    }
  }
  return null;
}

/** The table as the datapath indexes it: tblSize entries, a missing one (past the map's end) read as empty. */
function view(table: Uint32Array, size: number): Uint32Array {
  if (table.length === size) return table;
  if (table.length > size) return table.subarray(0, size);
  const v = new Uint32Array(size).fill(REAL_NONE);
  v.set(table);
  return v;
}

function probe(l: TraceLookups, index: number, id: number, svcId: number): TraceProbe {
  const why = unavailable(l, id, svcId);
  return { index, realId: id, address: id === REAL_NONE ? null : (l.real(id)?.address ?? null), available: why === null, why };
}

const COUNT_RULES: Record<CountsSchedulerName, string> = {
  lc: 'least active*256 + inactive',
  wlc: 'least (active*256 + inactive) / weight',
  sed: 'least (active + 1) / weight',
  nq: 'the first idle member (no active connection), else least (active + 1) / weight',
  fo: 'the highest weight',
  ovf: 'the highest weight among members with no more active connections than their weight',
};

const STATEFUL = "this is the next new connection's real, as of now: it depends on state every new connection changes";

/** schedule() of the datapath: the real a new connection of `svc` gets, with each step explained in `reason`. */
function scheduleFor(f: TraceFlow, svc: TraceService, l: TraceLookups, reason: string[]): TraceSchedule {
  const known = schedName(svc.sched);
  const table = l.table(svc.id);
  if (!table || !svc.tblSize) {
    reason.push(`${known ?? `scheduler ${svc.sched}`}: the service's schedule table is ${table ? 'empty' : 'missing'} (no real to schedule)`);
    return { kind: 'no-table', scheduler: known ?? String(svc.sched), realId: null, dependsOnState: false };
  }
  const avail = (id: number) => unavailable(l, id, svc.id) === null;
  if (known === 'mh' || known === 'sh' || known === 'dh') {
    const port = (svc.flags & SVC_F_HASH_PORT) !== 0 && known !== 'dh';
    const fallback = (svc.flags & SVC_F_FALLBACK) !== 0;
    const hashed = known === 'dh' ? 'the VIP' : known === 'mh' && port ? 'the 5-tuple' : port ? 'the client address and port' : 'the client address';
    const hash = schedHash(known, { port }, { saddr: f.client, daddr: f.vip, sport: f.cport, dport: f.vport, proto: f.proto });
    const t = view(table, svc.tblSize);
    const realId = pickHashed(t, hash, avail, fallback);
    const bucket = hash % svc.tblSize;
    const probes: TraceProbe[] = [];
    for (let k = 0; k < (fallback ? FALLBACK_TRIES : 1); k++) {
      const b = (bucket + k * FALLBACK_STRIDE) % svc.tblSize;
      const p = probe(l, b, t[b]!, svc.id);
      probes.push(p);
      if (p.available) break;
    }
    const opts = [...(port ? ['port'] : []), ...(fallback ? ['fallback'] : [])];
    reason.push(`${known}${opts.length ? ` (${opts.join(', ')})` : ''}: hash ${hex(hash)} of ${hashed} % ${svc.tblSize} = bucket ${bucket}`);
    for (const [k, p] of probes.entries()) {
      const where = k === 0 ? `bucket ${p.index}` : `fallback probe ${k}: bucket ${p.index}`;
      reason.push(
        p.available
          ? `${where} is owned by ${named(l, p.realId)}, which takes it`
          : `${where}: ${named(l, p.realId)}${p.realId === REAL_NONE ? '' : `, which ${p.why}`}`,
      );
    }
    if (realId === null)
      reason.push(
        fallback
          ? `none of the ${probes.length} buckets probed has an available owner`
          : `no fallback${known === 'dh' ? '' : ` (${known}-fallback)`}: nobody takes it`,
      );
    return { kind: 'hash', scheduler: known, realId, dependsOnState: false, hashed, hash, bucket, fallback, probes };
  }
  if (known === 'rr' || known === 'wrr') {
    const next = l.position(svc.id);
    if (next === null) {
      reason.push(`${known}: the service has no position (xlvs_pos entry)`);
      return { kind: 'sequence', scheduler: known, realId: null, dependsOnState: true, next: 0, start: 0, probes: [] };
    }
    const t = view(table, svc.tblSize);
    const start = Number(next % BigInt(svc.tblSize)); // the datapath divides the u64 counter itself
    const realId = seqPick(Array.from(t), start, avail);
    const probes: TraceProbe[] = [];
    for (let k = 0; k < Math.min(svc.tblSize, SEQ_MAX_TRIES); k++) {
      const i = (start + k) % svc.tblSize;
      const p = probe(l, i, t[i]!, svc.id);
      probes.push(p);
      if (p.available) break;
    }
    reason.push(`${known}: the next new connection takes position ${next} of the service's counter: entry ${start} of the ${svc.tblSize}-entry cycle`);
    for (const p of probes)
      reason.push(p.available ? `entry ${p.index}: ${named(l, p.realId)} takes it` : `entry ${p.index}: ${named(l, p.realId)}, which ${p.why}: skipped`);
    if (realId === null) reason.push(`none of the ${probes.length} entries from ${start} is available`);
    reason.push(STATEFUL);
    return { kind: 'sequence', scheduler: known, realId, dependsOnState: true, next: Number(next), start, probes };
  }
  // The datapath scans every other value as its default case does: sed.
  const name: CountsSchedulerName = known === 'lc' || known === 'wlc' || known === 'nq' || known === 'fo' || known === 'ovf' ? known : 'sed';
  const members: TraceMember[] = [];
  const reals: SchedReal[] = [];
  // A slot past the map's end ends the datapath's scan.
  for (let i = 0; i < Math.min(svc.tblSize, table.length); i++) {
    const id = table[i]!;
    const r = l.real(id);
    const c = l.counts(id);
    const why = unavailable(l, id, svc.id) ?? (c ? null : 'has no connection counts');
    const m = {
      realId: id,
      address: r?.address ?? null,
      weight: r?.weight ?? 0,
      active: c?.active ?? 0,
      inactive: c?.inactive ?? 0,
      available: why === null,
      why,
    };
    members.push(m);
    // Unavailable for any reason is what pickByCounts' overloaded flag excludes.
    reals.push({ id, weight: m.weight, active: m.active, inactive: m.inactive, overloaded: why !== null });
  }
  const i = pickByCounts(name, reals);
  const realId = i < 0 ? null : reals[i]!.id;
  reason.push(
    `${known ?? `scheduler ${svc.sched} (scanned as sed)`}: ${COUNT_RULES[name]}, from the live counts of the ${members.length} members (the first of equals wins):`,
  );
  for (const m of members) {
    reason.push(`member ${named(l, m.realId)}: weight ${m.weight}, active ${m.active}, inactive ${m.inactive}${m.why ? `; skipped: it ${m.why}` : ''}`);
  }
  reason.push(realId === null ? 'no member may take it' : `${named(l, realId)} takes it`);
  reason.push(STATEFUL);
  return { kind: 'counts', scheduler: known ?? String(svc.sched), realId, dependsOnState: true, rule: COUNT_RULES[name], members };
}

/**
 * The datapath's order: the connection-table entry, then the service (exact port, else the VIP's port-0 service), its persistence template, and
 * the scheduler. Read-only: what trace says of rr, wrr and the count schedulers is the next new connection's lot.
 */
export function trace(f: TraceFlow, l: TraceLookups): TraceResult {
  const reason: string[] = [];
  const res: Omit<TraceResult, 'verdict'> = { flow: f, entry: null, service: null, persistence: null, schedule: null };
  const done = (verdict: TraceVerdict): TraceResult => ({ ...res, verdict });

  const c = l.conn(f);
  if (c) {
    const r = l.real(c.realId);
    const why = unusable(r, c.svcId);
    const state = stateName(c.state);
    const reopens = c.state === CS.FIN_WAIT || c.state === CS.CLOSE;
    res.entry = { realId: c.realId, svcId: c.svcId, state, usable: why === null, reopensOnBareSyn: reopens };
    if (r && why === null) {
      reason.push(`connection-table entry: ${named(l, c.realId)}, service id ${c.svcId}, state ${state}`);
      reason.push('an existing connection stays on its real: persistence and the scheduler are not consulted');
      if (reopens)
        reason.push(
          `in ${state}, a bare SYN (no ACK, no RST) on this tuple would reopen it: the entry is deleted and the SYN scheduled as a new connection; any other packet stays on this real`,
        );
      return done({ kind: 'existing', real: r, state, reason });
    }
    reason.push(
      `connection-table entry names ${named(l, c.realId)} (state ${state}), which ${why}: the datapath deletes it and schedules the flow as a new connection`,
    );
  } else reason.push('no connection-table entry for this 5-tuple: a new connection');

  const exact = l.service(f.vip, f.vport, f.proto);
  const svc = exact ?? l.service(f.vip, 0, f.proto);
  if (!svc) {
    reason.push(
      `no service ${serviceId({ vip: f.vip, port: f.vport, protocol: f.proto })} and no port-0 service ${serviceId({ vip: f.vip, port: 0, protocol: f.proto })}: the datapath passes the packet to the kernel`,
    );
    return done({ kind: 'no-service', reason });
  }
  const scheduler = schedName(svc.sched) ?? String(svc.sched);
  const flags = [...(svc.flags & SVC_F_HASH_PORT ? ['port'] : []), ...(svc.flags & SVC_F_FALLBACK ? ['fallback'] : [])];
  res.service = {
    id: svc.id,
    vip: f.vip,
    port: exact ? f.vport : 0,
    protocol: protoOf(f.proto) ?? 'udp',
    match: exact ? 'exact' : 'port-0',
    scheduler,
    flags,
    tblSize: svc.tblSize,
    persistTimeout: svc.persistTimeout,
    persistMask: svc.persistMask,
  };
  const desc = `id ${svc.id}, scheduler ${scheduler}${flags.length ? ` (${flags.join(', ')})` : ''}, table of ${svc.tblSize}`;
  reason.push(
    exact
      ? `service ${serviceId({ vip: f.vip, port: f.vport, protocol: f.proto })} (exact port): ${desc}`
      : `no service on port ${f.vport}: the port-0 service ${serviceId({ vip: f.vip, port: 0, protocol: f.proto })} takes every port the exact ones leave: ${desc}`,
  );

  let caddr: string | null = null;
  if (!svc.persistTimeout) reason.push('persistence: off');
  else {
    caddr = maskAddress(f.client, svc.persistMask);
    const key = `${caddr} (mask ${svc.persistMask})`;
    const t = l.template(caddr, svc.id);
    const pers: TracePersistence = { client: caddr, template: t, age: null, honoured: false, uncertain: false };
    res.persistence = pers;
    if (!t) reason.push(`persistence (${svc.persistTimeout} s): no template for ${key}`);
    else if (t.svcId !== svc.id) reason.push(`persistence (${svc.persistTimeout} s): the template for ${key} names service id ${t.svcId}: ignored`);
    else {
      const age = (l.now() - t.lastSeen) | 0; // signed 32-bit seconds, as the datapath's idle_for()
      pers.age = age;
      // The datapath's now is this one or a second less, so at age == timeout it may still honour the template.
      pers.uncertain = age + 1 >= t.timeout && age <= t.timeout;
      const edge = pers.uncertain ? " (within a second of expiry: this clock and the datapath's agree to ±1 s, so it may go either way)" : '';
      const head = `persistence: the template for ${key} names ${named(l, t.realId)}, last used ${age} s ago, timeout ${t.timeout} s`;
      const why = age >= t.timeout ? null : unavailable(l, t.realId, svc.id);
      if (age >= t.timeout) reason.push(`${head}: expired, not honoured${edge}`);
      // Honoured only while its real takes new connections (IPVS expire_quiescent_template=1): drain and health act on it.
      else if (why) reason.push(`${head}: not honoured, the real ${why}`);
      else {
        pers.honoured = true;
        reason.push(`${head}: honoured${edge}; the scheduler is not consulted`);
        return done({ kind: 'new', real: l.real(t.realId)!, by: 'persistence', reason });
      }
    }
  }

  const s = scheduleFor(f, svc, l, reason);
  res.schedule = s;
  const r = s.realId === null ? null : l.real(s.realId);
  if (!r) {
    reason.push("no real can take the connection: dropped (counted in the service's drops)");
    return done({ kind: 'drop', reason });
  }
  if (caddr !== null) reason.push(`the template for ${caddr} is (re)written to ${named(l, r.id)}, timeout ${svc.persistTimeout} s`);
  return done({ kind: 'new', real: r, by: 'scheduler', reason });
}

export function traceText(t: TraceResult): string {
  const head = `${ipvsadmProto(t.flow.proto)} ${formatHostPort(t.flow.client, t.flow.cport)} -> ${formatHostPort(t.flow.vip, t.flow.vport)}`;
  const v = t.verdict;
  let to: string;
  if (v.kind === 'existing') to = `real ${v.real.address} (existing connection, ${v.state})`;
  else if (v.kind === 'new') {
    const s = t.schedule;
    const how =
      v.by === 'persistence'
        ? 'persistence template'
        : s?.dependsOnState
          ? `${s.scheduler}: the next new connection, as of now`
          : (s?.scheduler ?? 'scheduler');
    to = `real ${v.real.address} (new connection, ${how})`;
  } else to = v.kind === 'drop' ? 'dropped (no real can take it)' : 'passed to the kernel (no service)';
  return `${head}: ${to}\n${v.reason.map((r) => `  - ${r}`).join('\n')}\n`;
}
