// SPDX-License-Identifier: Apache-2.0
// syncwire.ts: connection sync carried master -> backup: two processes, real multicast sockets and the v1 codec, new connections/s and end-to-end lag.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SyncService } from '../src/adapters/sync';
import { multicastTransport } from '../src/adapters/synctransport';
import { CS } from '../src/core/abi';
import { validateConfig } from '../src/core/config';
import type { ObservedService } from '../src/core/plan';
import type { SyncEvent, SyncInsert } from '../src/core/syncdp';

/*
 * What is measured: the protocol half of connection sync, end to end between two processes: the master's read loop,
 * batching into version 1 messages, a UDP multicast socket in and out of the kernel, the backup's decode, syncid
 * filter and id mapping, and one insert call per batch. The datapaths are stand-ins (the master's hands out
 * events at the offered rate, the backup's records when each entry arrives), so the figures are what the sync daemons
 * carry, not what BPF inserts cost (that is xlvs_syncin's, measured by the datapath's own benchmarks).
 * Both processes run in a namespace of their own with multicast on its loopback, so nothing leaves the host.
 * Event i is created at t0 + i / rate on CLOCK_MONOTONIC, which both processes read: the backup computes each
 * entry's lag from its client address and port alone.
 */

export interface SyncWireResult {
  offered_per_s: number;
  connections: number;
  /** Entries the backup inserted per second, first creation to last insert. */
  carried_per_s: number;
  received: number;
  lost: number;
  messages: number;
  lag_p50_ms: number;
  lag_p99_ms: number;
  lag_max_ms: number;
  /** The namespace's UDP RcvbufErrors: datagrams the kernel dropped because the backup's socket buffer was full. */
  udp_rcvbuf_errors: number;
}

/** UDP RcvbufErrors of this process's network namespace (/proc/net/snmp). */
function rcvbufErrors(): number {
  const lines = fs
    .readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  return Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? 0);
}

