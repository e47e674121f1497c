// SPDX-License-Identifier: Apache-2.0
// progcost.ts: ns/packet of the XDP program through BPF_PROG_TEST_RUN: established flow, new connections, and a bare MAC-swap XDP_TX beside them.

import { Datapath, objectPath } from '../src/adapters/datapath';
import { native } from '../src/adapters/native';
import { Provisioner } from '../src/adapters/provision';
import * as abi from '../src/core/abi';
import { type Config, parseConfig } from '../src/core/config';
import { ipToBytes } from '../src/core/net/addr';
import { buildTcp, TCP_ACK, TCP_SYN } from '../src/core/packets';
import { SCHEDULERS } from '../src/core/sched';
import { SYNC_OFF, type SyncSettings } from '../src/core/syncdp';
import { XDP_TX } from '../src/core/verdictmodel';

const DIRECTOR_MAC = '02:00:00:00:00:02';

/** A client's TCP segment to the bench service as the router hands it to the director. */
export function segment(sport: number, flags: number): Buffer {
  return buildTcp({
    dstMac: DIRECTOR_MAC,
    srcMac: '02:00:00:00:00:01',
    saddr: '203.0.113.10',
    daddr: '10.0.0.100',
    sport,
    dport: 80,
    seq: 1,
    ack: flags & TCP_ACK ? 1 : 0,
    flags,
  });
}

