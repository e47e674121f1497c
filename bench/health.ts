// SPDX-License-Identifier: Apache-2.0
// health.ts: health-check cost and detection latency (N reals TCP-checked every second against local listeners), and false downs under control-plane load at the schema's most aggressive settings, through the real HealthRunner, Controller and a loaded (unattached) datapath.

import { spawn } from 'node:child_process';
import { type ProbeTarget, runProbe } from '../src/adapters/checkers';
import { Datapath } from '../src/adapters/datapath';
import { datapathPort } from '../src/adapters/datapathport';
import { HealthRunner } from '../src/adapters/health';
import { parseConfig } from '../src/core/config';
import { Controller } from '../src/core/controller';
import { edits } from '../src/core/edits';

export interface HealthBenchResult {
  reals: number;
  interval_ms: number;
  timeout_ms: number;
  fall: number;
  /** CPU time of the whole process (checks, plans, map writes) over the steady window, as a share of one core. */
  cpu_share_one_core: number;
  window_s: number;
  /** Resident set and JS heap in use at the end of the steady window (the whole process: checks, controller, datapath handles). */
  rss_mib: number;
  heap_mib: number;
  checks_per_s: number;
  killed: number;
  /** From a listener's close to the datapath write that takes its real out of scheduling. */
  detect_median_ms: number;
  detect_p99_ms: number;
  detect_max_ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** Listener process source: N TCP listeners on 127.0.0.1; prints their ports, then closes listener i on "kill i" lines. */
const LISTENERS = `
const net = require('node:net');
const n = Number(process.argv[1]);
const servers = [];
let up = 0;
for (let i = 0; i < n; i++) {
  const socks = new Set();
  const s = net.createServer((c) => { socks.add(c); c.on('close', () => socks.delete(c)); c.on('error', () => {}); c.destroy(); });
  s.listen(0, '127.0.0.1', () => { if (++up === n) process.stdout.write(JSON.stringify(servers.map((x) => x.s.address().port)) + '\\n'); });
  servers.push({ s, socks });
}
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const i = Number(l.split(' ')[1]);
  servers[i].s.close();
  for (const c of servers[i].socks) c.destroy();
});
`;

/** The servers live in their own process, so the CPU figure is the director's alone. */
async function listeners(n: number): Promise<{ ports: number[]; kill(i: number): void; close(): void }> {
  const child = spawn(process.execPath, ['-e', LISTENERS, String(n)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!) as number[]);
    });
    child.on('exit', (code) => reject(new Error(`listener process exited (${code})`)));
  });
  return { ports, kill: (i) => child.stdin!.write(`kill ${i}\n`), close: () => child.kill('SIGKILL') };
}

