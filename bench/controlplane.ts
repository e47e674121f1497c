// SPDX-License-Identifier: Apache-2.0
// controlplane.ts: control-plane costs (Maglev table, applying 10,000 services) and the kernel memory a tracked connection takes.

import * as fs from 'node:fs';
import { Datapath, objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';
import { Provisioner } from '../src/adapters/provision';
import * as abi from '../src/core/abi';
import { parseConfig } from '../src/core/config';
import { maglevTable } from '../src/core/maglev';
import { buildTcp, TCP_ACK, TCP_SYN } from '../src/core/packets';
import { fillGrown } from './flows';
import { benchDatapath, benchDirector, segment, setCycle } from './progcost';

export interface ControlPlaneResult {
  maglev_65537x1000_ms: number;
  apply_services: number;
  apply_maglev_size: number;
  apply_ms: number;
  purge: PurgeResult;
}

/** Removing a real that holds connections: the apply purges its entries from the connection table. */
export interface PurgeResult {
  /** Connections through the service before the edit, and those of the removed real the apply purged. */
  conns: number;
  purged: number;
  /** The apply of the edit (plan, write, purge), ms. */
  apply_ms: number;
}

export interface MemoryResult {
  conn_entries: number;
  /** memlock of the connection table as the kernel accounts it (elements, buckets, LRU lists). */
  conn_table_bytes: number;
  bytes_per_conn: number;
  /** The same table with conn_table_per_cpu: one slice per CPU, the entries split across them. */
  conn_table_per_cpu_bytes: number;
  /** Distinct new flows sent through the datapath into a table of conn_entries (half of them, or 1,000,000 at the default). */
  fill_flows: number;
  /** Of those, entries the table held afterwards (the sweeper's count), and live entries replaced because their bucket was full. */
  fill_held: number;
  fill_evicted: number;
  ncpu: number;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** maglevTable (what a plan computes for a hash service after a config edit) at 65,537 buckets x 1,000 reals, median ms. */
export function maglevBuild(rounds: number): number {
  // Each round changes one configured weight, so the base is built every time rather than found in maglevTable's cache.
  const reals = (r: number) =>
    Array.from({ length: 1000 }, (_, i) => ({ key: `10.${(i >> 8) & 255}.${i & 255}.1:80`, weight: i === 0 ? 10 + r : 1 + (i % 5), id: i }));
  maglevTable(reals(-1), abi.MH_DEFAULT_SIZE); // JIT warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    maglevTable(reals(r), abi.MH_DEFAULT_SIZE);
    times.push(ms(t0));
  }
  return median(times);
}

/** What a start-up does: plan every service, then apply (reals, every table, the service keys that make them reachable: one batch each). */
export async function applyServices(count: number, maglevSize: number): Promise<number> {
  const lines = ['interface: eth0', 'conn_table_size: 65536', 'services:'];
  for (let i = 0; i < count; i++) {
    lines.push(
      `  - { vip: 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}, port: 80, protocol: tcp, maglev_size: ${maglevSize}, reals: [{address: 10.0.0.11, weight: 3}, {address: 10.0.0.12, weight: 2}, {address: 10.0.0.13, weight: 1}] }`,
    );
  }
  const cfg = parseConfig(lines.join('\n'));
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  try {
    const t0 = process.hrtime.bigint();
    new Provisioner(dp).apply(cfg, () => '02:00:00:00:00:11');
    return ms(t0);
  } finally {
    dp.close();
  }
}

/**
 * An operator removes one of a wrr service's three reals (weights 3:2:1) while it holds `conns` connections: the apply
 * (plan, then Datapath.apply, as the daemon edits) ends by purging the removed real's entries, a walk of the table
 * and a write per entry. The table is filled as a running director fills it (doubling, a sweep between: it grows).
 */
export async function purgeReal(conns: number): Promise<PurgeResult> {
  const { dp, provisioner, config, resolve } = await benchDirector(objectPath('xlvs_bench_fresh'), 'wrr');
  try {
    for (let n = Math.min(conns, 32_768); ; n = Math.min(conns, 2 * n)) {
      setCycle(dp, n);
      await native().testRun(dp.programFd(), { data: segment(40001, TCP_SYN), repeat: n });
      await dp.sweep();
      if (n === conns) break;
    }
    const byReal = (): Map<number, number> => {
      const m = new Map<number, number>();
      for (const r of dp.conns.records()) m.set(r.val.real_id, (m.get(r.val.real_id) ?? 0) + 1);
      return m;
    };
    const before = byReal();
    const svc = config.services[0]!;
    const edited = { ...config, services: [{ ...svc, reals: svc.reals.slice(0, 2) }, ...config.services.slice(1)] };
    const t0 = process.hrtime.bigint();
    provisioner.apply(edited, resolve);
    const took = ms(t0);
    const after = byReal();
    const gone = [...before].filter(([id]) => !after.has(id));
    const held = [...before.values()].reduce((a, b) => a + b, 0);
    if (gone.length !== 1 || [...after].some(([id, n]) => before.get(id) !== n))
      throw new Error(`purge: entries by real ${JSON.stringify([...before])} became ${JSON.stringify([...after])}`);
    return { conns: held, purged: gone[0]![1], apply_ms: took };
  } finally {
    dp.close();
  }
}

function memlock(fd: number): number {
  const m = /^memlock:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error('no memlock line in the map fdinfo');
  return Number(m[1]);
}

export async function memory(entries: number): Promise<MemoryResult> {
  const common = await Datapath.load({ connTableSize: entries });
  const perCpu = await Datapath.load({ connTableSize: entries, connTablePerCpu: true });
  // The fresh-flow build makes each repetition another client: the table fills as it would with that many concurrent
  // flows, arriving as a director takes them (doubling between sweeps, so the growable table grows with them).
  const fill = await benchDatapath(objectPath('xlvs_bench_fresh'), 'mh', entries);
  try {
    const bytes = memlock(common.maps.xlvs_conn.fd);
    const flows = entries >= abi.CONN_DEFAULT_MAX ? 1_000_000 : entries >> 1;
    const seg = (flags: number) =>
      buildTcp({
        dstMac: '02:00:00:00:00:02',
        srcMac: '02:00:00:00:00:01',
        saddr: '203.0.113.10',
        daddr: '10.0.0.100',
        sport: 40001,
        dport: 80,
        seq: 1,
        ack: 0,
        flags,
      });
    const made = await fillGrown(fill, flows, seg(TCP_SYN), seg(TCP_ACK));
    const held = Number((await fill.sweep()).conns);
    const v = abi.sumPerCpu(abi.verdicts, fill.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus());
    if (made < flows) throw new Error(`fill: ${made} of ${flows} flows were scheduled`);
    return {
      conn_entries: entries,
      conn_table_bytes: bytes,
      bytes_per_conn: bytes / entries,
      conn_table_per_cpu_bytes: memlock(perCpu.maps.xlvs_conn.fd),
      fill_flows: flows,
      fill_held: held,
      fill_evicted: Number(v.ct_evicted),
      ncpu: native().numPossibleCpus(),
    };
  } finally {
    common.close();
    perCpu.close();
    fill.close();
  }
}
