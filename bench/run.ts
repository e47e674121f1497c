// SPDX-License-Identifier: Apache-2.0
// run.ts: `npm run bench`: runs every benchmark in one process, prints a table and writes bench/results/<timestamp>.json (`--short` for CI).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ProgramCost, verifierCosts } from '../src/adapters/kernelprobe';
import { repoRoot } from '../src/adapters/native';
import * as abi from '../src/core/abi';
import { VERIFIER_BUDGET } from '../src/core/kernel';
import { applyServices, type ControlPlaneResult, type MemoryResult, maglevBuild, memory, purgeReal } from './controlplane';
import { type DaemonScaleResult, daemonScale } from './daemonscale';
import { type FlowCostResult, flowCosts, formatFlowCosts } from './flows';
import { type HealthBenchResult, type HealthLoadResult, healthBench, healthLoadBench } from './health';
import { formatMaglevMoves, type MaglevMovesResult, maglevMoves } from './maglevmoves';
import { type ProgCostResult, progCost } from './progcost';
import { formatSync, type SyncBenchResult, syncBench } from './sync';
import { formatSyncWire, type SyncWireResult, syncWireBench } from './syncwire';
import { formatSynFlood, type SynFloodRow, synFlood } from './synflood';
import { vethBench } from './veth';
import { formatVeth, type VethResult } from './vethformat';

export interface BenchReport {
  when: string;
  short: boolean;
  machine: { kernel: string; cpu: string; cores: number; node: string };
  /** Instructions the verifier processed per program of build/bpf/*.o, against the budget each must stay under. */
  verifier: { budget: number; programs: ProgramCost[] };
  progcost: ProgCostResult;
  /** Program cost by flow count (1, 65,536, 1M in turn, every packet new) for mh and wrr, IPv4 and IPv6 (bench/flows.ts). */
  flows: FlowCostResult;
  /** Established entries a flood of new clients replaces, without and with the new-connection budget (bench/synflood.ts). */
  synflood: SynFloodRow[];
  /** End to end on veth by flow count (1, 65,536, 1M in turn, every frame new): xlvs mh and wrr beside bare and nftables (bench/veth.ts). */
  veth: VethResult;
  controlplane: ControlPlaneResult;
  /** Maglev buckets moved by one change: minimal, the old incremental rebuild, the history-free table. */
  maglev_moves: MaglevMovesResult;
  memory: MemoryResult;
  health: HealthBenchResult;
  health_load: HealthLoadResult;
  daemon: DaemonScaleResult;
  /** Connection sync through the datapath half (bench/sync.ts). */
  sync: SyncBenchResult;
  /** Connection sync carried master -> backup over loopback multicast, per offered rate (the protocol half). */
  sync_wire: SyncWireResult[];
}

export async function runBench(short: boolean): Promise<BenchReport> {
  const verifier = { budget: VERIFIER_BUDGET, programs: await verifierCosts() };
  const progcost = await progCost(short ? { repeat: 10_000, rounds: 1 } : { repeat: 1_000_000, rounds: 5 });
  const counts = { counts: [1, 65536, 1_000_000], counts6: [1, 65536] };
  const flows = await flowCosts(short ? { repeat: 10_000, rounds: 1, ...counts } : { repeat: 1_000_000, rounds: 5, ...counts });
  const synflood = await synFlood(
    short ? { live: 100_000, flood: 1_000_000, budgets: [0, 125_000] } : { live: 1_000_000, flood: 10_000_000, budgets: [0, 125_000] },
  );
  // Short mode: one round of two flow counts, the established path and the all-new one.
  const veth = await vethBench(short ? { counts: [65536, 'new'], ms: 300, rounds: 1 } : { counts: [1, 65536, 1_000_000, 'new'], ms: 2000, rounds: 5 });
  const services = short ? 1000 : 10_000;
  const controlplane: ControlPlaneResult = {
    maglev_65537x1000_ms: maglevBuild(short ? 1 : 5),
    apply_services: services,
    apply_maglev_size: 1021,
    apply_ms: await applyServices(services, 1021),
    purge: await purgeReal(short ? 30_000 : 300_000),
  };
  const moves = maglevMoves(short);
  const mem = await memory(short ? 65536 : abi.CONN_DEFAULT_MAX);
  const daemon = await daemonScale(short ? 500 : 10_000, short ? 5 : 50);
  const sync = await syncBench(short);
  const health = await healthBench(short ? { reals: 50, windowMs: 1000, kill: 5 } : { reals: 2000, windowMs: 10_000, kill: 100 });
  const syncWire = await syncWireBench(short ? { count: 20_000, rates: [100_000] } : { count: 300_000, rates: [100_000, 200_000] });
  const healthLoad = await healthLoadBench(short ? { reals: 10, edits: 100, services: 1000 } : { reals: 20, edits: 1000, services: 10_000 });
  return {
    when: new Date().toISOString(),
    short,
    machine: { kernel: os.release(), cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version },
    verifier,
    progcost,
    flows,
    synflood,
    veth,
    controlplane,
    maglev_moves: moves,
    memory: mem,
    health,
    health_load: healthLoad,
    daemon,
    sync,
    sync_wire: syncWire,
  };
}

