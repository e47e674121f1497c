// SPDX-License-Identifier: Apache-2.0
// veth.ts: end-to-end forwarding rate on veth: a live-frames generator sends 64-byte TCP frames over many flows to a director running xlvs, a bare MAC swap, or nftables doing the same DR job.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../src/adapters/native';
import { buildTcp, TCP_ACK } from '../src/core/packets';
import { napiThreads, pin } from './napi';

export interface VethCase {
  pps: number;
  sent_pps: number;
  received: number;
  sent: number;
  seconds: number;
}
export interface VethResult {
  flows: number;
  ms: number;
  rounds: number;
  xlvs: VethCase;
  bare: VethCase;
  nftables: VethCase;
  spread: Record<'xlvs' | 'bare' | 'nftables', number[]>;
}

const REALS = [
  { address: '10.0.0.11', mac: '02:00:00:00:00:11' },
  { address: '10.0.0.12', mac: '02:00:00:00:00:12' },
  { address: '10.0.0.13', mac: '02:00:00:00:00:13' },
];

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input ? { input } : {}) });
}

function macOf(ns: string, dev: string): string {
  return JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show', 'dev', dev]))[0].address;
}

export async function vethBench(opts: { flows: number; ms: number; rounds: number }): Promise<VethResult> {
  const root = repoRoot();
  const tag = `xb${process.pid % 100000}`;
  const G = `${tag}g`,
    D = `${tag}d`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-bench-'));
  // Only the namespaces this run added are deleted: a name already in use is someone else's (`ip netns add` refuses it).
  const created: string[] = [];
  const cleanup = () => {
    for (const ns of created)
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  let director: ChildProcess | undefined;
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
    // 60 bytes on the wire before the FCS: the minimum Ethernet frame, the "64-byte" of packet-rate figures.
    const tmpl = Buffer.concat([
      buildTcp({ dstMac: dmac, srcMac: macOf(G, 'gen0'), saddr: '198.18.0.1', daddr: '10.0.0.100', sport: 1, dport: 80, seq: 1, ack: 1, flags: TCP_ACK }),
      Buffer.alloc(6),
    ]);

    // The generator on the first CPU, the director's NAPI thread on the last. The sink is not threaded: the
    // director's XDP_TX schedules it as a softirq on the director's CPU, so it runs inline, without context switches.
    const genCpu = 0,
      dirCpu = os.cpus().length - 1;
    const generate = (): VethCase => {
      sh(['ip', 'netns', 'exec', D, 'sh', '-c', 'echo 1 > /sys/class/net/eth0/threaded']);
      pin(napiThreads('eth0'), dirCpu);
      const out = sh([
        'taskset',
        '-c',
        String(genCpu),
        'ip',
        'netns',
        'exec',
        G,
        process.execPath,
        path.join(root, 'dist/bench/vethgen.js'),
        '--ifname',
        'gen0',
        '--flows',
        String(opts.flows),
        '--ms',
        String(opts.ms),
        '--frame',
        tmpl.toString('hex'),
      ]);
      const r = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; received: number; seconds: number };
      return { pps: r.received / r.seconds, sent_pps: r.sent / r.seconds, received: r.received, sent: r.sent, seconds: r.seconds };
    };

    // xlvs, as an operator runs it.
    const cfg = path.join(tmp, 'xlvs.yaml');
    fs.writeFileSync(
      cfg,
      `interface: eth0\nservices:\n  - vip: 10.0.0.100\n    port: 80\n    protocol: tcp\n    reals:\n${REALS.map((r) => `      - { address: ${r.address}, weight: 1 }`).join('\n')}\n`,
    );
    const runXlvs = async (): Promise<VethCase> => {
      const child = spawn('ip', ['netns', 'exec', D, path.join(root, 'bin/xlvs'), 'up', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
      director = child;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`xlvs up not ready:\n${out}`)), 20_000);
        const on = (d: Buffer) => {
          out += d;
          if (out.includes('xlvs: ready')) {
            clearTimeout(t);
            resolve();
          }
        };
        child.stdout!.on('data', on);
        child.stderr!.on('data', on);
        child.on('exit', (c) => {
          clearTimeout(t);
          reject(new Error(`xlvs up exited ${c}:\n${out}`));
        });
      });
      const r = generate();
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      await exited;
      director = undefined;
      return r;
    };

    // The baseline: the least an XDP_TX forwarder can do.
    const runBare = (): VethCase => {
      sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'obj', path.join(root, 'build/bpf/bench_macswap.o'), 'sec', 'xdp']);
      try {
        return generate();
      } finally {
        sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'off']);
      }
    };

    // nftables doing the same DR job in netdev ingress. The XDP_PASS program is only there because veth
    // drops XDP-redirected frames for a peer without one; its cost is a small part of the skb path.
    const map = REALS.map((r, i) => `${i} : ${r.mac}`).join(', ');
    const runNft = (): VethCase => {
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
        return generate();
      } finally {
        sh(['ip', 'netns', 'exec', D, 'nft', 'delete', 'table', 'netdev', 'xlvsbench']);
        sh(['ip', '-n', D, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'off']);
      }
    };

    // Rounds interleave the three so that drift in the machine (other guests, frequency) hits each alike.
    const runs: Record<'xlvs' | 'bare' | 'nftables', VethCase[]> = { xlvs: [], bare: [], nftables: [] };
    for (let round = 0; round < opts.rounds; round++) {
      runs.xlvs.push(await runXlvs());
      runs.bare.push(runBare());
      runs.nftables.push(runNft());
    }
    const med = (xs: VethCase[]) => xs.slice().sort((a, b) => a.pps - b.pps)[Math.floor(xs.length / 2)]!;
    const pps = (xs: VethCase[]) => xs.map((x) => Math.round(x.pps));
    return {
      flows: opts.flows,
      ms: opts.ms,
      rounds: opts.rounds,
      xlvs: med(runs.xlvs),
      bare: med(runs.bare),
      nftables: med(runs.nftables),
      spread: { xlvs: pps(runs.xlvs), bare: pps(runs.bare), nftables: pps(runs.nftables) },
    };
  } finally {
    director?.kill('SIGKILL');
    cleanup();
  }
}
