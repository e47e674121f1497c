// SPDX-License-Identifier: Apache-2.0
// synflood.ts: how many live established flows a flood of random SYNs evicts from the connection table, with and without the new-connection budget.

import { type Datapath, objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';
import * as abi from '../src/core/abi';
import { TCP_ACK, TCP_SYN } from '../src/core/packets';
import { fillGrown } from './flows';
import { benchDatapath, segment, setCycle } from './progcost';

export interface SynFloodRow {
  /** new_conn_budget during the flood (0: no limit). */
  budget: number;
  live_flows: number;
  flood_syns: number;
  /** Flood SYNs per second through the program (one CPU, BPF_PROG_TEST_RUN). */
  flood_pps: number;
  /** Live entries replaced during the flood (ct_evicted). */
  evicted: number;
  /** Flood flows forwarded without an entry (ct_over_budget). */
  over_budget: number;
  /** Flood flows forwarded without an entry because every way of their bucket held a live connection (ct_untracked). */
  full_bucket: number;
  /** Established entries before the flood (the live flows the fill recorded: a few land in full buckets). */
  live_entries: number;
  /** Established entries the flood replaced: the reals' ActiveConn before minus after (a flood SYN's entry is inactive). */
  live_lost: number;
}

function verdicts(dp: Datapath): abi.Verdicts {
  return abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus());
}

/** Established connections on the service's reals (ActiveConn). */
function active(dp: Datapath): number {
  let n = 0;
  for (const c of dp.realConns([0, 1, 2, 3, 4, 5, 6, 7]).values()) n += Number(c.active);
  return n;
}

async function runMany(dp: Datapath, data: Buffer, total: number): Promise<number> {
  const chunk = 1_000_000;
  let ns = 0;
  for (let done = 0; done < total; done += chunk)
    ns += (await native().testRun(dp.programFd(), { data, repeat: Math.min(chunk, total - done) })).durationNs * Math.min(chunk, total - done);
  return ns;
}

/**
 * An mh service at the default table size (4,194,304 entries) holding `live` established flows (a SYN, then an ACK
 * each, recorded with no budget), then `flood` SYNs of never-seen clients with the budget given; the established
 * entries it replaced are counted.
 */
async function floodOnce(budget: number, live: number, flood: number): Promise<SynFloodRow> {
  const dp = await benchDatapath(objectPath('xlvs_bench_fresh'), 'mh');
  try {
    dp.setNewConnBudget(0);
    // As a director takes them: the table grows between sweeps, and a sweep establishes the flows from their ACKs'
    // activity bits (the stateless path leaves their entries alone).
    await fillGrown(dp, live, segment(40001, TCP_SYN), segment(40001, TCP_ACK));
    dp.setNewConnBudget(budget);
    setCycle(dp, 0);
    const active0 = active(dp);
    const v0 = verdicts(dp);
    const ns = await runMany(dp, segment(40001, TCP_SYN), flood);
    const v1 = verdicts(dp);
    return {
      budget,
      live_flows: live,
      flood_syns: flood,
      flood_pps: Math.round(flood / (ns / 1e9)),
      evicted: Number(v1.ct_evicted - v0.ct_evicted),
      over_budget: Number(v1.ct_over_budget - v0.ct_over_budget),
      full_bucket: Number(v1.ct_untracked - v0.ct_untracked),
      live_entries: active0,
      live_lost: active0 - active(dp),
    };
  } finally {
    dp.close();
  }
}

export async function synFlood(opts: { live: number; flood: number; budgets: number[] }): Promise<SynFloodRow[]> {
  const rows: SynFloodRow[] = [];
  for (const b of opts.budgets) rows.push(await floodOnce(b, opts.live, opts.flood));
  return rows;
}

export function formatSynFlood(rows: SynFloodRow[]): [string, string, string][] {
  return rows.map((r) => [
    `SYN flood: ${r.flood_syns.toLocaleString('en')} new clients, ${r.live_flows.toLocaleString('en')} live (mh), budget ${r.budget || 'off'}`,
    `${r.live_lost}`,
    `of ${r.live_entries} established replaced; ${r.evicted} evicted, ${r.over_budget} unrecorded over budget, ` +
      `${r.full_bucket} in full buckets, ${(r.flood_pps / 1e6).toFixed(2)} Mpps`,
  ]);
}

if (require.main === module) {
  const short = process.argv.includes('--short');
  synFlood({ live: short ? 100_000 : 1_000_000, flood: short ? 1_000_000 : 10_000_000, budgets: [0, 125_000] }).then((rows) => {
    for (const r of formatSynFlood(rows)) console.log(r.join('  '));
    console.log(JSON.stringify(rows));
  });
}