const sign = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

export function formatReport(r: BenchReport): string {
  const p = r.progcost;
  const rows: [string, string, string][] = [
    ['bare MAC-swap XDP_TX (repeat)', p.bare_ns.toFixed(1), ''],
    ['xlvs established TCP flow (repeat)', p.established_ns.toFixed(1), `+${(p.established_ns - p.bare_ns).toFixed(1)} ns over bare`],
    [`xlvs established, ${p.many_flows} flows in turn`, p.established_many_ns.toFixed(1), `+${(p.established_many_ns - p.bare_ns).toFixed(1)} ns over bare`],
    ['xlvs new connection (SYN, a new flow every run)', p.new_conn_ns.toFixed(1), `+${(p.new_conn_ns - p.bare_ns).toFixed(1)} ns over bare`],
    ['xlvs established TCP flow, IPv6 (repeat)', p.established6_ns.toFixed(1), `${sign(p.established6_ns - p.established_ns)} ns vs IPv4`],
    ['xlvs new connection, IPv6 (a new flow every run)', p.new_conn6_ns.toFixed(1), `${sign(p.new_conn6_ns - p.new_conn_ns)} ns vs IPv4`],
    ['xlvs established, sync emission on (no record)', p.established_sync_ns.toFixed(1), `${sign(p.established_sync_ns - p.established_ns)} ns vs off`],
    [
      'xlvs new connection, sync emission on (a record each)',
      p.new_conn_sync_ns.toFixed(1),
      `${sign(p.new_conn_sync_ns - p.new_conn_ns)} ns vs off; ${p.sync_records} records, ${p.sync_lost} lost`,
    ],
    ['  new connection by scheduler (3 reals)', '', ''],
    ...Object.entries(p.new_conn_by_scheduler).map(([k, ns]): [string, string, string] => [
      `    ${k}`,
      ns.toFixed(1),
      `+${(ns - p.bare_ns).toFixed(1)} over bare, ${ns >= p.new_conn_ns ? '+' : ''}${(ns - p.new_conn_ns).toFixed(1)} vs mh run above, ${(ns - p.established_ns).toFixed(0)} over established`,
    ]),
  ];
  rows.push(...formatFlowCosts(r.flows));
  rows.push(...formatSynFlood(r.synflood));
  rows.push(...formatVeth(r.veth));
  const c = r.controlplane,
    m = r.memory;
  rows.push(
    ['control plane (ms)', '', ''],
    ['  Maglev table after a config edit, 65,537 buckets x 1,000 reals', c.maglev_65537x1000_ms.toFixed(1), ''],
    [
      `  apply ${c.apply_services} services (3 reals, ${c.apply_maglev_size}-bucket tables)`,
      c.apply_ms.toFixed(0),
      `${((c.apply_ms / c.apply_services) * 1000).toFixed(0)} us per service`,
    ],
    [
      `  remove a real holding ${c.purge.purged.toLocaleString('en')} of ${c.purge.conns.toLocaleString('en')} connections (apply and purge)`,
      c.purge.apply_ms.toFixed(0),
      `${((c.purge.apply_ms / Math.max(1, c.purge.purged)) * 1000).toFixed(1)} us per purged entry`,
    ],
    [
      `memory, ${m.conn_entries} tracked connections (MiB)`,
      (m.conn_table_bytes / 2 ** 20).toFixed(1),
      `${m.bytes_per_conn.toFixed(1)} bytes per connection; per-CPU slices ${(m.conn_table_per_cpu_bytes / 2 ** 20).toFixed(1)} MiB`,
    ],
    [
      `  ${m.fill_flows} flows into it (doubling between sweeps, as a director takes them): entries held`,
      String(m.fill_held),
      `${m.fill_evicted} live entries replaced (full buckets), ${((100 * m.fill_held) / m.fill_flows).toFixed(2)} % held`,
    ],
  );
  const d = r.daemon;
  rows.push(
    [`daemon controller, ${d.services} services x ${d.reals_per_service} reals (${d.maglev_size}-bucket tables)`, '', ''],
    ['  apply from empty: validate, plan, write (ms)', d.apply_ms.toFixed(0), ''],
    ['  resident memory after the apply (MiB)', d.rss_mib.toFixed(0), ''],
    [
      `  weight change at ${d.services} services, through the controller (ms, ${d.changes} changes)`,
      d.weight_change_median_ms.toFixed(1),
      `median (target 10); p90 ${d.weight_change_p90_ms.toFixed(1)}, max ${d.weight_change_max_ms.toFixed(1)}, ` +
        `the first ${d.weight_change_first_ms.toFixed(1)}; in the datapath on return: ${d.weight_visible_on_return}/${d.changes}`,
    ],
  );
  const h = r.health;
  rows.push(
    [`health checks: ${h.reals} reals, TCP every ${h.interval_ms} ms (fall ${h.fall}, timeout ${h.timeout_ms} ms)`, '', ''],
    ['  CPU, share of one core (%)', (h.cpu_share_one_core * 100).toFixed(1), `${h.checks_per_s.toFixed(0)} checks/s over ${h.window_s.toFixed(0)} s`],
    ['  resident memory of the process (MiB)', h.rss_mib.toFixed(0), `JS heap in use ${h.heap_mib.toFixed(1)} MiB`],
    [
      `  detection, server death -> out of the datapath (ms, ${h.killed} deaths)`,
      h.detect_median_ms.toFixed(0),
      `median; p99 ${h.detect_p99_ms.toFixed(0)}, max ${h.detect_max_ms.toFixed(0)}, bound fall x interval + timeout = ${h.fall * h.interval_ms + h.timeout_ms}`,
    ],
  );
  const hl = r.health_load;
  rows.push([
    `health checks under control-plane load: ${hl.reals} live reals, every ${hl.interval_ms} ms (timeout ${hl.timeout_ms}, fall ${hl.fall}, rise ${hl.rise})`,
    '',
    '',
  ]);
  for (const ph of hl.phases) {
    rows.push(
      [
        `  false downs, ${ph.edits} concurrent edits, probes on the ${ph.probes === 'main' ? 'controller loop' : 'prober thread'}`,
        String(ph.edits_false_downs),
        `edits took ${ph.edits_ms} ms`,
      ],
      [
        `  false downs, ${ph.services.toLocaleString('en')}-service apply + undo, probes on the ${ph.probes === 'main' ? 'controller loop' : 'prober thread'}`,
        String(ph.apply_false_downs),
        `apply ${ph.apply_ms} ms, undo ${ph.undo_ms} ms; ${ph.checks} checks completed`,
      ],
    );
  }
  rows.push(
    ['connection sync master -> backup (IPVS v1 over loopback multicast, two processes)', '', ''],
    ...(formatSyncWire(r.sync_wire) as [string, string, string][]),
  );
  const w = Math.max(...rows.map((x) => x[0].length));
  return [
    `verifier: processed instructions per program (budget ${r.verifier.budget.toLocaleString('en')} each, kernel ${r.machine.kernel})`,
    ...r.verifier.programs.map(
      (x) =>
        `  ${`${x.object} ${x.program}`.padEnd(40)}  ${x.verifiedInsns === null ? 'unknown' : x.verifiedInsns.toLocaleString('en').padStart(9)}${x.verifiedInsns !== null && x.verifiedInsns > r.verifier.budget ? '  OVER BUDGET' : ''}`,
    ),
    `xlvs benchmark ${r.short ? '(short mode: figures are smoke checks, not measurements)' : ''}`.trim(),
    `machine: ${r.machine.cpu}, ${r.machine.cores} cores, kernel ${r.machine.kernel}, node ${r.machine.node}`,
    `program cost (BPF_PROG_TEST_RUN, repeat ${p.repeat}, median of ${p.rounds} rounds)`,
    `${'case'.padEnd(w)}  ns/pkt  note`,
    ...rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padStart(6)}  ${c}`),
    ...formatMaglevMoves(r.maglev_moves),
    'connection sync, datapath half',
    ...formatSync(r.sync)
      .split('\n')
      .map((l) => `  ${l}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const short = process.argv.includes('--short');
  const report = await runBench(short);
  process.stdout.write(`${formatReport(report)}\n`);
  const dir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.when.replace(/[:.]/g, '-')}${short ? '-short' : ''}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
