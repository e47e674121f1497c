// SPDX-License-Identifier: Apache-2.0
// list.ts: `xlvs list [--stats|--rate] [--json]`: the running daemon's services and reals, with counters or per-second rates.

import type { Command } from 'commander';
import { UsageError } from '../../core/errors';
import { isHostMask } from '../../core/ipvsadm-parse';
import type { RealListing, ServiceListing } from '../../core/listing';
import { realName, serviceRow } from '../../core/net/label';
import { table } from '../../core/texttable';
import { api, withSocket } from '../socket';

/** '-': a datapath that reports no connection counts (unknown rather than 0). */
const activeCols = (x: ServiceListing | ServiceListing['reals'][number]) =>
  'activeConns' in x ? [x.activeConns ?? '-', x.inactiveConns ?? '-'].map(String) : ['', ''];

export interface ConnTableInfo {
  entries: number | null;
  /** Entries the table holds at its size now (it grows with its flows). */
  capacity: number;
  /** conn_table_size: the most it grows to (absent from an older daemon). */
  size?: number;
  expired: number | null;
}

/** The check's verdict, its failure cut to a column's width: the whole text is in `--json` (healthDetail). */
export function healthCell(r: Pick<RealListing, 'health' | 'healthDetail'>): string {
  if (r.health !== 'down') return r.health ?? 'unchecked';
  const why = (r.healthDetail?.detail ?? 'check failed').replace(/\s+/g, ' ');
  return `down: ${why.length > HEALTH_WIDTH ? `${why.slice(0, HEALTH_WIDTH - 1)}…` : why}`;
}
const HEALTH_WIDTH = 24;

export function listText(l: ServiceListing[], mode: 'plain' | 'stats' | 'rate', ct?: ConnTableInfo): string {
  const head = ['Prot LocalAddress:Port', 'Sched', 'MAC', 'Health', 'Weight'];
  const cols =
    mode === 'stats'
      ? ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes', 'Drops']
      : mode === 'rate'
        ? ['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS']
        : ['ActiveConn', 'InActConn'];
  const rows: string[][] = [[...head, ...cols]];
  const nums = (x: ServiceListing | ServiceListing['reals'][number]) =>
    mode === 'stats'
      ? [x.stats.conns, x.stats.packets, 0, x.stats.bytes, 0, 'drops' in x.stats ? (x.stats.drops ?? 0) : ''].map(String)
      : mode === 'rate'
        ? [x.rate.cps, x.rate.inpps, x.rate.outpps, x.rate.inbps, x.rate.outbps].map(String)
        : activeCols(x);
  for (const s of l) {
    const flags = [
      ...(s.schedFlags ?? []),
      ...(s.persistence ? [`persistent ${s.persistence.timeout}${isHostMask(s.persistence.netmask) ? '' : ` mask ${s.persistence.netmask}`}`] : []),
    ];
    rows.push([serviceRow(s), `${s.scheduler}${flags.length ? ` (${flags.join(', ')})` : ''}`, '', '', '', ...nums(s)]);
    for (const c of s.arpClaims ?? []) rows.push([`  !! ARP: ${s.vip} claimed by ${c.mac}${c.real ? ` (real ${c.real})` : ''}`, '', '', '', '']);
    for (const r of s.reals) {
      const state = !r.mac ? ' (unresolved)' : r.overloaded ? ' (overloaded)' : r.schedulable || r.health === 'down' ? '' : ' (no new conns)';
      const weight = r.effectiveWeight !== undefined ? `${r.effectiveWeight}/${r.weight}` : String(r.weight);
      rows.push([`  -> ${realName(r.address, s.port)}`, '', `${r.mac ?? '-'}${state}`, healthCell(r), weight, ...nums(r)]);
    }
  }
  const share = ct && ct.entries !== null ? ` (${((100 * ct.entries) / ct.capacity).toFixed(1)}%)` : '';
  const grows = ct?.size !== undefined && ct.size > ct.capacity ? `, grows to ${ct.size}` : '';
  const foot = ct
    ? `Connection table: ${ct.entries === null ? '?' : ct.entries} of ${ct.capacity} entries${share}${grows}${ct.expired === null ? '' : `, ${ct.expired} expired idle so far`}\n`
    : '';
  return `${table(rows)}\n${foot}`;
}

export function registerList(program: Command): void {
  withSocket(
    program
      .command('list')
      .description('services and reals of the running daemon')
      .option('--stats', 'connections, packets, bytes and dropped new connections since start (or the last zero)')
      .option('--rate', 'per-second rates over the last seconds (CPS, InPPS, OutPPS, InBPS, OutBPS; Out is 0 in DR)')
      .option('--json', 'machine-readable output (always carries stats and rates)'),
  ).action(async (o: { stats?: boolean; rate?: boolean; json?: boolean; socket: string }) => {
    if (o.stats && o.rate) throw new UsageError('give --stats or --rate, not both');
    const l = await api<ServiceListing[]>(o, 'GET', '/v1/services');
    if (o.json) {
      process.stdout.write(`${JSON.stringify(l, null, 2)}\n`);
      return;
    }
    const ct = await api<ConnTableInfo>(o, 'GET', '/v1/conntable');
    process.stdout.write(listText(l, o.stats ? 'stats' : o.rate ? 'rate' : 'plain', ct));
  });
}
