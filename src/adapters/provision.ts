// SPDX-License-Identifier: Apache-2.0
// provision.ts: puts a config's services into a loaded datapath by the daemon's own route, plan() then Datapath.apply(), for tests and benchmarks that run no controller.

import type { Config } from '../core/config';
import { type ObservedService, observedAfter, type Plan, plan } from '../core/plan';
import { SYNC_OFF, type SyncSettings } from '../core/syncdp';
import type { Datapath } from './datapath';

/** Each real's MAC as the neighbour table would give it (null: unresolved). */
export type Resolve = (address: string) => string | null;

/**
 * Remembers what it applied, as the controller does, so a second apply writes only the differences, in the same
 * batches the daemon writes them. No slow start, no health checks (`down` stands in for them), no host checks.
 */
export class Provisioner {
  private observed: ObservedService[] = [];
  private timeouts = '';
  /** What a load leaves in xlvs_cfg: emission off. */
  private sync: SyncSettings = SYNC_OFF;

  constructor(private readonly dp: Datapath) {}

  /**
   * Plans cfg's services against what this provisioner applied before, applies the ops, and returns the plan (ids, tables).
   * sync: connection sync settings (default: those applied before, at first emission off).
   */
  apply(cfg: Pick<Config, 'services' | 'timeouts'>, resolve: Resolve, down: ReadonlySet<string> = new Set(), sync: SyncSettings = this.sync): Plan {
    const addresses = new Set(cfg.services.flatMap((s) => [...s.reals.map((r) => r.address), ...(s.sorry_server ? [s.sorry_server] : [])]));
    const p = plan(cfg.services, this.observed, new Map([...addresses].map((a) => [a, resolve(a)])), down, { want: sync, have: this.sync });
    this.dp.apply(p.ops);
    this.observed = observedAfter(p);
    this.sync = p.sync ?? this.sync;
    const timeouts = JSON.stringify(cfg.timeouts);
    if (timeouts !== this.timeouts) {
      this.dp.setTimeouts(cfg.timeouts);
      this.timeouts = timeouts;
    }
    return p;
  }
}
