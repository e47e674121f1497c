// SPDX-License-Identifier: Apache-2.0
// statushistory.ts: the last two minutes of packets/s per real, sampled by the daemon, so the status page's chart starts full rather than at page load.

import type { ServiceListing } from '../core/listing';
import { serviceName } from '../core/net/label';

/** Samples kept: one a second, as the page polls. */
export const HISTORY_SAMPLES = 120;

export interface StatusHistory {
  /** ms since the epoch of each sample, oldest first. */
  times: number[];
  /** Per real ("TCP 10.0.0.100:80 → 10.0.0.11", as the page labels it): packets/s at each time (null: not there yet). */
  series: Record<string, (number | null)[]>;
}

/** The page's label of a real's line. */
export function seriesKey(s: Pick<ServiceListing, 'protocol' | 'vip' | 'port'>, real: string): string {
  return `${serviceName(s)} \u2192 ${real}`;
}

/** A ring of samples; reals that went away leave with their series. */
export class HistoryRing {
  private times: number[] = [];
  private series = new Map<string, (number | null)[]>();

  add(now: number, list: readonly ServiceListing[]): void {
    this.times.push(now);
    const seen = new Set<string>();
    for (const s of list)
      for (const r of s.reals) {
        const k = seriesKey(s, r.address);
        seen.add(k);
        let a = this.series.get(k);
        if (!a) {
          a = new Array<number | null>(this.times.length - 1).fill(null);
          this.series.set(k, a);
        }
        a.push(r.rate.inpps);
      }
    for (const k of [...this.series.keys()]) if (!seen.has(k)) this.series.delete(k);
    if (this.times.length > HISTORY_SAMPLES) {
      this.times.shift();
      for (const a of this.series.values()) a.shift();
    }
  }

  snapshot(): StatusHistory {
    return { times: [...this.times], series: Object.fromEntries([...this.series].map(([k, a]) => [k, [...a]])) };
  }
}
