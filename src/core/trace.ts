// trace.ts: where a flow goes and why, decided the way bpf/xlvs.bpf.c decides it, over lookups the caller injects.

import { flowHash } from './flowhash';
import { REAL_F_MAC, REAL_F_SCHED, REAL_NONE } from './abi';

export interface TraceFlow { client: string; cport: number; vip: string; vport: number; proto: number }

export interface TraceReal { id: number; address: string; svcId: number; flags: number; mac: string }

/** The maps trace reads; the adapter backs them with the pinned maps, tests with plain objects. */
export interface TraceLookups {
  conn(f: TraceFlow): { realId: number; svcId: number } | null;
  service(vip: string, port: number, proto: number): { id: number; mhSize: number } | null;
  /** The Maglev table's owner of a bucket; null when the service has no table. */
  bucket(svcId: number, bucket: number): number | null;
  real(id: number): TraceReal | null;
}

export type TraceVerdict =
  | { kind: 'existing'; real: TraceReal; reason: string[] }
  | { kind: 'new'; real: TraceReal; bucket: number; hash: number; reason: string[] }
  | { kind: 'drop'; bucket: number | null; hash: number; reason: string[] }
  | { kind: 'no-service'; reason: string[] };

export interface TraceResult { flow: TraceFlow; verdict: TraceVerdict }

/** Mirrors the datapath's usable_real(): a recorded flow is honoured only while its real has a MAC and still serves the flow's service. */
function usable(r: TraceReal | null, svcId: number): boolean {
  return !!r && (r.flags & REAL_F_MAC) !== 0 && r.svcId === svcId;
}

/**
 * Established first (the per-CPU flow cache only ever mirrors connection-table entries, so the table answers
 * for it), then the service and its Maglev bucket; persistence does not exist yet, so it never decides.
 */
export function trace(f: TraceFlow, l: TraceLookups): TraceResult {
  const reason: string[] = [];
  const c = l.conn(f);
  if (c) {
    const r = l.real(c.realId);
    if (r && usable(r, c.svcId)) {
      reason.push(`connection-table entry: real id ${c.realId} (service id ${c.svcId})`, 'an established flow stays on its real; the Maglev table is not consulted', 'persistence: not implemented (no sticky state consulted)');
      return { flow: f, verdict: { kind: 'existing', real: r, reason } };
    }
    const why = !r ? 'does not exist' : !(r.flags & REAL_F_MAC) ? 'has no MAC' : 'no longer belongs to that service';
    reason.push(`connection-table entry names real id ${c.realId}, which ${why}: rescheduled as a new flow`);
  } else reason.push('no connection-table entry for this 5-tuple: a new flow');
  const svc = l.service(f.vip, f.vport, f.proto);
  const proto = f.proto === 6 ? 'tcp' : 'udp';
  if (!svc) {
    reason.push(`no service ${f.vip}:${f.vport}/${proto}: the datapath passes the packet to the kernel`);
    return { flow: f, verdict: { kind: 'no-service', reason } };
  }
  const hash = flowHash(f.client, f.vip, f.cport, f.vport, f.proto);
  reason.push('persistence: not implemented (no sticky state consulted)');
  if (!svc.mhSize) {
    reason.push('the service has no Maglev table: dropped');
    return { flow: f, verdict: { kind: 'drop', bucket: null, hash, reason } };
  }
  const bucket = hash % svc.mhSize;
  const owner = l.bucket(svc.id, bucket);
  reason.push(`flow hash 0x${hash.toString(16).padStart(8, '0')} % ${svc.mhSize} = bucket ${bucket}`);
  if (owner === null || owner === REAL_NONE) {
    reason.push(owner === null ? 'the service has no Maglev table: dropped' : `bucket ${bucket} has no owner (no schedulable real): dropped`);
    return { flow: f, verdict: { kind: 'drop', bucket, hash, reason } };
  }
  const r = l.real(owner);
  if (!r || !(r.flags & REAL_F_SCHED)) {
    reason.push(`bucket ${bucket} names real id ${owner}, which takes no new connections: dropped`);
    return { flow: f, verdict: { kind: 'drop', bucket, hash, reason } };
  }
  reason.push(`bucket ${bucket} is owned by real id ${owner} (${r.address})`);
  return { flow: f, verdict: { kind: 'new', real: r, bucket, hash, reason } };
}

export function traceText(t: TraceResult): string {
  const p = t.flow.proto === 6 ? 'TCP' : 'UDP';
  const head = `${p} ${t.flow.client}:${t.flow.cport} -> ${t.flow.vip}:${t.flow.vport}`;
  const v = t.verdict;
  const to = v.kind === 'existing' || v.kind === 'new' ? `real ${v.real.address} (${v.kind === 'existing' ? 'existing connection' : 'new connection'})` : v.kind === 'drop' ? 'dropped (no real)' : 'passed to the kernel (no service)';
  return `${head}: ${to}\n${v.reason.map((r) => `  - ${r}`).join('\n')}\n`;
}
