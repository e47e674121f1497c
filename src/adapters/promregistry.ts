// SPDX-License-Identifier: Apache-2.0
// promregistry.ts: the Prometheus registry a /metrics scrape reads: node_exporter's IPVS series with an xlvs_ prefix, verdicts, tables, health.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { ctEventFields, type Verdicts, verdictFields } from '../core/abi';
import type { RealHealth, ServiceListing } from '../core/listing';
import { type DirectorInfo, VRRP_ROLES } from '../core/vrrp';
import type { AnnouncerStatus } from './announce';
import type { SyncStats } from './sync';
import { registerSyncMetrics } from './syncmetrics';

/** What a scrape reads; every call goes to the live maps (per-CPU counters summed at scrape time). */
export interface MetricsSource {
  list(): ServiceListing[];
  verdicts(): Verdicts;
  /** Connection-table entries (cached by the caller: a full walk costs too much to do per scrape) and its size. */
  /** capacity6: the IPv6 table's (absent: no IPv6 table to report). */
  connTable(): { entries: number; capacity: number; capacity6?: number; measuredAt: number };
  /** BGP announcements (null: the config has no bgp section). */
  bgp?(): AnnouncerStatus | null;
  /** The daemon's last config (re)load; absent for `xlvs up`, which never reloads. */
  lastReload?(): ReloadResult;
  /** Who this director is and its VRRP role (absent: a source without one, e.g. a test's). */
  director?(): DirectorInfo | undefined;
  /** Connection sync daemons' counters (absent or {}: none running). */
  sync?(): SyncStats;
}

/** The outcome of the daemon's last config load (start, SIGHUP, `POST /v1/reload`); times in ms since the epoch. */
export interface ReloadResult {
  successful: boolean;
  at: number;
  lastSuccessAt: number;
  /** Why it was refused: the running config is the previous one. */
  error?: string;
}

// xlvs's own labels, then node_exporter's IPVS collector's (local_address, local_port, proto; remote_address,
// remote_port, local_mark for backends), so a dashboard built on node_ipvs_* series matches by label unchanged.
const SVC = ['vip', 'port', 'protocol', 'local_address', 'local_port', 'proto'] as const;
const REAL = [...SVC, 'real', 'remote_address', 'remote_port', 'local_mark'] as const;

/** The running build, for xlvs_build_info (read once: the package does not change under a running daemon). */
function buildLabels(): { version: string; nodejs: string; kernel: string } {
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // A relocated dist/ without its package.json: the metric still says which Node and kernel.
  }
  return { version, nodejs: process.version, kernel: os.release() };
}

