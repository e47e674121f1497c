// SPDX-License-Identifier: Apache-2.0
// veth.ts: end to end on veth by flow count (1, 65,536, 1M in turn, all new): live frames into xlvs (mh, wrr), a bare MAC swap or nftables.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from '../src/adapters/native';
import { parseConfig } from '../src/core/config';
import { buildTcp, TCP_ACK, TCP_SYN } from '../src/core/packets';
import type { Flows } from './flows';
import { napiThreads, pin } from './napi';
import { type DirCounters, type DirRequest, REALS, vethConfig } from './vethdir';
import { formatVeth, type VethCaseName, type VethResult, type VethRow, type VethWarm } from './vethformat';

const XLVS_SCHEDULERS = ['mh', 'wrr'] as const;
/** kernel.bpf_stats_enabled: per-program run time and count, on for the in-place runs only. */
const STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** One generator run. */
interface VethRun {
  pps: number;
  sent_pps: number;
  received: number;
  sent: number;
  seconds: number;
  counters?: DirCounters;
  /** ns per run of the director's XDP program where it ran (bpf_stats), when asked for. */
  prog_ns?: number;
}

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input ? { input } : {}) });
}

function macOf(ns: string, dev: string): string {
  return JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show', 'dev', dev]))[0].address;
}

/** The director helper (bench/vethdir.ts) in its namespace, one request at a time. */
class Director {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | undefined;
  private err = '';

  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(l);
      } else this.lines.push(l);
    });
    child.stderr!.on('data', (d) => {
      this.err += d;
    });
  }

  async next(): Promise<Record<string, unknown>> {
    const line =
      this.lines.shift() ??
      (await new Promise<string>((resolve, reject) => {
        const onExit = (c: number | null) => {
          clearTimeout(t);
          reject(new Error(`vethdir exited ${c}:\n${this.err}`));
        };
        const t = setTimeout(() => reject(new Error(`vethdir: no answer in 60 s\n${this.err}`)), 60_000);
        this.child.once('exit', onExit);
        this.waiting = (l) => {
          clearTimeout(t);
          this.child.off('exit', onExit);
          resolve(l);
        };
      }));
    return JSON.parse(line);
  }

  async ask(req: DirRequest): Promise<Record<string, unknown>> {
    this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    return this.next();
  }
}

type Nums = Record<string, number>;
/** Field by field b - a (sign -1) or a + b (sign 1), other_by included. */
function combine(a: DirCounters, b: DirCounters, sign: 1 | -1): DirCounters {
  const f = (x: Nums, y: Nums): Nums =>
    Object.fromEntries([...new Set([...Object.keys(x), ...Object.keys(y)])].map((k) => [k, (y[k] ?? 0) + sign * (x[k] ?? 0)]));
  const { other_by: ax, ...an } = a;
  const { other_by: bx, ...bn } = b;
  return { ...(f(an, bn) as unknown as Omit<DirCounters, 'other_by'>), other_by: f(ax, bx) };
}
const diff = (a: DirCounters, b: DirCounters) => combine(a, b, -1);
const add = (a: DirCounters | undefined, b: DirCounters) => (a ? combine(a, b, 1) : b);

/**
 * Rounds interleave every case at every flow count, so drift on the machine (other guests, the shared CPUs) hits each
 * alike. The xlvs datapaths stay loaded for the whole run (bench/vethdir.ts) and are attached in turn: one per
 * scheduler that is filled once with the largest established count (then cycled through 1, 65,536 or 1M of those
 * flows, a subset), and one per scheduler that only ever sees new flows.
 */
