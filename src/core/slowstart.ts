// SPDX-License-Identifier: Apache-2.0
// slowstart.ts: slow-start ramps: which reals (healthKey) are ramping since when, and the weights the plan gives them meanwhile.

import type { RealConfig, ServiceConfig } from './config';
import { serviceTag } from './net/label';
import { healthKey, type ObservedService, svcKey } from './plan';

export class SlowStart {
  /** When each ramping real (healthKey) joined or recovered. */
  private readonly ramps = new Map<string, number>();

  /** now: the controller's clock (ControllerEffects.now), so a ramp and the plan that steps it read the same time. */
  constructor(private readonly now: () => number) {}

  /** Whether any real is ramping: while one is, every periodic sync re-plans (each step is a table update). */
  get active(): boolean {
    return this.ramps.size > 0;
  }

  /** A recovered real (healthKey) ramps up again if its service has slow start. */
  start(key: string, services: readonly ServiceConfig[]): void {
    const svc = services.find((s) => key.startsWith(`${serviceTag(s)}/`));
    if (svc?.slow_start_s) this.ramps.set(key, this.now());
  }

  /** Reals added to a running slow-start service start ramping (a fresh director's reals all start together: no ramp). */
  noteNewReals(services: readonly ServiceConfig[], observed: (key: string) => ObservedService | undefined): void {
    for (const s of services) {
      if (!s.slow_start_s) continue;
      const o = observed(svcKey(s.vip, s.port, s.protocol));
      if (!o) continue;
      const had = new Set(o.reals.map((r) => r.address));
      for (const r of s.reals) if (!had.has(r.address)) this.ramps.set(healthKey(s, r.address), this.now());
    }
  }

  /**
   * A ramping real's weight grows linearly from 1 to its configured weight over slow_start_s; the periodic
   * sync re-plans, so each step is an ordinary table update (base kept, see maglevTable). Finished ramps are forgotten.
   */
  ramped(services: readonly ServiceConfig[]): ServiceConfig[] {
    if (!this.ramps.size) return services as ServiceConfig[];
    const now = this.now();
    return services.map((s) => {
      if (!s.slow_start_s) return s;
      const span = s.slow_start_s * 1000;
      return {
        ...s,
        reals: s.reals.map((r) => {
          const k = healthKey(s, r.address);
          const t0 = this.ramps.get(k);
          if (t0 === undefined) return r;
          if (now - t0 >= span || r.weight === 0) {
            this.ramps.delete(k);
            return r;
          }
          // configWeight keeps the Maglev base on the configured pool, so each step moves only what the shares require.
          return { ...r, weight: Math.max(1, Math.floor((r.weight * (now - t0)) / span)), configWeight: r.weight };
        }),
      };
    });
  }

  /** The weight a real has in the datapath now (below its configured weight while slow start ramps it). */
  effectiveWeight(s: ServiceConfig, r: RealConfig): number {
    const t0 = this.ramps.get(healthKey(s, r.address));
    if (t0 === undefined || !s.slow_start_s) return r.weight;
    return Math.min(r.weight, Math.max(1, Math.floor((r.weight * (this.now() - t0)) / (s.slow_start_s * 1000))));
  }
}