const VIP = '10.0.0.100';
const REALS = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
const observed: ObservedService[] = [
  { id: 1, vip: VIP, port: 80, proto: 6, mhSize: 0, reals: REALS.map((a, i) => ({ id: i + 1, address: a, weight: 1, mac: null, flags: 3 })) },
];
const config = validateConfig({ interface: 'lo', services: [{ vip: VIP, port: 80, scheduler: 'wrr', reals: REALS.map((address) => ({ address })) }] });
const daemon = { mcast_interface: 'lo', syncid: 1, group: '224.0.0.81', port: 8848, ttl: 1 };

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
/** Connection i: a distinct client address and port (2^24 clients x 1 port is plenty). */
const client = (i: number) => ({ caddr: `100.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, cport: 1024 + (i % 60000) });
const indexOf = (caddr: string): number => {
  const p = caddr.split('.');
  return (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3]);
};

/** The start time the parent sends once both processes are up (so neither's start-up counts as lag). */
async function startTime(): Promise<number> {
  process.stdout.write('ready\n');
  let buf = '';
  for await (const chunk of process.stdin) {
    buf += String(chunk);
    if (buf.includes('\n')) break;
  }
  return Number(buf.trim());
}

async function runMaster(rate: number, count: number): Promise<void> {
  let next = 0;
  let t0 = Number.POSITIVE_INFINITY;
  const dp = {
    async readSyncEvents(timeoutMs: number, max = 4096): Promise<SyncEvent[]> {
      // Everything created by now (the schedule says when), else wait for the next one or the timeout.
      let due = Math.min(count, Math.floor(((nowMs() - t0) * rate) / 1000) + 1);
      if (due <= next) {
        await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 1)));
        due = Math.min(count, Math.floor(((nowMs() - t0) * rate) / 1000) + 1);
      }
      const out: SyncEvent[] = [];
      const now = nowMs();
      for (; next < due && out.length < max; next++) {
        const c = client(next);
        const raddr = REALS[next % 3]!;
        out.push({
          proto: 6,
          ...c,
          vaddr: VIP,
          vport: 80,
          raddr,
          state: CS.ESTABLISHED,
          template: false,
          svcId: 1,
          realId: 1,
          ageMs: now - (t0 + (next * 1000) / rate),
        });
      }
      return out;
    },
    syncLosses: () => 0,
    insertSynced: () => ({ inserted: 0, updated: 0, refused: 0 }),
  };
  const svc = new SyncService({
    datapath: dp,
    view: () => ({ observed, config }),
    mtu: () => 1500,
    log: () => undefined,
    now: nowMs,
    transport: (role, d, maxlen, on) => multicastTransport(role, d, maxlen, on, { loopback: true }),
  });
  await svc.configure({ master: daemon });
  t0 = await startTime();
  while (next < count) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 50));
  const st = svc.stats().master!;
  await svc.stop();
  process.stdout.write(`${JSON.stringify({ messages: st.sentMessages, entries: st.sentEntries, error: st.error })}\n`);
}

async function runBackup(rate: number, count: number, waitMs: number): Promise<void> {
  let t0 = Number.POSITIVE_INFINITY;
  const lags = new Float64Array(count);
  let received = 0;
  let lastAt = 0;
  const dp = {
    insertSynced(entries: readonly SyncInsert[]) {
      const now = nowMs();
      for (const e of entries) {
        const i = indexOf(e.caddr);
        if (i < count && lags[i] === 0) {
          lags[i] = Math.max(1e-6, now - (t0 + (i * 1000) / rate));
          received++;
        }
      }
      lastAt = now;
      return { inserted: entries.length, updated: 0, refused: 0 };
    },
  };
  const svc = new SyncService({
    datapath: dp,
    view: () => ({ observed, config }),
    mtu: () => 1500,
    log: () => undefined,
    now: nowMs,
    transport: (role, d, maxlen, on) => multicastTransport(role, d, maxlen, on, { loopback: true }),
  });
  await svc.configure({ backup: daemon });
  t0 = await startTime();
  const until = t0 + (count * 1000) / rate + waitMs;
  while (received < count && nowMs() < until) await new Promise((r) => setTimeout(r, 10));
  const st = svc.stats().backup!;
  await svc.stop();
  const got = Array.from(lags.filter((x) => x > 0)).sort((a, b) => a - b);
  const q = (p: number) => (got.length ? got[Math.min(got.length - 1, Math.floor(p * got.length))]! : 0);
  const res: SyncWireResult = {
    offered_per_s: rate,
    connections: count,
    carried_per_s: received / ((lastAt - t0) / 1000),
    received,
    lost: count - received,
    messages: st.receivedMessages,
    lag_p50_ms: q(0.5),
    lag_p99_ms: q(0.99),
    lag_max_ms: got.at(-1) ?? 0,
    udp_rcvbuf_errors: rcvbufErrors(),
  };
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

/** One run: a fresh namespace, the backup started and ready, then the master offering `count` connections at `rate`. */
async function runOnce(rate: number, count: number): Promise<SyncWireResult> {
  const ns = `xlvs-syncb-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up', 'multicast', 'on']);
    const me = path.join(__dirname, 'syncwire.js');
    const child = (role: string) =>
      spawn('ip', ['netns', 'exec', ns, process.execPath, me, `--${role}`, String(rate), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const backup = child('backup');
    const master = child('master');
    let out = '';
    let mout = '';
    backup.stdout.on('data', (d: Buffer) => (out += d.toString()));
    master.stdout.on('data', (d: Buffer) => (mout += d.toString()));
    const t = Date.now();
    while (!(out.includes('ready') && mout.includes('ready')) && Date.now() - t < 20_000) await new Promise((r) => setTimeout(r, 10));
    // Both are up, joined and compiled: the schedule starts 100 ms from now on the clock both read.
    const t0 = nowMs() + 100;
    backup.stdin.end(`${t0}\n`);
    master.stdin.end(`${t0}\n`);
    await Promise.all([new Promise((r) => backup.on('exit', r)), new Promise((r) => master.on('exit', r))]);
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`sync bench: the backup reported nothing (master said ${mout.trim()})`);
    return JSON.parse(line) as SyncWireResult;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

/** Offered at `rate` (the target 100,000/s) and at twice that, to see where carrying stops keeping up. */
export async function syncWireBench(opts: { count: number; rates: number[] }): Promise<SyncWireResult[]> {
  const out: SyncWireResult[] = [];
  for (const r of opts.rates) out.push(await runOnce(r, opts.count));
  return out;
}

export function formatSyncWire(rs: SyncWireResult[]): string[][] {
  return rs.map((r) => [
    `  offered ${r.offered_per_s.toLocaleString('en')}/s, ${r.connections.toLocaleString('en')} connections`,
    r.carried_per_s.toFixed(0),
    `carried/s; lost ${r.lost} (${r.udp_rcvbuf_errors} datagrams dropped by a full receive buffer); ` +
      `lag p50 ${r.lag_p50_ms.toFixed(1)} ms, p99 ${r.lag_p99_ms.toFixed(1)} ms, max ${r.lag_max_ms.toFixed(1)} ms (${r.messages} messages)`,
  ]);
}

if (require.main === module) {
  const [flag, rate, count] = process.argv.slice(2);
  const main =
    flag === '--master'
      ? runMaster(Number(rate), Number(count))
      : flag === '--backup'
        ? runBackup(Number(rate), Number(count), 3000)
        : syncWireBench({ count: Number(flag ?? 300_000), rates: [100_000, 200_000] }).then((r) => {
            process.stdout.write(
              `${formatSyncWire(r)
                .map((x) => x.join('  '))
                .join('\n')}\n${JSON.stringify(r, null, 2)}\n`,
            );
          });
  main.catch((e) => {
    process.stderr.write(`sync bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