/** node_exporter's IPVS collector names with an xlvs_ prefix; counters are re-set from the maps on each scrape. */
export function registry(src: MetricsSource): Registry {
  const reg = new Registry();
  let listing: ServiceListing[] = [];
  const svcL = (s: ServiceListing) => ({
    vip: s.vip,
    port: String(s.port),
    protocol: s.protocol,
    local_address: s.vip,
    local_port: String(s.port),
    proto: s.protocol.toUpperCase(),
  });
  // DR: the real receives the service port; no fwmark services, so local_mark is empty as node_exporter leaves it.
  const realL = (s: ServiceListing, r: ServiceListing['reals'][number]) => ({
    ...svcL(s),
    real: r.address,
    remote_address: r.address,
    remote_port: String(s.port),
    local_mark: '',
  });
  const perService = (name: string, help: string, pick: (s: ServiceListing) => number) =>
    new Counter({
      name,
      help,
      labelNames: SVC,
      registers: [reg],
      collect() {
        this.reset();
        for (const s of listing) this.inc(svcL(s), pick(s));
      },
    });
  const perReal = <T extends 'counter' | 'gauge'>(kind: T, name: string, help: string, pick: (r: ServiceListing['reals'][number]) => number) => {
    const cfg = { name, help, labelNames: REAL, registers: [reg] };
    if (kind === 'counter')
      return new Counter({
        ...cfg,
        collect() {
          this.reset();
          for (const s of listing) for (const r of s.reals) this.inc(realL(s, r), pick(r));
        },
      });
    return new Gauge({
      ...cfg,
      collect() {
        this.reset();
        for (const s of listing) for (const r of s.reals) this.set(realL(s, r), pick(r));
      },
    });
  };
  // Families of checked reals only: no sample for a real whose service has no check, or before its first result.
  const perRealHealth = (kind: 'counter' | 'gauge', name: string, help: string, pick: (h: RealHealth) => number | undefined) => {
    const cfg = { name, help, labelNames: REAL, registers: [reg] };
    const each = (f: (labels: ReturnType<typeof realL>, v: number) => void) => {
      for (const s of listing)
        for (const r of s.reals) {
          const v = r.healthDetail ? pick(r.healthDetail) : undefined;
          if (v !== undefined) f(realL(s, r), v);
        }
    };
    if (kind === 'counter')
      return new Counter({
        ...cfg,
        collect() {
          this.reset();
          each((l, v) => this.inc(l, v));
        },
      });
    return new Gauge({
      ...cfg,
      collect() {
        this.reset();
        each((l, v) => this.set(l, v));
      },
    });
  };
  // The first collector to run takes the one listing every family of this scrape shares (a consistent view).
  new Gauge({
    name: 'xlvs_services',
    help: 'Configured virtual services.',
    registers: [reg],
    collect() {
      listing = src.list();
      this.set(listing.length);
    },
  });
  // Read once per scrape by the first of the three (the VIPs may move between two reads).
  let director: DirectorInfo | undefined;
  new Gauge({
    name: 'xlvs_director_info',
    help: "This director: its host name (always 1; join on it to tell two directors' series apart).",
    labelNames: ['host'],
    registers: [reg],
    collect() {
      this.reset();
      director = src.director?.();
      if (director) this.set({ host: director.host }, 1);
    },
  });
  new Gauge({
    name: 'xlvs_vrrp_role',
    help: "1 for this director's VRRP role (master, backup, fault, unknown), from the VIPs it holds and keepalived's notify calls; 0 for the others.",
    labelNames: ['role'],
    registers: [reg],
    collect() {
      this.reset();
      if (director) for (const r of VRRP_ROLES) this.set({ role: r }, director.vrrp.role === r ? 1 : 0);
    },
  });
  new Gauge({
    name: 'xlvs_vrrp_master',
    help: '1 while this director is the VRRP master (holds the VIPs, so traffic comes to it), else 0.',
    registers: [reg],
    collect() {
      this.reset();
      if (director) this.set(director.vrrp.role === 'master' ? 1 : 0);
    },
  });
  perService('xlvs_incoming_packets_total', 'Packets the director forwarded for the service.', (s) => s.stats.packets);
  perService('xlvs_incoming_bytes_total', 'IP bytes the director forwarded for the service.', (s) => s.stats.bytes);
  perService('xlvs_connections_total', 'New connections scheduled for the service.', (s) => s.stats.conns);
  perReal('counter', 'xlvs_backend_packets_total', 'Packets forwarded to the real.', (r) => r.stats.packets);
  perReal('counter', 'xlvs_backend_bytes_total', 'IP bytes forwarded to the real.', (r) => r.stats.bytes);
  perReal('counter', 'xlvs_backend_connections_total', 'New connections scheduled to the real.', (r) => r.stats.conns);
  perReal('gauge', 'xlvs_backend_weight', 'Configured weight of the real.', (r) => r.weight);
  perReal('gauge', 'xlvs_backend_mac_resolved', "1 when the real's MAC is known (the datapath can send to it).", (r) => (r.mac ? 1 : 0));
  perReal('gauge', 'xlvs_backend_up', '1 when the real takes new connections (MAC resolved and weight above 0; health checks refine this).', (r) =>
    r.schedulable ? 1 : 0,
  );
  // As Prometheus and Alertmanager report their own: alert on `xlvs_config_last_reload_successful == 0`.
  if (src.lastReload) {
    const last = src.lastReload.bind(src);
    new Gauge({
      name: 'xlvs_config_last_reload_successful',
      help: "1 when the daemon's last config reload (start, SIGHUP, xlvs reload) succeeded, 0 when it was refused and the previous config runs on.",
      registers: [reg],
      collect() {
        this.set(last().successful ? 1 : 0);
      },
    });
    new Gauge({
      name: 'xlvs_config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last successful config load.',
      registers: [reg],
      collect() {
        this.set(Math.floor(last().lastSuccessAt / 1000));
      },
    });
  }
  new Gauge({
    name: 'xlvs_build_info',
    help: 'Always 1; the labels say which xlvs, Node.js and kernel run the daemon.',
    labelNames: ['version', 'nodejs', 'kernel'],
    registers: [reg],
  }).set(buildLabels(), 1);
  // Process metrics (CPU, memory, file descriptors, event-loop lag) under their standard names.
  collectDefaultMetrics({ register: reg });
  // Each counted check (inconclusive ones, such as a real without a MAC yet, are not), by outcome, and the time they took.
  new Counter({
    name: 'xlvs_health_checks_total',
    help: 'Health checks of the real that counted, by result (success, failure).',
    labelNames: [...REAL, 'result'],
    registers: [reg],
    collect() {
      this.reset();
      for (const s of listing)
        for (const r of s.reals) {
          const h = r.healthDetail;
          if (!h) continue;
          this.inc({ ...realL(s, r), result: 'success' }, h.checks - h.failures);
          this.inc({ ...realL(s, r), result: 'failure' }, h.failures);
        }
    },
  });
  perRealHealth('counter', 'xlvs_health_check_duration_seconds_total', 'Time the counted checks of the real took, probe sent to verdict.', (h) =>
    h.durationMsSum === undefined ? undefined : h.durationMsSum / 1000,
  );
  perRealHealth('gauge', 'xlvs_health_check_last_duration_seconds', 'Time the last counted check of the real took.', (h) =>
    h.lastDurationMs === undefined || h.lastDurationMs === null ? undefined : h.lastDurationMs / 1000,
  );
  // Health checks' verdict (no sample for a real whose service has no check); xlvs_backend_up is what the datapath does with it.
  new Gauge({
    name: 'xlvs_backend_healthy',
    help: '1 when the real passes its health check, 0 when it fails (no sample when unchecked).',
    labelNames: REAL,
    registers: [reg],
    collect() {
      this.reset();
      for (const s of listing) for (const r of s.reals) if (r.health === 'up' || r.health === 'down') this.set(realL(s, r), r.health === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'xlvs_bgp_announced',
    help: '1 while the director announces the VIP to its BGP router, 0 while it withdraws it (no sample without a bgp section).',
    labelNames: ['vip'],
    registers: [reg],
    collect() {
      this.reset();
      for (const v of src.bgp?.()?.vips ?? []) this.set({ vip: v.vip }, v.announced ? 1 : 0);
    },
  });
  new Gauge({
    name: 'xlvs_bgp_drained',
    help: '1 while `xlvs director drain` is in force (every VIP withdrawn), else 0 (no sample without a bgp section).',
    registers: [reg],
    collect() {
      this.reset();
      const b = src.bgp?.();
      if (b) this.set(b.drained ? 1 : 0);
    },
  });
  new Gauge({
    name: 'xlvs_arp_guard_claims',
    help: 'Hosts other than the director claiming the VIP over ARP (answers, announcements), as the ARP guard last saw them (no sample when the guard is off).',
    labelNames: ['vip'],
    registers: [reg],
    collect() {
      this.reset();
      const seen = new Set<string>();
      for (const s of listing) {
        if (!s.arpClaims || seen.has(s.vip)) continue;
        seen.add(s.vip);
        this.set({ vip: s.vip }, s.arpClaims.length);
      }
    },
  });
  perReal(
    'gauge',
    'xlvs_backend_connections_active',
    'Tracked connections to the real in ESTABLISHED (the director infers TCP state from the client side).',
    (r) => r.activeConns ?? 0,
  );
  perReal(
    'gauge',
    'xlvs_backend_connections_inactive',
    'Tracked connections to the real in any other state (SYN_RECV, FIN_WAIT, CLOSE; every UDP flow).',
    (r) => r.inactiveConns ?? 0,
  );
  perReal('gauge', 'xlvs_backend_overloaded', '1 while the real is over its upper connection threshold (takes no new connections).', (r) =>
    r.overloaded ? 1 : 0,
  );
  perReal(
    'gauge',
    'xlvs_backend_effective_weight',
    'Weight the datapath schedules with now: 0 while the real is down or its MAC unknown, the ramp during slow start (node_ipvs_backend_weight).',
    (r) => r.effectiveWeight ?? r.weight,
  );
  perService(
    'xlvs_dropped_connections_total',
    'New connections dropped because no real could take them (all down, weight 0 or overloaded).',
    (s) => s.stats.drops ?? 0,
  );
  new Counter({
    name: 'xlvs_datapath_packets_total',
    help: 'Packets the XDP program saw, by verdict (pass_*: to the kernel, tx_*: forwarded, drop_*/aborted: dropped).',
    labelNames: ['verdict'],
    registers: [reg],
    collect() {
      this.reset();
      const v = src.verdicts();
      for (const f of verdictFields) this.inc({ verdict: f }, Number(v[f]));
    },
  });
  new Counter({
    name: 'xlvs_conn_table_events_total',
    help: 'Connection-table events: ct_evicted (a live entry replaced because its bucket was full; its flow is picked up again on its next packet), ct_untracked (a new connection forwarded but not recorded: an mh/sh/dh flow whose bucket held only live entries, or a claim lost twice to other CPUs), ct_over_budget (a new mh/sh/dh flow forwarded unrecorded past new_conn_budget).',
    labelNames: ['event'],
    registers: [reg],
    collect() {
      this.reset();
      const v = src.verdicts();
      for (const f of ctEventFields) this.inc({ event: f }, Number(v[f]));
    },
  });
  new Gauge({
    name: 'xlvs_conn_table_entries',
    help: 'Entries in the connection table, as the last sweep counted them.',
    registers: [reg],
    collect() {
      this.set(src.connTable().entries);
    },
  });
  new Gauge({
    name: 'xlvs_conn_table_capacity',
    help:
      'Entries the connection table holds at its size now: it grows and shrinks with its flows up to conn_table_size ' +
      '(8 to a bucket: when a bucket is full, the entry nearest its idle timeout goes).',
    registers: [reg],
    collect() {
      this.set(src.connTable().capacity);
    },
  });
  new Gauge({
    name: 'xlvs_conn6_table_capacity',
    help: 'Entries the IPv6 connection table holds at its size now: it grows and shrinks with its IPv6 flows (4 to a bucket).',
    registers: [reg],
    collect() {
      const c = src.connTable().capacity6;
      if (c !== undefined) this.set(c);
    },
  });
  if (src.sync) registerSyncMetrics(reg, src.sync);
  return reg;
}