export async function healthBench(o: { reals: number; windowMs: number; kill: number }): Promise<HealthBenchResult> {
  const perSvc = 20;
  const nSvc = Math.ceil(o.reals / perSvc);
  const interval = 1000,
    timeout = 500,
    fall = 2;
  const lines = ['interface: lo', 'conn_table_size: 65536', 'arp_guard_interval_ms: 0', 'services:'];
  let k = 0;
  const realAddr: string[] = [];
  for (let s = 0; s < nSvc; s++) {
    const reals: string[] = [];
    for (let j = 0; j < perSvc && k < o.reals; j++, k++) {
      // Unique, never .0 or .255: 64 per /24, host parts 1, 5, 9, ...
      const a = `10.${1 + (k >> 14)}.${(k >> 6) & 255}.${((k & 63) << 2) + 1}`;
      realAddr.push(a);
      reals.push(`{address: ${a}}`);
    }
    lines.push(
      `  - { vip: 10.200.${s >> 8}.${(s & 255) + 1}, port: 80, maglev_size: 251, check: { mode: direct, interval_ms: ${interval}, timeout_ms: ${timeout}, fall: ${fall}, rise: 2, jitter_ms: ${interval} }, reals: [${reals.join(', ')}] }`,
    );
  }
  const cfg = parseConfig(lines.join('\n'));
  const servers = await listeners(realAddr.length);
  const portOf = new Map(realAddr.map((a, i) => [a, servers.ports[i]!]));
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  const removedAt = new Map<string, number>();
  let runner: HealthRunner | undefined;
  try {
    const port = datapathPort(dp, []);
    const timed = {
      ...port,
      apply: (ops: Parameters<typeof port.apply>[0]) => {
        port.apply(ops);
        const t = Date.now();
        for (const op of ops) {
          if (op.op !== 'putReal') continue;
          if (op.real.down && !removedAt.has(op.real.address)) removedAt.set(op.real.address, t);
        }
      },
    };
    const macs = new Map(realAddr.map((a) => [a, '02:00:00:00:00:01']));
    const r: HealthRunner = new HealthRunner({
      ifname: 'lo',
      ifindex: 1,
      mac: '00:00:00:00:00:00',
      macOf: () => null,
      onChange: (down) => void controller.setDown(down),
      event: () => {},
      redirect: (t) => ({ ...t, check: { ...t.check, address: '127.0.0.1', port: portOf.get(t.real)! } }),
    });
    runner = r;
    const controller: Controller = new Controller(cfg, [], {
      datapath: timed,
      resolve: (a) => new Map(a.map((x) => [x, macs.get(x) ?? null])),
      check: () => {},
      persist: () => {},
      log: () => {},
      now: () => Date.now(),
      applied: (c) => r.setConfig(c),
      health: (key) => r.get(key),
    });
    await controller.sync();
    await sleep(interval * 2); // warm-up: every target checked at least once, jitter spread out
    const checks0 = r.status().reduce((n, s) => n + s.checks, 0);
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    await sleep(o.windowMs);
    const cpu = process.cpuUsage(cpu0);
    const wall = Date.now() - t0;
    const checks = r.status().reduce((n, s) => n + s.checks, 0) - checks0;
    const mem1 = process.memoryUsage();
    // Deaths spread over one interval, so they land at every phase of the check schedule.
    const victims = realAddr.filter((_, i) => i % Math.floor(o.reals / o.kill) === 0).slice(0, o.kill);
    const diedAt = new Map<string, number>();
    await Promise.all(
      victims.map(async (a, i) => {
        await sleep(Math.floor((i * interval) / victims.length));
        diedAt.set(a, Date.now()); // the close lands in the other process within a millisecond or so
        servers.kill(realAddr.indexOf(a));
      }),
    );
    const deadline = Date.now() + fall * interval + timeout + 3000;
    while (Date.now() < deadline && victims.some((a) => !removedAt.has(a))) await sleep(20);
    const lat = victims.filter((a) => removedAt.has(a)).map((a) => removedAt.get(a)! - diedAt.get(a)!);
    if (lat.length !== victims.length) throw new Error(`${victims.length - lat.length} dead real(s) never left scheduling`);
    // Every removal really reached the datapath: the real's flags lost F_SCHED.
    const snap = controller
      .list()
      .flatMap((s) => s.reals)
      .filter((x) => victims.includes(x.address));
    if (snap.some((x) => x.schedulable)) throw new Error('a dead real is still schedulable');
    return {
      reals: o.reals,
      interval_ms: interval,
      timeout_ms: timeout,
      fall,
      cpu_share_one_core: (cpu.user + cpu.system) / 1000 / wall,
      window_s: wall / 1000,
      rss_mib: mem1.rss / 2 ** 20,
      heap_mib: mem1.heapUsed / 2 ** 20,
      checks_per_s: (checks / wall) * 1000,
      killed: victims.length,
      detect_median_ms: pct(lat, 0.5),
      detect_p99_ms: pct(lat, 0.99),
      detect_max_ms: Math.max(...lat),
    };
  } finally {
    await runner?.stop();
    servers.close();
    dp.close();
  }
}

export interface HealthLoadPhase {
  /**
   * Where the probes ran: 'main' = on the controller's own event loop (the `probe` option; timeouts already read pending answers first), 'prober' = the prober
   * thread.
   */
  probes: 'main' | 'prober';
  edits: number;
  edits_ms: number;
  /** Transitions to down during the edits; every real is alive throughout, so each one is false. */
  edits_false_downs: number;
  services: number;
  apply_ms: number;
  undo_ms: number;
  apply_false_downs: number;
  /** Checks completed over both phases (the probing went on). */
  checks: number;
}

export interface HealthLoadResult {
  reals: number;
  interval_ms: number;
  timeout_ms: number;
  fall: number;
  rise: number;
  phases: HealthLoadPhase[];
}

/** The schema's floor for each timing field of a check (src/core/config.ts). */
const AGGRESSIVE = { interval_ms: 50, timeout_ms: 10, fall: 1, rise: 1 };

