// run.ts: `npm run bench`: runs every benchmark in one process, prints a table and writes bench/results/<timestamp>.json (`--short` for CI).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../src/adapters/native';
import { ProgCostResult, progCost } from './progcost';

export interface BenchReport {
  when: string;
  short: boolean;
  machine: { kernel: string; cpu: string; cores: number; node: string };
  progcost: ProgCostResult;
}

export async function runBench(short: boolean): Promise<BenchReport> {
  const progcost = await progCost(short ? { repeat: 10_000, rounds: 1 } : { repeat: 1_000_000, rounds: 5 });
  return {
    when: new Date().toISOString(),
    short,
    machine: { kernel: os.release(), cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version },
    progcost,
  };
}

export function formatReport(r: BenchReport): string {
  const p = r.progcost;
  const rows: [string, string, string][] = [
    ['bare MAC-swap XDP_TX (repeat)', p.bare_ns.toFixed(1), ''],
    ['xlvs established TCP flow (repeat)', p.established_ns.toFixed(1), `+${(p.established_ns - p.bare_ns).toFixed(1)} ns over bare`],
    ['xlvs new connection (SYN, a new flow every run)', p.new_conn_ns.toFixed(1), `+${(p.new_conn_ns - p.bare_ns).toFixed(1)} ns over bare`],
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  return [
    `xlvs benchmark ${r.short ? '(short mode: figures are smoke checks, not measurements)' : ''}`.trim(),
    `machine: ${r.machine.cpu}, ${r.machine.cores} cores, kernel ${r.machine.kernel}, node ${r.machine.node}`,
    `program cost (BPF_PROG_TEST_RUN, repeat ${p.repeat}, median of ${p.rounds} rounds)`,
    `${'case'.padEnd(w)}  ns/pkt  note`,
    ...rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padStart(6)}  ${c}`),
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
