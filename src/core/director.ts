// director.ts: the director's desired state derived from config: ids for services and reals, which reals may be scheduled, their Maglev tables.

import { IPPROTO_TCP, IPPROTO_UDP, REAL_F_MAC, REAL_F_SCHED } from './abi';
import type { Config } from './config';
import { buildMaglev } from './maglev';

export interface RealState {
  readonly id: number;
  readonly svcId: number;
  readonly address: string;
  readonly weight: number;
  /** Resolved from the neighbour table; null while unknown or FAILED. */
  mac: string | null;
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
  readonly mhSize: number;
  readonly reals: RealState[];
}

/** Service ids follow config order; real ids are unique per (service, real) pair so counters are per service like IPVS's. */
export function desiredState(cfg: Config): ServiceState[] {
  let nextReal = 0;
  return cfg.services.map((s, i) => ({
    id: i,
    vip: s.vip,
    port: s.port,
    protocol: s.protocol,
    proto: s.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP,
    scheduler: s.scheduler,
    mhSize: s.maglev_size,
    reals: s.reals.map((r) => ({ id: nextReal++, svcId: i, address: r.address, weight: r.weight, mac: null })),
  }));
}

/**
 * Existing connections need only a MAC; new ones also need weight > 0 and a passing health check. An expired real
 * loses F_MAC too: that is what makes every CPU's flow cache and the connection table reschedule its flows.
 */
export function realFlags(r: RealState): number {
  if (!r.mac || r.down === 'expire') return 0;
  return REAL_F_MAC | (r.weight > 0 && !r.down ? REAL_F_SCHED : 0);
}

export function schedulable(r: RealState): boolean {
  return (realFlags(r) & REAL_F_SCHED) !== 0;
}

export function serviceTable(s: ServiceState): Uint32Array {
  return buildMaglev(
    s.reals.map((r) => ({ key: `${r.address}:${s.port}`, weight: schedulable(r) ? r.weight : 0, id: r.id })),
    s.mhSize,
  );
}

export function serviceName(s: { vip: string; port: number; protocol: string }): string {
  return `${s.protocol.toUpperCase()} ${s.vip}:${s.port}`;
}