export interface ProgCostResult {
  /** ns per packet as the kernel's test-run timer reports it, median of `rounds` rounds. */
  bare_ns: number;
  established_ns: number;
  /** Established flows again, but 65,536 of them in turn: the flow cache and the tables no longer fit in the CPU caches. */
  established_many_ns: number;
  many_flows: number;
  new_conn_ns: number;
  /** Connection sync emission on (xlvs_cfg.sync_emit): an established flow (no record), a new connection (one record, drained between rounds). */
  established_sync_ns: number;
  new_conn_sync_ns: number;
  /** Records the new-connection loop with emission on produced, and lost (must be 0: the queue is drained between runs). */
  sync_records: number;
  sync_lost: number;
  /** The same established and new-connection loops for an IPv6 service (xlvs_svc6, xlvs_conn6), measured beside the IPv4 ones. */
  established6_ns: number;
  new_conn6_ns: number;
  /** New-connection cost per scheduler (same frame, same three reals), measured in the same run. */
  new_conn_by_scheduler: Record<string, number>;
  repeat: number;
  rounds: number;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const BENCH_CONFIG = `
interface: eth0
services:
  - vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: SCHED
    reals:
      - { address: 10.0.0.11, weight: 3 }
      - { address: 10.0.0.12, weight: 2 }
      - { address: 10.0.0.13, weight: 1 }
  - vip: 2001:db8::100
    port: 80
    protocol: tcp
    scheduler: SCHED
    reals:
      - { address: 2001:db8::11, weight: 3 }
      - { address: 2001:db8::12, weight: 2 }
      - { address: 2001:db8::13, weight: 1 }
`;

/** A client's TCP segment to the IPv6 bench service (2001:db8::100:80), as segment() is for IPv4. */
export function segment6(sport: number, flags: number): Buffer {
  const ip6 = (a: string) => Buffer.from(ipToBytes(a));
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(80, 2);
  tcp.writeUInt32BE(1, 4);
  tcp.writeUInt32BE(flags & TCP_ACK ? 1 : 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(64240, 14);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(tcp.length, 4);
  ip[6] = 6;
  ip[7] = 64;
  ip6('2001:db8:1::10').copy(ip, 8);
  ip6('2001:db8::100').copy(ip, 24);
  const eth = Buffer.alloc(14);
  abi.macToBytes(DIRECTOR_MAC).copy(eth, 0);
  abi.macToBytes('02:00:00:00:00:01').copy(eth, 6);
  eth.writeUInt16BE(0x86dd, 12);
  return Buffer.concat([eth, ip, tcp]);
}

/** The fresh-flow build's flow cycle (bench_flow in bpf/bench_flow.h): N cycles through N clients, 0 makes every run a new one. */
export function setCycle(dp: Datapath, n: number): void {
  const m = dp.objectMap('xlvs_bench_seq');
  try {
    m.update(abi.u32Key(1), abi.u32Key(n));
  } finally {
    m.close();
  }
}

/** A director loaded with one service of three reals, ready for test runs (not attached anywhere). */
export async function benchDatapath(objPath = objectPath(), scheduler = 'mh', connTableSize?: number, sync: SyncSettings = SYNC_OFF): Promise<Datapath> {
  return (await benchDirector(objPath, scheduler, connTableSize, sync)).dp;
}

/** benchDatapath with the provisioner that filled it and the MAC resolver, for benches that apply a changed config after. */
export async function benchDirector(
  objPath = objectPath(),
  scheduler = 'mh',
  connTableSize?: number,
  sync: SyncSettings = SYNC_OFF,
): Promise<{ dp: Datapath; provisioner: Provisioner; config: Config; resolve: (address: string) => string | null }> {
  const config = parseConfig(BENCH_CONFIG.replaceAll('SCHED', scheduler) + (connTableSize ? `conn_table_size: ${connTableSize}\n` : ''));
  const dp = await Datapath.load({ connTableSize: config.conn_table_size, objPath });
  // BPF_PROG_TEST_RUN's repeats run on the frame the previous run rewrote (destination: the real), so the reals'
  // MACs are accepted as the director's own, as the first frame was; the destination check then costs its worst
  // case (no match on the NIC's MAC, a match in the accept slots).
  const realMacs = [0, 1, 2].map((i) => `02:00:00:00:00:${(0x11 + i).toString(16)}`);
  dp.setDirectorMac(DIRECTOR_MAC, realMacs);
  const macOf = new Map(config.services.flatMap((s) => s.reals.map((r, i) => [r.address, realMacs[i]!] as const)));
  const resolve = (a: string) => macOf.get(a) ?? null;
  const provisioner = new Provisioner(dp);
  provisioner.apply(config, resolve, new Set(), sync);
  return { dp, provisioner, config, resolve };
}

/** ns per new connection for one scheduler: the fresh-flow build, a new client every run. */
async function newConnCost(scheduler: string, repeat: number, rounds: number): Promise<number> {
  const dp = await benchDatapath(objectPath('xlvs_bench_fresh'), scheduler);
  try {
    const syn = segment(40001, TCP_SYN);
    const ns: number[] = [];
    for (let round = 0; round < rounds; round++) ns.push((await native().testRun(dp.programFd(), { data: syn, repeat })).durationNs);
    const v = abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus());
    if (v.tx_new !== BigInt(repeat * rounds)) throw new Error(`${scheduler}: ${v.tx_new} of ${repeat * rounds} runs scheduled a new connection`);
    return median(ns);
  } finally {
    dp.close();
  }
}

/**
 * The same established and new-connection loops with sync emission on. A run of the new-connection loop records one
 * sync record per packet, so runs are cut to what the queue holds (50,000 of its ~87,000) and the queue is drained
 * between them: the figure is the cost of recording, not of the full-queue path that counts a loss.
 */
async function syncCost(opts: {
  repeat: number;
  rounds: number;
}): Promise<Pick<ProgCostResult, 'established_sync_ns' | 'new_conn_sync_ns' | 'sync_records' | 'sync_lost'>> {
  const n = native();
  const on = { emit: true };
  const dp = await benchDatapath(objectPath(), 'mh', undefined, on);
  const fresh = await benchDatapath(objectPath('xlvs_bench_fresh'), 'mh', undefined, on);
  try {
    const est = segment(40000, TCP_ACK);
    await n.testRun(dp.programFd(), { data: est });
    const syn = segment(40001, TCP_SYN);
    const chunk = Math.min(opts.repeat, 50_000);
    const estNs: number[] = [],
      newNs: number[] = [];
    let records = 0;
    const drain = async () => {
      for (let got = -1; got !== 0; records += got) got = (await fresh.readSyncEvents(0, 100_000)).length;
    };
    for (let round = 0; round < opts.rounds; round++) {
      estNs.push((await n.testRun(dp.programFd(), { data: est, repeat: opts.repeat })).durationNs);
      const per: number[] = [];
      for (let done = 0; done < opts.repeat; done += chunk) {
        per.push((await n.testRun(fresh.programFd(), { data: syn, repeat: Math.min(chunk, opts.repeat - done) })).durationNs);
        await drain();
      }
      newNs.push(median(per));
    }
    return { established_sync_ns: median(estNs), new_conn_sync_ns: median(newNs), sync_records: records, sync_lost: fresh.syncLosses() };
  } finally {
    fresh.close();
    dp.close();
  }
}

export async function progCost(opts: { repeat: number; rounds: number }): Promise<ProgCostResult> {
  const n = native();
  const bare = await n.BpfObject.open(objectPath('bench_macswap'));
  const dp = await benchDatapath();
  const fresh = await benchDatapath(objectPath('xlvs_bench_fresh'));
  try {
    const bareFd = bare.programFd('bench_macswap');
    const est = segment(40000, TCP_ACK);
    // A SYN opens the connection entry (an ACK of mh would take the stateless path and record nothing).
    const first = await n.testRun(dp.programFd(), { data: segment(40000, TCP_SYN) });
    if (first.retval !== XDP_TX) throw new Error(`the established-flow frame was not forwarded (verdict ${first.retval})`);
    const syn = segment(40001, TCP_SYN);

    // The fresh-flow build cycling through many flows: after one pass, every run is an established flow.
    const many = 65536;
    const cycling = await benchDatapath(objectPath('xlvs_bench_fresh'));
    const seqMap = cycling.objectMap('xlvs_bench_seq');
    seqMap.update(abi.u32Key(1), abi.u32Key(many));
    seqMap.close();
    await n.testRun(cycling.programFd(), { data: segment(40000, TCP_SYN), repeat: many });
    const manyNs: number[] = [];

    const est6 = segment6(40000, TCP_ACK);
    const first6 = await n.testRun(dp.programFd(), { data: segment6(40000, TCP_SYN) });
    if (first6.retval !== XDP_TX) throw new Error(`the established IPv6 frame was not forwarded (verdict ${first6.retval})`);
    const syn6 = segment6(40001, TCP_SYN);

    const bareNs: number[] = [],
      estNs: number[] = [],
      newNs: number[] = [],
      est6Ns: number[] = [],
      new6Ns: number[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      bareNs.push((await n.testRun(bareFd, { data: est, repeat: opts.repeat })).durationNs);
      estNs.push((await n.testRun(dp.programFd(), { data: est, repeat: opts.repeat })).durationNs);
      newNs.push((await n.testRun(fresh.programFd(), { data: syn, repeat: opts.repeat })).durationNs);
      manyNs.push((await n.testRun(cycling.programFd(), { data: est, repeat: opts.repeat })).durationNs);
      est6Ns.push((await n.testRun(dp.programFd(), { data: est6, repeat: opts.repeat })).durationNs);
      new6Ns.push((await n.testRun(fresh.programFd(), { data: syn6, repeat: opts.repeat })).durationNs);
    }
    const cyc = abi.sumPerCpu(abi.verdicts, cycling.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, n.numPossibleCpus());
    cycling.close();
    if (cyc.tx_new !== BigInt(many)) throw new Error(`cycling loop: ${cyc.tx_new} new connections, expected ${many}`);
    const ncpu = n.numPossibleCpus();
    const est_v = abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
    const new_v = abi.sumPerCpu(abi.verdicts, fresh.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
    const runs = BigInt(opts.repeat * opts.rounds);
    // The counters prove each loop took the path it claims to time (the IPv6 loops run on the same two datapaths).
    // Established packets of mh, IPv4 and IPv6, take the stateless path (tx_stateless).
    const est_n = est_v.tx_existing + est_v.tx_stateless;
    if (est_n !== 2n * runs) throw new Error(`established loops: ${est_n} of ${2n * runs} runs were established packets`);
    if (new_v.tx_new !== 2n * runs) throw new Error(`new-connection loops: ${new_v.tx_new} of ${2n * runs} runs scheduled a new flow`);
    const withSync = await syncCost(opts);
    const bySched: Record<string, number> = {};
    // The same repeat count as the mh loop above (so the connection table fills alike), at most three rounds each.
    for (const sched of SCHEDULERS) bySched[sched] = await newConnCost(sched, opts.repeat, Math.min(3, opts.rounds));
    return {
      bare_ns: median(bareNs),
      established_ns: median(estNs),
      established_many_ns: median(manyNs),
      many_flows: many,
      new_conn_ns: median(newNs),
      established6_ns: median(est6Ns),
      new_conn6_ns: median(new6Ns),
      ...withSync,
      new_conn_by_scheduler: bySched,
      repeat: opts.repeat,
      rounds: opts.rounds,
    };
  } finally {
    fresh.close();
    dp.close();
    bare.close();
  }
}
