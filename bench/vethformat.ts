// SPDX-License-Identifier: Apache-2.0
// vethformat.ts: the veth benchmark's table rows (Mpps, ratios to bare and nftables, the datapath's counters) and issue 19's targets.

import { type Flows, flowsLabel } from './flows';
import type { DirCounters } from './vethdir';

export type VethCaseName = 'bare' | 'nftables' | 'xlvs mh' | 'xlvs wrr';

export interface VethRow {
  flows: Flows;
  case: VethCaseName;
  /** Frames per second that came back to the generator, median of the rounds. */
  pps: number;
  /** What the generator offered in the median round. */
  sent_pps: number;
  /** Per round, so the spread is visible. */
  spread: number[];
  /** xlvs rows: what the datapath counted over every round (tx_existing: found its entry; tx_stateless: no entry needed; tx_new: scheduled). */
  counters?: DirCounters;
  /** Bare and xlvs rows: ns per run of the XDP program in place, from one extra run with bpf_stats on. */
  prog_ns?: number;
}

/** The pre-fill of an established datapath: passes over its flows until one schedules (almost) none. */
export interface VethWarm {
  scheduler: string;
  flows: number;
  passes: number;
  frames: number;
  /** Flows the last pass still had to schedule. */
  last_pass_new: number;
}

export interface VethResult {
  ms: number;
  rounds: number;
  counts: Flows[];
  rows: VethRow[];
  warm: VethWarm[];
}

/** Issue 19's end-to-end targets, as a fraction of the bare program at the same flow count: mh at 65,536 and 1M flows 0.85, wrr at 65,536 0.7. */
export function vethTarget(c: VethCaseName, flows: Flows): number | undefined {
  if (c === 'xlvs mh' && flows !== 'new' && flows >= 65536) return 0.85;
  if (c === 'xlvs wrr' && flows === 65536) return 0.7;
  return undefined;
}

const pct = (n: number, of: number) => `${of ? ((100 * n) / of).toFixed(n && n < of / 1000 ? 3 : 1) : '0'} %`;

/** The table rows (case, Mpps, note), for run.ts. */
export function formatVeth(r: VethResult): [string, string, string][] {
  const rows: [string, string, string][] = [
    [`end to end on veth, 64-byte TCP (Mpps, median of ${r.rounds} rounds of ${r.ms} ms; director on its own core)`, '', ''],
  ];
  for (const w of r.warm)
    rows.push([
      `  xlvs ${w.scheduler} pre-filled with ${w.flows.toLocaleString('en')} flows`,
      '',
      `${w.passes} passes, ${w.frames.toLocaleString('en')} frames; the last scheduled ${w.last_pass_new}`,
    ]);
  for (const flows of r.counts) {
    const of = (c: VethCaseName) => r.rows.find((x) => x.flows === flows && x.case === c)!;
    const bare = of('bare'),
      nft = of('nftables');
    rows.push([`  ${flowsLabel(flows)}`, '', '']);
    rows.push([
      `    bare MAC-swap XDP_TX`,
      (bare.pps / 1e6).toFixed(2),
      `generator offered ${(bare.sent_pps / 1e6).toFixed(2)}${bare.prog_ns === undefined ? '' : `; program ${Math.round(bare.prog_ns)} ns/frame in place`}`,
    ]);
    rows.push([`    nftables netdev ingress (jhash map + fwd)`, (nft.pps / 1e6).toFixed(2), `${(nft.pps / bare.pps).toFixed(2)}x bare`]);
    for (const c of ['xlvs mh', 'xlvs wrr'] as const) {
      const x = of(c);
      const k = x.counters!;
      const fwd = k.tx_existing + k.tx_stateless + k.tx_new;
      const t = vethTarget(c, flows);
      rows.push([
        `    ${c}`,
        (x.pps / 1e6).toFixed(2),
        [
          `${(x.pps / bare.pps).toFixed(2)}x bare, ${(x.pps / nft.pps).toFixed(1)}x nftables`,
          ...(x.prog_ns === undefined || bare.prog_ns === undefined
            ? []
            : [`program ${Math.round(x.prog_ns)} ns/frame in place (+${Math.round(x.prog_ns - bare.prog_ns)} over bare)`]),
          `rounds ${x.spread.map((p) => (p / 1e6).toFixed(2)).join(' ')}`,
          `found their entry ${pct(k.tx_existing, fwd)}, stateless ${pct(k.tx_stateless, fwd)}, scheduled ${pct(k.tx_new, fwd)}${k.ct_over_budget ? ` (${pct(k.ct_over_budget, fwd)} unrecorded, over budget)` : ''}`,
          ...(k.other
            ? [
                `${k.other} not forwarded (${Object.entries(k.other_by)
                  .filter(([, n]) => n)
                  .map(([v, n]) => `${v} ${n}`)
                  .join(', ')})`,
              ]
            : []),
          ...(t === undefined ? [] : [`issue 19 target >= ${t}x bare: ${x.pps >= t * bare.pps ? 'met' : 'not met'}`]),
        ].join('; '),
      ]);
    }
  }
  return rows;
}
