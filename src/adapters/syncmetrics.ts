// SPDX-License-Identifier: Apache-2.0
// syncmetrics.ts: connection sync in /metrics (xlvs_sync_*): messages and entries by daemon and outcome, drops, losses, and lag.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { SyncStats } from './sync';

/** Registers the xlvs_sync_* series; each scrape re-reads the running daemons' counters (absent daemon: no series). */
export function registerSyncMetrics(reg: Registry, stats: () => SyncStats): void {
  const counter = (name: string, help: string, labelNames: string[], fill: (s: SyncStats, inc: (l: Record<string, string>, v: number) => void) => void) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        fill(stats(), (l, v) => this.inc(l, v));
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], fill: (s: SyncStats, set: (l: Record<string, string>, v: number) => void) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        fill(stats(), (l, v) => this.set(l, v));
      },
    });
  counter('xlvs_sync_messages_total', 'Sync messages sent (role master) or received (role backup).', ['role'], (s, inc) => {
    if (s.master) inc({ role: 'master' }, s.master.sentMessages);
    if (s.backup) inc({ role: 'backup' }, s.backup.receivedMessages);
  });
  counter(
    'xlvs_sync_entries_total',
    'Sync entries by outcome: sent (master); received, inserted, updated, refused (unknown service or real, no room), ' +
      'skipped (kinds xlvs does not take: other protocols, states, mandatory options, engine data) (backup).',
    ['role', 'outcome'],
    (s, inc) => {
      if (s.master) inc({ role: 'master', outcome: 'sent' }, s.master.sentEntries);
      if (s.backup)
        for (const o of ['received', 'inserted', 'updated', 'refused', 'skipped'] as const)
          inc({ role: 'backup', outcome: o }, s.backup[o === 'received' ? 'receivedEntries' : o]);
    },
  );
  counter(
    'xlvs_sync_messages_dropped_total',
    'Sync messages the backup dropped: malformed (as the kernel drops them), or of another syncid.',
    ['reason'],
    (s, inc) => {
      if (s.backup) {
        inc({ reason: 'malformed' }, s.backup.malformed);
        inc({ reason: 'syncid' }, s.backup.ignored);
      }
    },
  );
  counter('xlvs_sync_losses_total', 'Sync records lost: the datapath found its queue to the master full, or a send failed.', ['where'], (s, inc) => {
    if (s.master) {
      inc({ where: 'datapath' }, s.master.datapathLosses);
      inc({ where: 'send' }, s.master.sendErrors);
    }
  });
  gauge('xlvs_sync_lag_entries', 'Entries behind: read from the datapath and not sent (master), received and not inserted (backup).', ['role'], (s, set) => {
    if (s.master) set({ role: 'master' }, s.master.entriesBehind);
    if (s.backup) set({ role: 'backup' }, s.backup.entriesBehind);
  });
  gauge(
    'xlvs_sync_lag_milliseconds',
    'Per-entry delay over the last 8192 entries: datapath stamp to send (master), arrival to insert (backup).',
    ['role', 'quantile'],
    (s, set) => {
      for (const role of ['master', 'backup'] as const) {
        const l = s[role]?.lagMs;
        if (!l) continue;
        set({ role, quantile: '0.5' }, l.p50);
        set({ role, quantile: '0.99' }, l.p99);
      }
    },
  );
}
