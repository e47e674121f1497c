// SPDX-License-Identifier: Apache-2.0
// sync.ts: connection sync through the datapath half: records/s and lag from XDP emission to readSyncEvents, and entries/s through insertSynced.

import { type Datapath, objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';
import * as abi from '../src/core/abi';
import { TCP_SYN } from '../src/core/packets';
import type { SyncInsert, SyncInsertResult } from '../src/core/syncdp';
import { benchDatapath, segment } from './progcost';

export interface SyncBenchResult {
  /** Emission paced at `rate` new connections a second for `seconds`, read as the sync daemon would (readSyncEvents loop). */
  paced: { rate: number; seconds: number; records: number; read_per_s: number; lag_p50_ms: number; lag_p99_ms: number; lag_max_ms: number; lost: number };
  /** A burst of `records` new connections emitted at once (the queue's worth), then drained: what one reader decodes a second. */
  drain: { records: number; ms: number; per_s: number };
  /** insertSynced of `entries` new connections in calls of `batch` (then the same keys again: updates). */
  insert: { entries: number; batch: number; insert_per_s: number; update_per_s: number };
}

const pct = (xs: number[], p: number) => (xs.length ? xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! : 0);

/** rate new connections a second through the fresh-flow build for seconds, with one reader draining as it goes. */
async function paced(rate: number, seconds: number): Promise<SyncBenchResult['paced']> {
  const dp = await benchDatapath(objectPath('xlvs_bench_fresh'), 'wrr', 4_194_304, { emit: true });
  try {
    const syn = segment(40001, TCP_SYN);
    const ages: number[] = [];
    let produced = 0,
      read = 0,
      done = false;
    const t0 = process.hrtime.bigint();
    const elapsedS = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const reader = (async () => {
      while (!done || read < produced - dp.syncLosses()) {
        const ev = await dp.readSyncEvents(20, 16_384);
        read += ev.length;
        for (const e of ev) ages.push(e.ageMs);
        if (done && !ev.length) break;
      }
    })();
    // Each step emits what the schedule owes by now in one test run (a burst every few ms, as traffic would arrive).
    while (elapsedS() < seconds) {
      const owe = Math.floor(elapsedS() * rate) - produced;
      if (owe > 0) {
        await native().testRun(dp.programFd(), { data: syn, repeat: owe });
        produced += owe;
      } else await new Promise((r) => setTimeout(r, 1));
    }
    done = true;
    await reader;
    const took = elapsedS();
    return {
      rate,
      seconds,
      records: read,
      read_per_s: Math.round(read / took),
      lag_p50_ms: pct(ages, 50),
      lag_p99_ms: pct(ages, 99),
      lag_max_ms: pct(ages, 100),
      lost: dp.syncLosses(),
    };
  } finally {
    dp.close();
  }
}

async function drain(records: number): Promise<SyncBenchResult['drain']> {
  const dp = await benchDatapath(objectPath('xlvs_bench_fresh'), 'wrr', 4_194_304, { emit: true });
  try {
    await native().testRun(dp.programFd(), { data: segment(40001, TCP_SYN), repeat: records });
    const t0 = process.hrtime.bigint();
    let got = 0;
    for (let n = -1; n !== 0; got += n) n = (await dp.readSyncEvents(0, 16_384)).length;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (got !== records) throw new Error(`drained ${got} of ${records} records (${dp.syncLosses()} lost)`);
    return { records, ms, per_s: Math.round((records / ms) * 1000) };
  } finally {
    dp.close();
  }
}

/** n established flows of the bench service (its first real, id 0 in a fresh datapath), as a master would sync them. */
export function syncedFlows(dp: Datapath, n: number): SyncInsert[] {
  const svc = abi.svc.decode(dp.maps.xlvs_svc.lookup(abi.svcKey.encode({ vip: abi.ipv4ToU32('10.0.0.100'), port: 80, proto: 6 }))!);
  return Array.from({ length: n }, (_, i) => ({
    proto: 6,
    caddr: abi.u32ToIpv4((0xc6120000 + Math.floor(i / 60000)) >>> 0),
    cport: 1024 + (i % 60000),
    vaddr: '10.0.0.100',
    vport: 80,
    svcId: svc.id,
    realId: 0,
    state: abi.CS.ESTABLISHED,
    template: false,
  }));
}

/**
 * Inserts as the sync backup does (src/adapters/sync.ts): one batch per turn of the event loop, so the growth the
 * inserts start (a fresh table holds 262,144 entries) runs between them; waits for that growth to end.
 */
export async function insertInTurns(dp: Datapath, list: readonly SyncInsert[], batch: number): Promise<SyncInsertResult> {
  const r = { inserted: 0, updated: 0, refused: 0 };
  for (let i = 0; i < list.length; i += batch) {
    const x = dp.insertSynced(list.slice(i, i + batch));
    r.inserted += x.inserted;
    r.updated += x.updated;
    r.refused += x.refused;
    await new Promise((res) => setImmediate(res));
  }
  await dp.walks.settled();
  return r;
}

async function insert(entries: number, batch: number): Promise<SyncBenchResult['insert']> {
  const dp = await benchDatapath(objectPath(), 'wrr', 4_194_304);
  try {
    const list = syncedFlows(dp, entries);
    const run = async () => {
      const t0 = process.hrtime.bigint();
      const r = await insertInTurns(dp, list, batch);
      return { r, s: Number(process.hrtime.bigint() - t0) / 1e9 };
    };
    const first = await run();
    const again = await run();
    // An 8-way bucket table at 1/4 load refuses (never evicts for) a handful of flows whose bucket is full.
    if (first.r.inserted < entries * 0.99 || again.r.updated !== first.r.inserted)
      throw new Error(`insert ${JSON.stringify(first.r)}, again ${JSON.stringify(again.r)}`);
    return { entries, batch, insert_per_s: Math.round(entries / first.s), update_per_s: Math.round(entries / again.s) };
  } finally {
    await dp.walks.settled();
    dp.close();
  }
}

export async function syncBench(short: boolean): Promise<SyncBenchResult> {
  return {
    paced: await paced(100_000, short ? 0.5 : 3),
    drain: await drain(short ? 20_000 : 80_000),
    insert: await insert(short ? 50_000 : 1_000_000, 4096),
  };
}

export function formatSync(r: SyncBenchResult): string {
  const rows: [string, string][] = [
    [`emit -> readSyncEvents, paced ${r.paced.rate}/s for ${r.paced.seconds} s`, `${r.paced.read_per_s} records/s read, ${r.paced.lost} lost`],
    [
      '  lag (record stamp -> decoded) p50 / p99 / max',
      `${r.paced.lag_p50_ms.toFixed(2)} / ${r.paced.lag_p99_ms.toFixed(2)} / ${r.paced.lag_max_ms.toFixed(2)} ms`,
    ],
    [`drain a burst of ${r.drain.records} records`, `${r.drain.per_s} records/s (${r.drain.ms.toFixed(1)} ms)`],
    [`insertSynced ${r.insert.entries} new connections, ${r.insert.batch} a call`, `${r.insert.insert_per_s} entries/s`],
    ['  the same keys again (updates)', `${r.insert.update_per_s} entries/s`],
  ];
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${a.padEnd(w)}  ${b}`).join('\n');
}

if (require.main === module) {
  syncBench(process.argv.includes('--short')).then(
    (r) => {
      console.log(formatSync(r));
      console.log(JSON.stringify(r));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