export async function vethBench(opts: { counts: Flows[]; ms: number; rounds: number }): Promise<VethResult> {
  const root = repoRoot();
  const tag = `xv${process.pid % 100000}`;
  const G = `${tag}g`,
    D = `${tag}d`;
  // Only the namespaces this run added are deleted: a name already in use is someone else's (`ip netns add` refuses it).
  const created: string[] = [];
  let dirChild: ChildProcess | undefined;
  const statsWas = fs.readFileSync(STATS, 'utf8').trim();
  try {
    for (const ns of [G, D]) {
      sh(['ip', 'netns', 'add', ns]);
      created.push(ns);
    }
    sh(['ip', 'link', 'add', 'gen0', 'netns', G, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', D]);
    sh(['ip', '-n', G, 'addr', 'add', '10.0.0.1/24', 'dev', 'gen0']);
    sh(['ip', '-n', D, 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0']);
    for (const [ns, dev] of [
      [G, 'gen0'],
      [D, 'eth0'],
      [G, 'lo'],
      [D, 'lo'],
    ] as const)
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    for (const r of REALS) sh(['ip', '-n', D, 'neigh', 'replace', r.address, 'lladdr', r.mac, 'dev', 'eth0', 'nud', 'permanent']);
    const dmac = macOf(D, 'eth0');
    // 60 bytes on the wire before the FCS: the minimum Ethernet frame, the "64-byte" of packet-rate figures. An ACK:
    // a flow's first one is picked up mid-stream as established, so no timed frame is a state change.
    // Every frame new is a SYN each: an ACK of an unknown flow would take an mh service's stateless path and measure
    // no new connection at all.
    const tmplOf = (flags: number) =>
      Buffer.concat([
        buildTcp({ dstMac: dmac, srcMac: macOf(G, 'gen0'), saddr: '198.18.0.1', daddr: '10.0.0.100', sport: 1, dport: 80, seq: 1, ack: 1, flags }),
        Buffer.alloc(6),
      ]);
    const tmpl = tmplOf(TCP_ACK),
      synTmpl = tmplOf(TCP_SYN);

    // The generator on the first CPU, the director's NAPI thread on the last. The sink is not threaded: the
    // director's XDP_TX schedules it as a softirq on the director's CPU, so it runs inline, without context switches.
    const genCpu = 0,
      dirCpu = os.cpus().length - 1;
    // The director's XDP program and what bpf_stats has counted for it (run_time_ns appears once it is non-zero).
    const progStats = (): { ns: number; runs: number } => {
      const id = JSON.parse(sh(['ip', '-n', D, '-j', '-d', 'link', 'show', 'dev', 'eth0']))[0].xdp?.prog?.id;
      if (id === undefined) throw new Error('veth: no XDP program on the director');
      const p = JSON.parse(sh(['bpftool', 'prog', 'show', 'id', String(id), '-j']));
      return { ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 };
    };
    const generate = (flows: number, g: { warm?: number; paced?: boolean; start?: number; ms: number; stats?: boolean }): VethRun & { seq: number } => {
      sh(['ip', 'netns', 'exec', D, 'sh', '-c', 'echo 1 > /sys/class/net/eth0/threaded']);
      pin(napiThreads('eth0'), dirCpu);
      if (g.stats) {
        const before = progStats();
        fs.writeFileSync(STATS, '1');
        try {
          const r = generate(flows, { ...g, stats: false });
          const after = progStats();
          return { ...r, prog_ns: (after.ns - before.ns) / Math.max(1, after.runs - before.runs) };
        } finally {
          fs.writeFileSync(STATS, statsWas);
        }
      }
      const args = ['--ifname', 'gen0', '--flows', String(flows), '--ms', String(g.ms), '--frame', (flows === 0 ? synTmpl : tmpl).toString('hex')];
      if (g.warm !== undefined) args.push('--warm', String(g.warm));
      if (g.start !== undefined) args.push('--start', String(g.start));
      if (g.paced) args.push('--paced');
      const out = sh(['taskset', '-c', String(genCpu), 'ip', 'netns', 'exec', G, process.execPath, path.join(root, 'dist/bench/vethgen.js'), ...args]);
      const r = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; received: number; seconds: number; seq: number };
      return { pps: r.received / r.seconds, sent_pps: r.sent / r.seconds, received: r.received, sent: r.sent, seconds: r.seconds, seq: r.seq };
    };

    // xlvs: the helper loads one datapath per scheduler (and one per scheduler for all-new) the daemon's way.
    const established = opts.counts.filter((f): f is number => f !== 'new');
    // One established datapath per scheduler and flow count: its connection table grows to the size those flows ask for.
    const estName = (s: string, flows: number) => `${s}@${flows}`;
    const names = [
      ...XLVS_SCHEDULERS.flatMap((s) => established.map((f) => estName(s, f))),
      ...(opts.counts.includes('new') ? XLVS_SCHEDULERS.map((s) => `${s}-new`) : []),
    ];
    // The helper (the director's control plane: sweeps every second, growth checks) runs beside the generator, off the
    // forwarding core, as a director's control plane would beside the CPUs its NIC queues keep busy; left to float, its
    // sweeps of the 65,536 and 1M-flow tables landed on the forwarding core in some rounds and not others (mh at 65,536
    // flows 0.53-2.09 Mpps between rounds of one run; pinned 1.82-2.23).
    dirChild = spawn(
      'taskset',
      [
        '-c',
        String(genCpu),
        'ip',
        'netns',
        'exec',
        D,
        process.execPath,
        path.join(root, 'dist/bench/vethdir.js'),
        '--ifname',
        'eth0',
        '--mac',
        dmac,
        '--datapaths',
        names.join(','),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const dir = new Director(dirChild);
    await dir.next(); // ready
    const counters = async (name: string) => (await dir.ask({ op: 'counters', name })) as unknown as DirCounters;
    const budget = parseConfig(vethConfig('mh')).new_conn_budget;

    // Fill each established datapath with its count: paced passes over every flow (first two, then one at a time)
    // until one schedules fewer than 0.2 % of them. The director sweeps every second meanwhile, so its connection
    // table grows with the flows as a running director's does.
    // The new-connection budget is off meanwhile, so mh records every flow at once; as if the clients had come over
    // minutes. It is back at the default for the timed rounds (established frames never count toward it).
    const warm: VethWarm[] = [];
    for (const s of XLVS_SCHEDULERS)
      for (const fill of established) {
        const name = estName(s, fill);
        await dir.ask({ op: 'attach', name });
        await dir.ask({ op: 'budget', name, perCpu: 0 });
        const w: VethWarm = { scheduler: s, flows: fill, passes: 0, frames: 0, last_pass_new: fill };
        while (w.passes < 6 && w.last_pass_new > fill * 0.002) {
          const before = await counters(name);
          const frames = w.passes === 0 ? 2 * fill : fill;
          generate(fill, { warm: frames, paced: true, ms: 0 });
          w.passes++;
          w.frames += frames;
          w.last_pass_new = (await counters(name)).tx_new - before.tx_new;
        }
        await dir.ask({ op: 'budget', name, perCpu: budget });
        await dir.ask({ op: 'detach' });
        warm.push(w);
      }

    const runXlvs = async (s: string, flows: Flows, start: number, stats = false): Promise<VethRun & { seq: number }> => {
      const name = flows === 'new' ? `${s}-new` : estName(s, flows);
      await dir.ask({ op: 'attach', name });
      try {
        const before = await counters(name);
        const r = generate(flows === 'new' ? 0 : flows, { ms: opts.ms, start, stats });
        return { ...r, counters: diff(before, await counters(name)) };
      } finally {
        await dir.ask({ op: 'detach' });
      }
    };

    // The baseline: the least an XDP_TX forwarder can do.
    const runBare = (flows: number, stats = false): VethRun => {
      sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'obj', path.join(root, 'build/bpf/bench_macswap.o'), 'sec', 'xdp']);
      try {
        return generate(flows, { ms: opts.ms, stats });
      } finally {
        sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'off']);
      }
    };

    // nftables doing the same DR job in netdev ingress. The XDP_PASS program is only there because veth
    // drops XDP-redirected frames for a peer without one; its cost is a small part of the skb path.
    const map = REALS.map((r, i) => `${i} : ${r.mac}`).join(', ');
    const runNft = (flows: number): VethRun => {
      sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'obj', path.join(root, 'build/bpf/xdp_pass.o'), 'sec', 'xdp']);
      sh(
        ['ip', 'netns', 'exec', D, 'nft', '-f', '-'],
        `table netdev xlvsbench {
  chain ingress {
    type filter hook ingress device "eth0" priority 0;
    ip daddr 10.0.0.100 tcp dport 80 ether saddr set ${dmac} ether daddr set jhash ip saddr . tcp sport mod ${REALS.length} map { ${map} } fwd to "eth0"
  }
}
`,
      );
      try {
        return generate(flows, { ms: opts.ms });
      } finally {
        sh(['ip', 'netns', 'exec', D, 'nft', 'delete', 'table', 'netdev', 'xlvsbench']);
        sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'off']);
      }
    };

    const cases: VethCaseName[] = ['bare', 'nftables', 'xlvs mh', 'xlvs wrr'];
    const runs = new Map<string, VethRun[]>();
    // All-new runs start past every sequence number the previous ones used: each frame is a flow never seen.
    const nextStart: Record<string, number> = { mh: 0, wrr: 0 };
    for (let round = 0; round < opts.rounds; round++)
      for (const flows of opts.counts)
        for (const c of cases) {
          let r: VethRun;
          if (c === 'bare') r = runBare(flows === 'new' ? 0 : flows);
          else if (c === 'nftables') r = runNft(flows === 'new' ? 0 : flows);
          else {
            const s = c.slice(5);
            const x = await runXlvs(s, flows, flows === 'new' ? nextStart[s]! : 0);
            if (flows === 'new') nextStart[s] = x.seq;
            r = x;
          }
          const k = `${flows}/${c}`;
          runs.set(k, [...(runs.get(k) ?? []), r]);
        }
    // One more run of each XDP case with bpf_stats on: the program's own time per frame where it runs, cold caches and
    // all, apart from what the veth path and the harness around it cost. Not in the rounds: the two clock reads per
    // run that bpf_stats adds would count in their rates.
    const progNs = new Map<string, number>();
    for (const flows of opts.counts) {
      progNs.set(`${flows}/bare`, runBare(flows === 'new' ? 0 : flows, true).prog_ns!);
      for (const s of XLVS_SCHEDULERS) {
        const x = await runXlvs(s, flows, flows === 'new' ? nextStart[s]! : 0, true);
        if (flows === 'new') nextStart[s] = x.seq;
        progNs.set(`${flows}/xlvs ${s}`, x.prog_ns!);
      }
    }
    const rows: VethRow[] = [];
    for (const flows of opts.counts)
      for (const c of cases) {
        const xs = runs.get(`${flows}/${c}`)!;
        const med = xs.slice().sort((a, b) => a.pps - b.pps)[Math.floor(xs.length / 2)]!;
        const counted = xs.reduce<DirCounters | undefined>((acc, x) => (x.counters ? add(acc, x.counters) : acc), undefined);
        rows.push({
          flows,
          case: c,
          pps: med.pps,
          sent_pps: med.sent_pps,
          spread: xs.map((x) => Math.round(x.pps)),
          ...(counted ? { counters: counted } : {}),
          ...(progNs.has(`${flows}/${c}`) ? { prog_ns: progNs.get(`${flows}/${c}`)! } : {}),
        });
      }
    await dir.ask({ op: 'quit' }).catch(() => undefined);
    return { ms: opts.ms, rounds: opts.rounds, counts: opts.counts, rows, warm };
  } finally {
    dirChild?.stdin?.end();
    if (dirChild && dirChild.exitCode === null) {
      const exited = new Promise((res) => dirChild!.once('exit', res));
      const t = setTimeout(() => dirChild!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    for (const ns of created)
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
  }
}

async function main(): Promise<void> {
  const short = process.argv.includes('--short');
  const r = await vethBench(short ? { counts: [65536, 'new'], ms: 300, rounds: 1 } : { counts: [1, 65536, 1_000_000, 'new'], ms: 2000, rounds: 5 });
  for (const [a, b, c] of formatVeth(r)) process.stdout.write(`${a.padEnd(52)} ${b.padStart(6)}  ${c}\n`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`veth: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
