// SPDX-License-Identifier: Apache-2.0
// controller-port.ts: the controller's boundary: the datapath and host effects it is handed, and the report a change returns.

import type { Counters } from './abi';
import type { Config } from './config';
import type { ConfigDiff } from './configdiff';
import type { RealHealth } from './listing';
import type { Op } from './plan';
import type { SyncEvent, SyncInsert, SyncInsertResult } from './syncdp';

/** What the controller needs from the datapath; the daemon passes the real one, tests an in-memory fake. */
export interface DatapathPort {
  apply(ops: readonly Op[]): void;
  /** Tracked connections whose real is one of ids. */
  connsOf(realIds: ReadonlySet<number>): number;
  /** Counters by service id and by real id (summed over CPUs). */
  counters(): { svc: Map<number, Counters>; real: Map<number, Counters> };
  zero(ids: { svc: number[]; real: number[] }): void;
  /** Every connection-table entry (client, VIP side and the real id it is pinned to). */
  connections?(): { saddr: string; sport: number; daddr: string; dport: number; proto: number; realId: number; state?: number; lastSeen?: number }[];
  /** Tracked connections per real id, as the datapath counts them (active = ESTABLISHED). */
  realConns?(ids: Iterable<number>): Map<number, { active: bigint; inactive: bigint; overloaded: number }>;
  /** Idle timeouts in seconds (ipvsadm --set). */
  setTimeouts?(t: { tcp: number; tcp_fin: number; udp: number }): void;
  /** New connections per second per CPU that consistent-hash services record (xlvs_cfg.nc_budget; 0: no limit). */
  setNewConnBudget?(perCpu: number): void;
  /** Expires idle connections and persistence templates once. */
  sweep?(): Promise<SweepStats>;
  /** Connection sync (master): new and changed connections and templates since the last read; [] on timeout; one reader at a time. */
  readSyncEvents?(timeoutMs: number, maxEvents?: number): Promise<SyncEvent[]>;
  /** Connection sync (backup): inserts or updates entries with this director's ids, in batches through xlvs_syncin. */
  insertSynced?(entries: readonly SyncInsert[]): SyncInsertResult;
  /** Sync records the datapath dropped because the queue to user space was full (summed over CPUs). */
  syncLosses?(): number;
}

/** What the last sweep of the connection table found. */
export interface SweepStats {
  conns: number;
  expired: number;
  templates: number;
  templatesExpired: number;
  /** Entries the connection table holds at its size now (a growable table's live buckets x ways); absent: conn_table_size. */
  capacity?: number;
  /** A resize this sweep made (the table grew or shrank with its flows). */
  resized?: { from: number; to: number; moved: number; outcome: string; ms: number };
  /** The same for the IPv6 table. */
  resized6?: { from: number; to: number; moved: number; outcome: string; ms: number };
}

export interface ControllerEffects {
  datapath: DatapathPort;
  /** Current MAC of each address (null: unresolved); may solicit resolution as a side effect. */
  resolve(addresses: readonly string[]): Map<string, string | null>;
  /** Host checks a config must pass before anything is applied (interface exists, reals on-link); throws UsageError. */
  check(cfg: Config): void;
  /** Writes the config where a restart will read it (atomically). */
  persist(cfg: Config): void;
  /** The set of VIPs the running services use, after every applied change. */
  vipsChanged?(vips: string[]): void;
  log(msg: string, fields?: Record<string, unknown>): void;
  now(): number;
  /** After every applied change (health checks follow the config). */
  applied?(cfg: Config): void;
  /** MACs other than the director's that answered ARP for the VIP (the ARP guard). */
  vipClaims?(vip: string): { mac: string; real: string | null; since: number }[];
  /** Health of one real of one service (healthKey); undefined when it is not checked. */
  health?(key: string): RealHealth | undefined;
}

export interface PlanReport {
  dryRun: boolean;
  ops: string[];
  bucketsMoved: number;
  /** Tracked connections whose real the change removes (they will be rescheduled). */
  connsMoved: number;
  /** A dry run's semantic diff of the running config and the new one (what an operator reads before the counts). */
  changes?: ConfigDiff;
}
