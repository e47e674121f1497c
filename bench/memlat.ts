// SPDX-License-Identifier: Apache-2.0
// memlat.ts: what one random memory access costs on this machine, in a BPF array the connection table's size (bpf/bench_memlat.bpf.c).

import { objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';
import * as abi from '../src/core/abi';

export interface MemLatency {
  /** The span walked at random: the default connection table's bytes (conn_table_size x the entry). */
  table_bytes: number;
  /** ns per dependent load at random within table_bytes, the hash between loads included. */
  table_ns: number;
  /** The same walk within 4 KiB (L1): the hash and the loop, to subtract. */
  cached_ns: number;
  /** Per round, table-sized walk. */
  spread: number[];
}

/** Loads per run of bench_memlat (its MEMLAT_CHAIN). */
const CHAIN = 16;

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The floor under every packet that reads or writes a random entry of a table this large: a new connection's bucket,
 * an established flow's entry on the connection-table path. Machines differ most here (241-323 ns on a 2-core AMD EPYC
 * VM, against 6-8 ns within 4 KiB), which is why the many-flow and all-new rows move between machines and runs while
 * the one-flow rows do not.
 */
export async function memLatency(opts: { repeat: number; rounds: number; tableBytes?: number }): Promise<MemLatency> {
  const tableBytes = opts.tableBytes ?? abi.CONN_DEFAULT_MAX * abi.ctEntry.size;
  const entries = tableBytes / 8;
  if (!Number.isInteger(Math.log2(entries))) throw new Error(`memlat: ${tableBytes} bytes is not a power of two of 8-byte entries`);
  const n = native();
  const obj = await n.BpfObject.open(objectPath('bench_memlat'), { mapMaxEntries: { bench_memlat_arr: entries } });
  const ctl = obj.map('bench_memlat_ctl');
  try {
    const fd = obj.programFd('bench_memlat');
    const data = Buffer.alloc(64);
    const walk = async (span: number): Promise<number[]> => {
      ctl.update(abi.u32Key(0), abi.u32Key(span));
      await n.testRun(fd, { data, repeat: Math.min(opts.repeat, 10_000) }); // the TLB and caches as the walk leaves them
      const xs: number[] = [];
      for (let r = 0; r < opts.rounds; r++) {
        const res = await n.testRun(fd, { data, repeat: opts.repeat });
        if (res.retval !== 1) throw new Error(`memlat: verdict ${res.retval}, expected XDP_DROP`);
        xs.push(res.durationNs / CHAIN);
      }
      return xs;
    };
    const cached = await walk(512);
    const table = await walk(entries);
    return { table_bytes: tableBytes, table_ns: median(table), cached_ns: median(cached), spread: table.map((x) => Math.round(x * 10) / 10) };
  } finally {
    ctl.close();
    obj.close();
  }
}

/** The table row of the figure, for flows.ts's and run.ts's tables. */
export function formatMemLatency(m: MemLatency): [string, string, string] {
  return [
    `  one random load, ${m.table_bytes / 2 ** 20} MiB BPF array`,
    m.table_ns.toFixed(1),
    [
      `${(m.table_ns - m.cached_ns).toFixed(1)} over the same walk in L1 (${m.cached_ns.toFixed(1)})`,
      `rounds ${m.spread.map((x) => x.toFixed(0)).join(' ')}`,
      "the table's size: each recorded new flow pays one",
    ].join('; '),
  ];
}

async function main(): Promise<void> {
  const m = await memLatency({ repeat: 200_000, rounds: 5 });
  const [a, b, c] = formatMemLatency(m);
  process.stdout.write(`${a.trim()}: ${b} ns; ${c}\n${JSON.stringify(m)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`memlat: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
