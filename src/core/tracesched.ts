// SPDX-License-Identifier: Apache-2.0
// tracesched.ts: trace's account of schedule() for a new connection: hash, sequence and count schedulers, each step explained.

import { FALLBACK_STRIDE, FALLBACK_TRIES, REAL_F_SCHED, REAL_NONE, SCHED, SEQ_MAX_TRIES, SVC_F_FALLBACK, SVC_F_HASH_PORT } from './abi';
import { type CountsSchedulerName, pickByCounts, pickHashed, type SchedReal, schedHash, seqPick } from './sched';
import type { TraceFlow, TraceLookups, TraceMember, TraceProbe, TraceSchedule, TraceService } from './tracetypes';

export const schedName = (n: number): string | undefined => Object.entries(SCHED).find(([, v]) => v === n)?.[0];
export const hex = (h: number) => `0x${h.toString(16).padStart(8, '0')}`;

export function named(l: TraceLookups, id: number): string {
  if (id === REAL_NONE) return 'no real';
  const r = l.real(id);
  return r ? `real id ${id} (${r.address})` : `real id ${id}`;
}

/** Mirrors available_real(): why a real may not take a new connection of the service, or null when it may. */
export function unavailable(l: TraceLookups, id: number, svcId: number): string | null {
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
export function scheduleFor(f: TraceFlow, svc: TraceService, l: TraceLookups, reason: string[]): TraceSchedule {
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
