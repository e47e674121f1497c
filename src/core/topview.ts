// SPDX-License-Identifier: Apache-2.0
// topview.ts: what `xlvs top` draws: a frame of services, reals and rates, with a packets/s sparkline per real kept across frames.

import type { ServiceListing } from './listing';
import { serviceId, serviceName } from './net/label';

const BARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
export const HISTORY = 30;

/** The last HISTORY packets/s readings of each real, keyed "vip:port/proto real". */
export type History = Map<string, number[]>;

export function realKey(s: ServiceListing, address: string): string {
  return `${serviceId(s)} ${address}`;
}

export function record(h: History, l: readonly ServiceListing[]): void {
  const seen = new Set<string>();
  for (const s of l)
    for (const r of s.reals) {
      const k = realKey(s, r.address);
      seen.add(k);
      const a = h.get(k) ?? [];
      a.push(r.rate.inpps);
      if (a.length > HISTORY) a.shift();
      h.set(k, a);
    }
  for (const k of [...h.keys()]) if (!seen.has(k)) h.delete(k); // a removed real takes its history with it
}

/** Scaled to its own peak, so a quiet real still shows its shape; all zeros draw the lowest bar. */
export function sparkline(v: readonly number[], ascii = false): string {
  const max = Math.max(0, ...v);
  const bars = ascii ? ['_', '.', '-', '=', '#'] : BARS;
  return v.map((x) => (max === 0 ? bars[0]! : bars[Math.min(bars.length - 1, Math.floor((x / max) * (bars.length - 1) + 0.5))]!)).join('');
}

function human(n: number): string {
  if (n < 1000) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let x = n;
  let u = -1;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)}${units[u]}`;
}

export interface FrameOptions {
  color: boolean;
  now: Date;
  source: string;
  ascii?: boolean;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/**
 * A failed health check first, then what the datapath can do: no MAC, drained (weight 0), or taking new connections:
 * `up` when a check says so, `unchecked` (as `xlvs list` says) when no check runs.
 */
export function health(r: ServiceListing['reals'][number]): string {
  return r.health === 'down' ? 'down' : !r.mac ? 'no-mac' : !r.schedulable ? 'drained' : r.health === 'unchecked' ? 'unchecked' : 'up';
}

export function frame(l: readonly ServiceListing[], h: History, o: FrameOptions): string {
  const rows: string[][] = [['SERVICE / REAL', 'WEIGHT', 'HEALTH', 'CONN/S', 'PKT/S', 'BYTE/S', 'CONNS', 'PACKETS', `PKT/S (last ${HISTORY}s)`]];
  const kinds: ('svc' | 'up' | 'down')[] = ['svc'];
  for (const s of l) {
    rows.push([serviceName(s), '', '', human(s.rate.cps), human(s.rate.inpps), human(s.rate.inbps), human(s.stats.conns), human(s.stats.packets), '']);
    kinds.push('svc');
    for (const r of s.reals) {
      const st = health(r);
      rows.push([
        `  -> ${r.address}`,
        String(r.weight),
        st,
        human(r.rate.cps),
        human(r.rate.inpps),
        human(r.rate.inbps),
        human(r.stats.conns),
        human(r.stats.packets),
        sparkline(h.get(realKey(s, r.address)) ?? [], o.ascii),
      ]);
      kinds.push(st === 'up' || st === 'unchecked' ? 'up' : 'down');
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r, i) => {
    const text = r
      .map((c, j) => (j === r.length - 1 ? c : j >= 3 && j <= 7 ? c.padStart(widths[j]!) : c.padEnd(widths[j]!)))
      .join('  ')
      .trimEnd();
    if (i === 0) return paint(o.color, '1;7', text);
    if (kinds[i] === 'svc') return paint(o.color, '1', text);
    return kinds[i] === 'down' ? paint(o.color, '31', text) : text;
  });
  const reals = l.reduce((n, s) => n + s.reals.length, 0);
  const head = `xlvs top - ${o.now.toISOString().slice(11, 19)} UTC - ${l.length} services, ${reals} reals - ${o.source}`;
  return `${paint(o.color, '1', head)}\n\n${l.length ? lines.join('\n') : 'no services configured'}\n`;
}
