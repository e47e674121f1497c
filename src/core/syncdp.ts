// SPDX-License-Identifier: Apache-2.0
// syncdp.ts: connection sync as the datapath sees it: the events it reports, the entries it takes in, and the settings plan() writes.

/** One new or changed connection, or persistence template, the datapath reported while sync emission is on. */
export interface SyncEvent {
  /** 6 or 17. */
  proto: number;
  /** Template: the client address masked by the service's persist mask, cport 0 (as IPVS templates). */
  caddr: string;
  cport: number;
  vaddr: string;
  /** Template: the service's port (0 for a port-0 service). */
  vport: number;
  /** The real's IPv4 (xlvs_reals.addr). */
  raddr: string;
  /** XLVS_CS_* (templates: XLVS_CS_NONE). */
  state: number;
  template: boolean;
  /** The emitting director's own ids: a peer maps (vaddr, vport, proto, raddr) to its ids before insertSynced. */
  svcId: number;
  realId: number;
  /** How long ago the datapath recorded it (ktime now - record stamp). */
  ageMs: number;
}

/** One connection or template to insert or update; svcId and realId are this director's ids. */
export interface SyncInsert {
  proto: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  svcId: number;
  realId: number;
  state: number;
  template: boolean;
}

/** What one insertSynced call did: updated = the key existed (its state and real are now the synced ones). */
export interface SyncInsertResult {
  inserted: number;
  updated: number;
  /** Unknown service or real id, a table with no free or expired way for it, or a per-CPU connection table. */
  refused: number;
}

/**
 * What plan() makes the datapath do for sync (xlvs_cfg fields): emit = report new and changed connections and
 * templates (the master side; off by default, and off after every load).
 */
export interface SyncSettings {
  emit: boolean;
}

export const SYNC_OFF: SyncSettings = { emit: false };

/**
 * Why a director with this setting cannot take synced connections (undefined: it can). With conn_table_per_cpu each
 * CPU looks flows up in its own slice, so an entry inserted from user space would be found by one CPU only.
 */
export function syncBackupProblem(connTablePerCpu: boolean): string | undefined {
  return connTablePerCpu
    ? 'conn_table_per_cpu: true cannot take synced connections (each CPU has its own slice of the table; a synced flow would be found on one CPU only)'
    : undefined;
}
