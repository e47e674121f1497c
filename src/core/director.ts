// SPDX-License-Identifier: Apache-2.0
// director.ts: the state the datapath holds per service and real, and what follows from config: service fields, which reals may be scheduled, each service's schedule table.

import { REAL_F_MAC, REAL_F_SCHED, REAL_NONE, SCHED, SVC_F_FALLBACK, SVC_F_HASH_PORT, TBL_MAX } from './abi';
import { persistPrefix6, type ServiceConfig, schedFlags } from './config';
import { maglevTable } from './maglev';
import { isIPv6 } from './net/addr';
import { protoNumber } from './net/proto';
import { wrrSequence } from './sched';

export interface RealState {
  readonly id: number;
  readonly svcId: number;
  readonly address: string;
  /** Effective weight: the configured one, or less while slow start ramps it. */
  readonly weight: number;
  /** The configured weight while slow start ramps `weight` below it (absent: equal to weight); fixes the Maglev base. */
  readonly configWeight?: number;
  /** ipvsadm -x / -y (0: none). */
  readonly uThreshold?: number;
  readonly lThreshold?: number;
  /** Resolved from the neighbour table; null while never known. */
  mac: string | null;
  /**
   * The neighbour entry went away (flushed, link down, INCOMPLETE or FAILED) after mac was known: existing
   * connections keep going to mac, as IPVS keeps a connection on its real whatever the neighbour table does; no new
   * ones are scheduled to it until it resolves again.
   */
  macStale?: true;
  /** Failed its health check: 'keep' lets its connections finish, 'expire' ends them (absent: up or unchecked). */
  down?: 'keep' | 'expire';
}

export interface ServiceState {
  readonly id: number;
  readonly vip: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly proto: number;
  readonly scheduler: string;
  /** XLVS_SVC_F_* from the scheduler flags. */
  readonly flags?: number;
  /** Seconds; 0 or absent: not persistent. */
  readonly persistTimeout?: number;
  /** IPv4: the dotted netmask; IPv6: the prefix length as text ("64"), "128" when none was given. */
  readonly persistMask?: string;
  readonly mhSize: number;
  readonly reals: RealState[];
  /** Entries of the schedule table in use (set once the table is built). */
  tblSize?: number;
}

/** How a scheduler's table is laid out (see xlvs_tbl in bpf/maps.h). */
export type TableKind = 'hash' | 'sequence' | 'list';

export function tableKind(scheduler: string): TableKind {
  if (scheduler === 'mh' || scheduler === 'sh' || scheduler === 'dh') return 'hash';
  if (scheduler === 'rr' || scheduler === 'wrr') return 'sequence';
  return 'list';
}

export function svcFlags(s: Pick<ServiceConfig, 'scheduler' | 'sched_flags'>): number {
  let f = 0;
  for (const fl of schedFlags(s)) {
    if (fl.endsWith('-port')) f |= SVC_F_HASH_PORT;
    if (fl.endsWith('-fallback')) f |= SVC_F_FALLBACK;
  }
  return f;
}

export function schedNumber(scheduler: string): number {
  return SCHED[scheduler as keyof typeof SCHED] ?? SCHED.mh;
}

/** The per-service fields of ServiceState that come straight from config. */
export function serviceFields(s: ServiceConfig): Omit<ServiceState, 'id' | 'reals'> {
  return {
    vip: s.vip,
    port: s.port,
    protocol: s.protocol,
    proto: protoNumber(s.protocol),
    scheduler: s.scheduler,
    flags: svcFlags(s),
    persistTimeout: s.persistence?.timeout ?? 0,
    persistMask: isIPv6(s.vip) ? String(persistPrefix6(s)) : String(s.persistence?.netmask ?? '255.255.255.255'),
    mhSize: s.maglev_size,
  };
}

/**
 * Existing connections need only a MAC; new ones also need weight > 0 and a passing health check. An expired real
 * loses F_MAC too: that is what makes the connection table's entries for it reschedule their flows.
 */
export function realFlags(r: RealState): number {
  if (!r.mac || r.down === 'expire') return 0;
  return REAL_F_MAC | (r.weight > 0 && !r.down && !r.macStale ? REAL_F_SCHED : 0);
}

export function schedulable(r: RealState): boolean {
  return (realFlags(r) & REAL_F_SCHED) !== 0;
}

/**
 * The service's schedule table, a function of its current state alone (never of the table in the datapath), so
 * directors with the same config and health view build the same one. Hash schedulers get maglevTable (configured
 * pool as base, settled to the schedulable reals' shares); sequence schedulers the cycle of schedulable reals (IPVS's
 * wrr order); the connection-count schedulers every member, since the datapath checks availability itself and a
 * health change then needs no new table.
 */
export function serviceTable(s: ServiceState): Uint32Array {
  switch (tableKind(s.scheduler)) {
    case 'hash':
      return hashTable(
        s.reals.map((r) => ({ key: `${r.address}:${s.port}`, weight: schedulable(r) ? r.weight : 0, baseWeight: r.configWeight ?? r.weight, id: r.id })),
        s.mhSize,
      );
    case 'sequence': {
      const live = s.reals.filter(schedulable);
      const weights = live.map((r) => (s.scheduler === 'rr' ? 1 : r.weight));
      return Uint32Array.from(wrrSequence(weights, TBL_MAX).seq, (i) => live[i]!.id);
    }
    case 'list':
      return Uint32Array.from(s.reals, (r) => r.id);
  }
}

/** Hash tables by pool (size, keys, configured and live weights), as indexes into the pool: many VIPs in front of one pool are common. */
const hashTables = new Map<string, Uint32Array>();
const HASH_CACHE = 256;

/** maglevTable, shared between services with the same pool: only the ids differ. */
function hashTable(backends: readonly { key: string; weight: number; baseWeight: number; id: number }[], size: number): Uint32Array {
  const key = `${size}|${backends.map((b) => `${b.key}=${b.baseWeight}/${b.weight}`).join(',')}`;
  let byIndex = hashTables.get(key);
  if (!byIndex) {
    byIndex = maglevTable(
      backends.map((b, i) => ({ key: b.key, weight: b.weight, baseWeight: b.baseWeight, id: i })),
      size,
    );
    if (hashTables.size >= HASH_CACHE) hashTables.delete(hashTables.keys().next().value!);
    hashTables.set(key, byIndex);
  }
  const out = new Uint32Array(size);
  for (let i = 0; i < size; i++) {
    const x = byIndex[i]!;
    out[i] = x === REAL_NONE ? REAL_NONE : backends[x]!.id;
  }
  return out;
}