/**
 * `reals` live listeners checked at the most aggressive settings while the controller takes `edits` concurrent real
 * edits, then an apply of `services` services (the checked one plus unchecked ones) and its undo. Run once with the
 * probes on the controller's loop and once on the prober thread: the first shows what the thread is for.
 */
export async function healthLoadBench(o: { reals: number; edits: number; services: number }): Promise<HealthLoadResult> {
  const realAddr = Array.from({ length: o.reals }, (_, i) => `10.1.${i >> 8}.${(i & 255) + 1}`);
  const servers = await listeners(o.reals);
  const portOf = new Map(realAddr.map((a, i) => [a, servers.ports[i]!]));
  const redirect = (t: ProbeTarget): ProbeTarget => ({ ...t, check: { ...t.check, address: '127.0.0.1', port: portOf.get(t.real)! } });
  const checked = {
    vip: '10.200.0.1',
    port: 80,
    protocol: 'tcp' as const,
    maglev_size: 251,
    check: { mode: 'direct' as const, ...AGGRESSIVE },
    reals: realAddr.map((address) => ({ address, weight: 1 })),
  };
  const base = { interface: 'lo', conn_table_size: 65536, arp_guard_interval_ms: 0, services: [checked] };
  const big = {
    ...base,
    services: [
      checked,
      ...Array.from({ length: o.services - 1 }, (_, i) => ({
        vip: '10.200.0.1',
        port: 1000 + i,
        protocol: 'tcp' as const,
        maglev_size: 251,
        reals: realAddr.slice(0, 3).map((address) => ({ address, weight: 1 })),
      })),
    ],
  };
  const phases: HealthLoadPhase[] = [];
  try {
    for (const probes of ['main', 'prober'] as const) {
      const dp = await Datapath.load({ connTableSize: base.conn_table_size });
      let runner: HealthRunner | undefined;
      try {
        let downs = 0;
        const r: HealthRunner = new HealthRunner({
          ifname: 'lo',
          ifindex: 1,
          mac: '00:00:00:00:00:00',
          macOf: () => null,
          onChange: (down) => void controller.setDown(down),
          event: (_l, msg) => {
            if (msg === 'real down') downs++;
          },
          ...(probes === 'main' ? { probe: (t: ProbeTarget) => runProbe(redirect(t)) } : { redirect }),
        });
        runner = r;
        const controller: Controller = new Controller(parseConfig(JSON.stringify(base)), [], {
          datapath: datapathPort(dp, []),
          resolve: (a) => new Map(a.map((x) => [x, '02:00:00:00:00:01'])),
          check: () => {},
          persist: () => {},
          log: () => {},
          now: () => Date.now(),
          applied: (c) => r.setConfig(c),
          health: (key) => r.get(key),
        });
        await controller.sync();
        await sleep(500);
        const checks0 = r.status().reduce((n, x) => n + x.checks, 0);
        downs = 0;
        let t0 = Date.now();
        await Promise.allSettled(
          Array.from({ length: o.edits }, (_, i) =>
            controller.change(
              edits.editReal({ vip: checked.vip, port: checked.port, protocol: 'tcp' }, { address: realAddr[i % o.reals]!, weight: 1 + (i % 50) }),
            ),
          ),
        );
        const editsMs = Date.now() - t0;
        await sleep(300); // probes in flight during the burst settle
        const editDowns = downs;
        downs = 0;
        t0 = Date.now();
        await controller.apply(big, { persist: false });
        const applyMs = Date.now() - t0;
        await sleep(300);
        t0 = Date.now();
        await controller.apply(base, { persist: false });
        const undoMs = Date.now() - t0;
        await sleep(300);
        phases.push({
          probes,
          edits: o.edits,
          edits_ms: editsMs,
          edits_false_downs: editDowns,
          services: o.services,
          apply_ms: applyMs,
          undo_ms: undoMs,
          apply_false_downs: downs,
          checks: r.status().reduce((n, x) => n + x.checks, 0) - checks0,
        });
      } finally {
        await runner?.stop();
        dp.close();
      }
    }
  } finally {
    servers.close();
  }
  return {
    reals: o.reals,
    ...{ interval_ms: AGGRESSIVE.interval_ms, timeout_ms: AGGRESSIVE.timeout_ms, fall: AGGRESSIVE.fall, rise: AGGRESSIVE.rise },
    phases,
  };
}
