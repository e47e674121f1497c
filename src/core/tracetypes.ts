// SPDX-License-Identifier: Apache-2.0
// tracetypes.ts: what `xlvs trace` takes (the flow, the lookups it is given) and what it answers, shared by trace.ts and tracesched.ts.

import type { StatelessLookups, TraceStateless } from './tracestateless';

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
export interface TraceLookups extends StatelessLookups {
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
  /** Where the flow's established TCP packets go without a connection-table read, or null: they read it. */
  stateless: TraceStateless | null;
  verdict: TraceVerdict;
}
