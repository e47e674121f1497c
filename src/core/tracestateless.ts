// SPDX-License-Identifier: Apache-2.0
// tracestateless.ts: whether a flow's established TCP packets take the datapath's stateless path (stateless() and stateless6()), for trace.

import { SVC_F_HASH_PORT, TBL_MOVED, TBL_REAL_MASK } from './abi';
import { schedHash } from './sched';

/** The service fields the stateless path reads (trace's TraceService). */
export interface StatelessService {
  id: number;
  flags: number;
  tblSize: number;
  persistTimeout: number;
}

export interface StatelessLookups {
  /** The raw entry at `bucket` of the service's schedule table (owner and marks), or null past the table's end. */
  tableEntry(svcId: number, bucket: number): number | null;
}

/** Where an established TCP packet (no SYN, FIN or RST) of the flow goes without reading the connection table. */
export interface TraceStateless {
  bucket: number;
  realId: number;
}

/**
 * Mirrors stateless(): a TCP flow of an mh, sh or dh service without persistence whose bucket is not marked MOVED
 * (XLVS_REAL_NONE reads as marked) and whose owner may take new connections (`available`, available_real()) has its
 * established packets forwarded to that owner by the hash. Null when they take the connection-table path.
 */
export function statelessFor(
  f: { client: string; cport: number; vip: string; vport: number; proto: number },
  svc: StatelessService,
  scheduler: string | undefined,
  l: StatelessLookups,
  available: (realId: number) => boolean,
): TraceStateless | null {
  const sched = scheduler === 'mh' || scheduler === 'sh' || scheduler === 'dh' ? scheduler : null;
  if (f.proto !== 6 || !sched || svc.persistTimeout || !svc.tblSize) return null;
  const port = (svc.flags & SVC_F_HASH_PORT) !== 0 && sched !== 'dh';
  const hash = schedHash(sched, { port }, { saddr: f.client, daddr: f.vip, sport: f.cport, dport: f.vport, proto: f.proto });
  const bucket = hash % svc.tblSize;
  const raw = l.tableEntry(svc.id, bucket);
  if (raw === null || (raw & TBL_MOVED) !== 0) return null;
  const realId = (raw & TBL_REAL_MASK) >>> 0;
  return available(realId) ? { bucket, realId } : null;
}
