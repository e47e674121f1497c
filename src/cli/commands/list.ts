// list.ts: `xlvs list [--stats|--rate] [--json]`: the running daemon's services and reals, with counters or per-second rates.

import { Command } from 'commander';
import type { ServiceListing } from '../../core/controller';
import { UsageError } from '../../core/errors';
import { api, withSocket } from '../socket';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** '-': the datapath does not track TCP state yet, so active/inactive are unknown rather than 0. */
const activeCols = (x: ServiceListing | ServiceListing['reals'][number]) =>
  'activeConns' in x ? [x.activeConns ?? '-', x.inactiveConns ?? '-'].map(String) : ['', ''];

export function listText(l: ServiceListing[], mode: 'plain' | 'stats' | 'rate'): string {
  const head = ['Prot LocalAddress:Port', 'Sched', 'MAC', 'Weight'];
  const cols = mode === 'stats' ? ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'] : mode === 'rate' ? ['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'] : ['ActiveConn', 'InActConn'];
  const rows: string[][] = [[...head, ...cols]];
  const nums = (x: ServiceListing | ServiceListing['reals'][number]) =>
    mode === 'stats' ? [x.stats.conns, x.stats.packets, 0, x.stats.bytes, 0].map(String) : mode === 'rate' ? [x.rate.cps, x.rate.inpps, x.rate.outpps, x.rate.inbps, x.rate.outbps].map(String) : activeCols(x);
  for (const s of l) {
    rows.push([`${s.protocol.toUpperCase()}  ${s.vip}:${s.port}`, s.scheduler, '', '', ...nums(s)]);
    for (const c of s.arpClaims ?? []) rows.push([`  !! ARP: ${s.vip} claimed by ${c.mac}${c.real ? ` (real ${c.real})` : ''}`, '', '', '']);
    for (const r of s.reals) {
      const state = r.health === 'down' ? ` (down: ${r.healthDetail?.detail ?? 'check failed'})` : r.mac ? (r.schedulable ? '' : ' (no new conns)') : ' (MAC unresolved)';
      rows.push([`  -> ${r.address}:${s.port}`, '', `${r.mac ?? '-'}${state}`, String(r.weight), ...nums(r)]);
    }
  }
  return `${table(rows)}\n`;
}

export function registerList(program: Command): void {
  withSocket(
    program
      .command('list')
      .description('services and reals of the running daemon')
      .option('--stats', 'connections, packets and bytes since start (or the last zero)')
      .option('--rate', 'per-second rates over the last seconds (CPS, InPPS, OutPPS, InBPS, OutBPS; Out is 0 in DR)')
      .option('--json', 'machine-readable output (always carries stats and rates)'),
  ).action(async (o: { stats?: boolean; rate?: boolean; json?: boolean; socket: string }) => {
    if (o.stats && o.rate) throw new UsageError('give --stats or --rate, not both');
    const l = await api<ServiceListing[]>(o, 'GET', '/v1/services');
    process.stdout.write(o.json ? `${JSON.stringify(l, null, 2)}\n` : listText(l, o.stats ? 'stats' : o.rate ? 'rate' : 'plain'));
  });
}
