// SPDX-License-Identifier: Apache-2.0
// trace.ts: where a flow goes and why, decided the way bpf/xlvs.bpf.c decides it, over lookups the caller injects.

import { CS, REAL_F_MAC, SVC_F_FALLBACK, SVC_F_HASH_PORT } from './abi';
import { formatHostPort } from './net/addr';
import { serviceId } from './net/label';
import { maskAddress } from './net/prefix';
import { ipvsadmProto, protoOf } from './net/proto';
import { named, schedName, scheduleFor, unavailable } from './tracesched';
import { statelessFor, type TraceStateless } from './tracestateless';
import type { TraceEntry, TraceFlow, TraceLookups, TracePersistence, TraceReal, TraceResult, TraceService, TraceVerdict } from './tracetypes';

export type {
  TraceConn,
  TraceCounts,
  TraceEntry,
  TraceFlow,
  TraceLookups,
  TraceMember,
  TracePersistence,
  TraceProbe,
  TraceReal,
  TraceResult,
  TraceSchedule,
  TraceService,
  TraceServiceMatch,
  TraceTemplate,
  TraceVerdict,
} from './tracetypes';

const stateName = (s: number): string => Object.entries(CS).find(([, v]) => v === s)?.[0] ?? `state ${s}`;

/** Mirrors usable_real(): why a recorded flow's real is no longer forwarded to, or null. */
function unusable(r: TraceReal | null, svcId: number): string | null {
  if (!r) return 'does not exist';
  if (!(r.flags & REAL_F_MAC)) return 'has no MAC';
  return r.svcId !== svcId ? `now belongs to service id ${r.svcId}` : null;
}

/** The stateless path's answer for the flow's established packets (stateless() runs before the entry's lookup), with its reasons. */
function statelessOf(f: TraceFlow, l: TraceLookups, found: TraceService | null | undefined, entry: TraceEntry | null, reason: string[]): TraceStateless | null {
  const svc = found === undefined ? (l.service(f.vip, f.vport, f.proto) ?? l.service(f.vip, 0, f.proto)) : found;
  if (!svc) return null;
  const s = statelessFor(f, svc, schedName(svc.sched), l, (id) => unavailable(l, id, svc.id) === null);
  if (!s) return null;
  reason.push(
    `an established TCP packet (no SYN, FIN or RST) takes the stateless path: bucket ${s.bucket} is not marked moved and its owner, ` +
      `${named(l, s.realId)}, takes new connections, so it goes there by the hash without reading the connection table ` +
      "(and sets its bucket's xlvs_seen bit, which the sweeper counts as the traffic of the flow's entry); without an entry it is not recorded",
  );
  if (entry && entry.realId !== s.realId)
    reason.push(
      `inconsistent: the entry names ${named(l, entry.realId)}, not the owner of its unmarked bucket: its established packets ` +
        "would move to the owner (every live entry in an unmarked bucket should be the owner's; report this)",
    );
  return s;
}

/**
 * The datapath's order: the connection-table entry, then the service (exact port, else the VIP's port-0 service), its persistence template, and
 * the scheduler. Read-only: what trace says of rr, wrr and the count schedulers is the next new connection's lot.
 */
export function trace(f: TraceFlow, l: TraceLookups): TraceResult {
  const reason: string[] = [];
  const res: Omit<TraceResult, 'verdict'> = { flow: f, entry: null, service: null, persistence: null, schedule: null, stateless: null };
  // The flow's service once looked up (null: none), for the stateless path's answer.
  let found: TraceService | null | undefined;
  const done = (verdict: TraceVerdict): TraceResult => {
    res.stateless = statelessOf(f, l, found, res.entry, reason);
    return { ...res, verdict };
  };

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
  found = svc;
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
