// status.ts: `xlvs status`: services, reals with MAC and weight, and the datapath's counters, read from the pinned maps.

import { Command } from 'commander';
import { IPPROTO_TCP, REAL_F_SCHED, Verdicts, verdictFields } from '../../core/abi';
import { PinnedDatapath, Snapshot } from '../../adapters/datapath';
import { interfaceInfo, pinDir, requireRoot } from '../../adapters/host';
import { interfaceFrom } from '../options';

export interface StatusJson {
  interface: string;
  xdp: { mode: string; progId: number } | null;
  services: {
    vip: string; port: number; protocol: 'tcp' | 'udp'; scheduler: string; maglevSize: number;
    stats: { packets: number; bytes: number; conns: number };
    reals: { address: string; mac: string | null; weight: number; schedulable: boolean; stats: { packets: number; bytes: number; conns: number } }[];
  }[];
  verdicts: Record<keyof Verdicts, number>;
}

const num = (c: { packets: bigint; bytes: bigint; conns: bigint }) => ({ packets: Number(c.packets), bytes: Number(c.bytes), conns: Number(c.conns) });

export function toJson(ifname: string, xdp: StatusJson['xdp'], snap: Snapshot): StatusJson {
  return {
    interface: ifname,
    xdp,
    services: snap.services.map((s) => ({
      vip: s.vip,
      port: s.port,
      protocol: s.proto === IPPROTO_TCP ? 'tcp' : 'udp',
      scheduler: 'mh',
      maglevSize: s.mhSize,
      stats: num(s.stats),
      reals: s.reals.map((r) => ({ address: r.address, mac: r.mac, weight: r.weight, schedulable: (r.flags & REAL_F_SCHED) !== 0, stats: num(r.stats) })),
    })),
    verdicts: Object.fromEntries(verdictFields.map((f) => [f, Number(snap.verdicts[f])])) as Record<keyof Verdicts, number>,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function toText(st: StatusJson): string {
  const head = `xlvs on ${st.interface}: ${st.xdp ? `XDP program ${st.xdp.progId} attached (${st.xdp.mode})` : 'no XDP program attached'}`;
  const rows: string[][] = [['Prot LocalAddress:Port', 'Sched', 'MAC', 'Weight', 'Conns', 'Packets', 'Bytes']];
  for (const s of st.services) {
    rows.push([`${s.protocol.toUpperCase()}  ${s.vip}:${s.port}`, s.scheduler, '', '', String(s.stats.conns), String(s.stats.packets), String(s.stats.bytes)]);
    for (const r of s.reals) {
      const state = r.mac ? (r.schedulable ? '' : ' (no new conns)') : ' (MAC unresolved)';
      rows.push([`  -> ${r.address}:${s.port}`, '', `${r.mac ?? '-'}${state}`, String(r.weight), String(r.stats.conns), String(r.stats.packets), String(r.stats.bytes)]);
    }
  }
  const v = Object.entries(st.verdicts).map(([k, n]) => `${k}=${n}`).join(' ');
  return `${head}\n${table(rows)}\nverdicts: ${v}\n`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show services, reals (MAC, weight) and counters of the director running on an interface')
    .option('-c, --config <file>', 'the config the director runs with (for its interface)')
    .option('-i, --interface <name>', 'the interface the director is attached to')
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; interface?: string; json?: boolean }) => {
      const ifname = interfaceFrom(opts);
      requireRoot('xlvs status');
      const dp = new PinnedDatapath(pinDir(ifname));
      try {
        const info = interfaceInfo(ifname);
        const st = toJson(ifname, info.xdp ?? null, dp.snapshot());
        process.stdout.write(opts.json ? `${JSON.stringify(st, null, 2)}\n` : toText(st));
      } finally {
        dp.close();
      }
    });
}
