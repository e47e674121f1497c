// SPDX-License-Identifier: Apache-2.0
// vethdir.ts: the veth benchmark's director side, in its namespace: xlvs datapaths filled by plan + apply, attached on request, counters read.

import * as readline from 'node:readline';
import { Datapath } from '../src/adapters/datapath';
import { native, type XdpLink } from '../src/adapters/native';
import { Provisioner } from '../src/adapters/provision';
import * as abi from '../src/core/abi';
import { parseConfig } from '../src/core/config';

export const REALS = [
  { address: '10.0.0.11', mac: '02:00:00:00:00:11' },
  { address: '10.0.0.12', mac: '02:00:00:00:00:12' },
  { address: '10.0.0.13', mac: '02:00:00:00:00:13' },
];

/** The service under test, as an operator writes it: everything else (table size, new-connection budget) at its default. */
export function vethConfig(scheduler: string): string {
  return `interface: eth0\nservices:\n  - vip: 10.0.0.100\n    port: 80\n    protocol: tcp\n    scheduler: ${scheduler}\n    reals:\n${REALS.map(
    (r) => `      - { address: ${r.address}, weight: 1 }`,
  ).join('\n')}\n`;
}

/** What the datapath counted: the forwarding verdicts and the connection-table events the benchmark reports. */
export interface DirCounters {
  tx_existing: number;
  tx_stateless: number /* established, forwarded without the connection table (mh bucket that kept its owner) */;
  tx_new: number;
  ct_over_budget: number;
  ct_evicted: number;
  /** Every other verdict (pass, drop, aborted): frames xlvs did not forward. */
  other: number;
  /** Which verdicts those were (non-zero ones only). */
  other_by: Record<string, number>;
}

/** Requests on stdin, one JSON object a line; one JSON line answers each. */
export type DirRequest =
  | { op: 'attach'; name: string }
  | { op: 'detach' }
  | { op: 'counters'; name: string }
  | { op: 'budget'; name: string; perCpu: number }
  | { op: 'quit' };

function counters(dp: Datapath): DirCounters {
  const v = abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus()) as unknown as Record<string, bigint>;
  const kinds = ['pass_not_ipv4', 'pass_malformed', 'pass_fragment', 'pass_no_service', 'drop_no_real', 'aborted', 'pass_not_for_us'];
  const other_by = Object.fromEntries(kinds.filter((k) => v[k]).map((k) => [k, Number(v[k])]));
  const other = Object.values(other_by).reduce((s, n) => s + n, 0);
  return {
    tx_existing: Number(v.tx_existing),
    tx_stateless: Number(v.tx_stateless),
    tx_new: Number(v.tx_new),
    ct_over_budget: Number(v.ct_over_budget),
    ct_evicted: Number(v.ct_evicted),
    other,
    other_by,
  };
}

async function main(): Promise<void> {
  const arg = (k: string) => process.argv[process.argv.indexOf(`--${k}`) + 1]!;
  const ifname = arg('ifname'),
    mac = arg('mac'),
    names = arg('datapaths').split(',');
  const macOf = new Map(REALS.map((r) => [r.address, r.mac]));
  const dps = new Map<string, Datapath>();
  let link: XdpLink | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  try {
    // A name is a scheduler and the flow count its table is for ('mh@65536'), or with '-new' a datapath of it that
    // only ever sees new flows. Each is set up as the daemon sets one up: defaults, plan + apply, the budget; the
    // all-new one's table starts at its largest (a flood of new flows grows it within a sweep or two).
    for (const name of names) {
      const cfg = parseConfig(vethConfig(name.replace(/-new$|@\d+$/, '')));
      const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
      dps.set(name, dp);
      dp.setDirectorMac(mac, []);
      new Provisioner(dp).apply(cfg, (a) => macOf.get(a) ?? null);
      dp.setNewConnBudget(cfg.new_conn_budget);
      if (name.endsWith('-new')) await dp.walks.resize(dp.walks.resizer.maxLive());
    }
    // Sweeps every second, as the daemon's: idle entries expire and the table grows with the flows it holds. Only the
    // attached datapath, as a director sweeps its one table: sweeping all of them (~0.6 s of CPU a second with the
    // million-flow and all-new tables) took the director's core from under the frames and its caches from the tables.
    let attached: Datapath | undefined;
    sweeper = setInterval(() => void attached?.sweep().catch(() => undefined), 1000);
    const dpOf = (name: string) => {
      const dp = dps.get(name);
      if (!dp) throw new Error(`vethdir: no datapath ${name}`);
      return dp;
    };
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    for await (const line of readline.createInterface({ input: process.stdin })) {
      const req = JSON.parse(line) as DirRequest;
      let reply: object = { ok: true };
      if (req.op === 'attach') {
        link?.detach();
        attached = dpOf(req.name);
        link = native().XdpLink.attach(attached.programFd(), ifname, 'native');
      } else if (req.op === 'detach') {
        link?.detach();
        link = undefined;
        attached = undefined;
      } else if (req.op === 'counters') reply = counters(dpOf(req.name));
      else if (req.op === 'budget') dpOf(req.name).setNewConnBudget(req.perCpu);
      else break;
      process.stdout.write(`${JSON.stringify(reply)}\n`);
    }
  } finally {
    clearInterval(sweeper);
    link?.detach();
    for (const dp of dps.values()) dp.close();
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`vethdir: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
