// SPDX-License-Identifier: Apache-2.0
// maglevmoves.ts: Maglev buckets one change moves for N equal reals: the minimum, the old incremental rebuild, the history-free table.

import { MH_DEFAULT_SIZE } from '../src/core/abi';
import { buildMaglev, type MaglevBackend, maglevQuotas, maglevTable, movedFraction, scatterOrder } from '../src/core/maglev';

export interface MaglevMovesRow {
  change: 'remove one' | 'add one' | 'weight x2' | 'one down';
  reals: number;
  /** Fractions of the table's buckets whose real changed. */
  minimal: number;
  old_incremental: number;
  history_free: number;
}

export interface MaglevMovesResult {
  size: number;
  rows: MaglevMovesRow[];
  /** maglevTable at size x 1,000 reals of weights 1..5, median ms: after a config edit (base rebuilt), and with 100 down (base reused). */
  table_1000_edit_ms: number;
  table_1000_down_ms: number;
}

/**
 * The rebuild xlvs used before issue 17, kept here only to measure against: it updated the table in the datapath,
 * each live owner keeping its buckets (in a fixed scattered order) up to its exact quota, and handed the rest out
 * in a weighted round-robin. The fewest moves possible, but the result depended on the table it started from.
 */
function oldRebuild(previous: Uint32Array, backends: readonly MaglevBackend[], size: number): Uint32Array {
  const live = backends.filter((b) => b.weight > 0).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const quotaOf = maglevQuotas(live, size);
  const index = new Map(live.map((b, i) => [b.id, i]));
  const order = scatterOrder(size);
  const table = new Uint32Array(size);
  const kept = new Uint32Array(live.length);
  const free: number[] = [];
  for (let j = 0; j < size; j++) {
    const b = order[j]!;
    const i = index.get(previous[b]!);
    if (i !== undefined && kept[i]! < quotaOf[i]!) {
      kept[i]!++;
      table[b] = previous[b]!;
    } else free.push(b);
  }
  const f = free.length;
  const slots: [number, number][] = [];
  live.forEach((_, i) => {
    const d = quotaOf[i]! - kept[i]!;
    for (let k = 0; k < d; k++) slots.push([Math.floor(((2 * k + 1) * f) / (2 * d)), i]);
  });
  slots.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  slots.forEach(([, i], j) => (table[free[j]!] = live[i]!.id));
  return table;
}

/** Buckets that must change hands between two sets of exact shares: what each key gains, summed. */
function minimalMoves(before: readonly MaglevBackend[], after: readonly MaglevBackend[], size: number): number {
  const qb = maglevQuotas(before, size),
    qa = maglevQuotas(after, size);
  const had = new Map(before.map((b, i) => [b.key, qb[i]!]));
  let gained = 0;
  after.forEach((b, i) => (gained += Math.max(0, qa[i]! - (had.get(b.key) ?? 0))));
  return gained / size;
}

const equal = (n: number): MaglevBackend[] => Array.from({ length: n }, (_, i) => ({ key: `10.${(i >> 8) & 255}.${i & 255}.1:80`, weight: 1, id: i }));

export function maglevMoves(short: boolean): MaglevMovesResult {
  const size = MH_DEFAULT_SIZE;
  const rows: MaglevMovesRow[] = [];
  for (const n of short ? [2, 10, 100] : [2, 10, 100, 1000]) {
    const before = equal(n);
    const changes: [MaglevMovesRow['change'], MaglevBackend[]][] = [
      ['remove one', before.slice(1)],
      ['add one', equal(n + 1)],
      ['weight x2', before.map((b) => (b.id === 0 ? { ...b, weight: 2 } : b))],
      // Down: out of the schedulable set, still in the configured pool (baseWeight), as serviceTable passes it.
      ['one down', before.map((b) => (b.id === 0 ? { ...b, weight: 0, baseWeight: 1 } : b))],
    ];
    // The old code's steady state: its first table was the Maglev fill settled by one rebuild.
    const oldBefore = oldRebuild(buildMaglev(before, size), before, size);
    const newBefore = maglevTable(before, size);
    for (const [change, after] of changes) {
      rows.push({
        change,
        reals: n,
        minimal: minimalMoves(before, after, size),
        old_incremental: movedFraction(oldBefore, oldRebuild(oldBefore, after, size)),
        history_free: movedFraction(newBefore, maglevTable(after, size)),
      });
    }
  }
  // Timings at 1,000 reals of weights 1..5: a config edit rebuilds the base (each round a different weight, so no
  // cache can answer); a health change (100 down) settles the cached base.
  const pool = (edit: number, down: boolean): MaglevBackend[] =>
    Array.from({ length: 1000 }, (_, i) => {
      const w = i === 0 ? 1 + edit : 1 + (i % 5);
      return { key: `10.${(i >> 8) & 255}.${i & 255}.1:80`, weight: down && i % 10 === 5 ? 0 : w, baseWeight: w, id: i };
    });
  const median = (f: (r: number) => void): number => {
    const times: number[] = [];
    for (let r = 0; r < (short ? 3 : 11); r++) {
      const t0 = process.hrtime.bigint();
      f(r);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return times.sort((a, b) => a - b)[times.length >> 1]!;
  };
  maglevTable(pool(0, false), size); // JIT warm-up, and the base the health change reuses
  return {
    size,
    rows,
    table_1000_edit_ms: median((r) => maglevTable(pool(r + 1, false), size)),
    table_1000_down_ms: median(() => maglevTable(pool(0, true), size)),
  };
}

/** Percent of the table, to three decimals, with the ratio to the minimum. */
export function formatMaglevMoves(r: MaglevMovesResult): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(3)} %`;
  const lines = [
    `Maglev buckets moved by one change, N equal reals, size ${r.size} (% of the table; x = times the minimum)`,
    `  ${'change'.padEnd(11)} ${'N'.padStart(5)}  ${'minimal'.padStart(9)}  ${'old incremental'.padStart(15)}  ${'history-free'.padStart(12)}`,
  ];
  for (const x of r.rows) {
    const ratio = x.minimal > 0 ? ` (${(x.history_free / x.minimal).toFixed(2)} x)` : '';
    const cells = [x.change.padEnd(11), String(x.reals).padStart(5), pct(x.minimal).padStart(9), pct(x.old_incremental).padStart(15)];
    lines.push(`  ${cells.join('  ').replace('  ', ' ')}  ${pct(x.history_free).padStart(12)}${ratio}`);
  }
  const t = (x: number) => `${x.toFixed(1)} ms`;
  lines.push(`  history-free table, ${r.size} x 1,000 reals: ${t(r.table_1000_edit_ms)} after a config edit, ${t(r.table_1000_down_ms)} with 100 down`);
  return lines;
}

if (require.main === module) {
  const r = maglevMoves(process.argv.includes('--short'));
  process.stdout.write(`${formatMaglevMoves(r).join('\n')}\n${JSON.stringify(r, null, 2)}\n`);
}
