// SPDX-License-Identifier: Apache-2.0
// status.ts: `xlvs status`: the director (host, VRRP role), services, reals with MAC and weight, and the datapath's counters, read from the pinned maps.

import * as os from 'node:os';
import type { Command } from 'commander';
import type { BgpStatus } from '../../adapters/announce';
import { call, DEFAULT_SOCKET } from '../../adapters/api';
import { interfaceInfo, pinDir, requireRoot } from '../../adapters/host';
import { PinnedDatapath, type Snapshot } from '../../adapters/pinned';
import type { ReloadResult } from '../../adapters/promregistry';
import type { SyncStats } from '../../adapters/sync';
import { ctEventFields, REAL_F_SCHED, type Verdicts, verdictFields } from '../../core/abi';
import { VERIFIER_BUDGET } from '../../core/kernel';
import type { ServiceListing } from '../../core/listing';
import { realName, serviceRow } from '../../core/net/label';
import { protoOf } from '../../core/net/proto';
import { table } from '../../core/texttable';
import { type VrrpStatus, vrrpSummary } from '../../core/vrrp';
import { interfaceFrom } from '../options';

export interface StatusJson {
  /**
   * This director: its host name, its VRRP role when a daemon answers (null otherwise: the maps do not know it), and
   * its BGP announcements from a daemon with a bgp section.
   */
  director: { host: string; vrrp: VrrpStatus | null; bgp?: BgpStatus };
  interface: string;
  kernel: string;
  xdp: { mode: string; progId: number } | null;
  /** The loaded programs that use this director's maps, with what each cost the verifier (null before 5.16). */
  programs: { name: string; id: number; verifiedInsns: number | null }[];
  verifierBudget: number;
  services: {
    vip: string;
    port: number;
    protocol: 'tcp' | 'udp';
    scheduler: string;
    maglevSize: number;
    stats: { packets: number; bytes: number; conns: number };
    reals: {
      address: string;
      mac: string | null;
      weight: number;
      schedulable: boolean;
      stats: { packets: number; bytes: number; conns: number };
      health?: string;
      healthDetail?: string;
    }[];
    /** From a daemon answering on --socket: other MACs answering ARP for the VIP. */
    arpClaims?: { mac: string; real: string | null; since: number }[];
  }[];
  verdicts: Record<keyof Verdicts, number>;
  /** From a daemon answering on --socket: its last config load (start, SIGHUP, reload), refused or not. */
  reload?: ReloadResult;
  /** From a daemon answering on --socket: its connection sync daemons (absent when none runs). */
  sync?: SyncStats;
}

const num = (c: { packets: bigint; bytes: bigint; conns: bigint }) => ({ packets: Number(c.packets), bytes: Number(c.bytes), conns: Number(c.conns) });

export function toJson(ifname: string, xdp: StatusJson['xdp'], snap: Snapshot, programs: StatusJson['programs'] = []): StatusJson {
  return {
    director: { host: os.hostname(), vrrp: null },
    interface: ifname,
    kernel: os.release(),
    xdp,
    programs,
    verifierBudget: VERIFIER_BUDGET,
    services: snap.services.map((s) => ({
      vip: s.vip,
      port: s.port,
      protocol: protoOf(s.proto) ?? 'udp',
      // The datapath's own scheduler number, read back from the pinned service: what forwards, not what a file says.
      scheduler: s.scheduler,
      maglevSize: s.tblSize,
      stats: num(s.stats),
      reals: s.reals.map((r) => ({ address: r.address, mac: r.mac, weight: r.weight, schedulable: (r.flags & REAL_F_SCHED) !== 0, stats: num(r.stats) })),
    })),
    verdicts: Object.fromEntries([...verdictFields, ...ctEventFields].map((f) => [f, Number(snap.verdicts[f])])) as Record<keyof Verdicts, number>,
  };
}

export function toText(st: StatusJson): string {
  const who = `director ${st.director.host}: ${st.director.vrrp ? vrrpSummary(st.director.vrrp) : 'vrrp role unknown (no daemon answered)'}`;
  const head = `${who}\nxlvs on ${st.interface}: ${st.xdp ? `XDP program ${st.xdp.progId} attached (${st.xdp.mode})` : 'no XDP program attached'}`;
  const rows: string[][] = [['Prot LocalAddress:Port', 'Sched', 'MAC', 'Weight', 'Conns', 'Packets', 'Bytes']];
  for (const s of st.services) {
    rows.push([serviceRow(s), s.scheduler, '', '', String(s.stats.conns), String(s.stats.packets), String(s.stats.bytes)]);
    for (const r of s.reals) {
      const state =
        r.health === 'down' ? ` (down: ${r.healthDetail ?? 'check failed'})` : r.mac ? (r.schedulable ? '' : ' (no new conns)') : ' (MAC unresolved)';
      rows.push([
        `  -> ${realName(r.address, s.port)}`,
        '',
        `${r.mac ?? '-'}${state}`,
        String(r.weight),
        String(r.stats.conns),
        String(r.stats.packets),
        String(r.stats.bytes),
      ]);
    }
    for (const c of s.arpClaims ?? []) rows.push([`  !! ARP: ${s.vip} claimed by ${c.mac}${c.real ? ` (real ${c.real})` : ''}`, '', '', '', '', '', '']);
  }
  const v = Object.entries(st.verdicts)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  const progs = st.programs.map((p) => `${p.name} ${p.verifiedInsns === null ? 'unknown' : p.verifiedInsns.toLocaleString('en')}`).join(', ');
  const verifier = `kernel ${st.kernel}; verifier instructions: ${progs || 'no program found'} (budget ${st.verifierBudget.toLocaleString('en')} each)`;
  return `${head}\n${bgpText(st.director.bgp)}${table(rows)}\nverdicts: ${v}\n${syncText(st.sync)}${verifier}\n${st.reload ? `${reloadLine(st.reload)}\n` : ''}`;
}

export function reloadLine(r: ReloadResult): string {
  const when = (ms: number) => new Date(ms).toISOString();
  return r.successful
    ? `config: last reload succeeded at ${when(r.at)}`
    : `config: LAST RELOAD FAILED at ${when(r.at)}: ${r.error ?? 'unknown error'}; running the config loaded at ${when(r.lastSuccessAt)}`;
}

/** The BGP lines: drain state, then each VIP announced or withdrawn and why. */
export function bgpText(b: BgpStatus | undefined): string {
  if (!b?.vips) return '';
  const drain = b.drained
    ? `drained since ${new Date(b.drainedSince ?? 0).toISOString()}${b.drain ? ` (${b.drain.active} active, ${b.drain.tracked} tracked connections)` : ''}`
    : 'not drained';
  const vips = b.vips.map((v) => `${v.vip} ${v.announced ? 'announced' : `withdrawn (${v.reason})`}`).join(', ');
  return `bgp (table ${b.table}): ${drain}; ${vips || 'no VIP'}\n`;
}

/** One line per sync daemon: where it talks, what it moved, what it lost, and how far behind it runs. */
export function syncText(sync: SyncStats | undefined): string {
  let s = '';
  const m = sync?.master;
  if (m)
    s +=
      `sync master (mcast=${m.mcast_interface}, syncid=${m.syncid}, ${m.group}:${m.port}, maxlen=${m.maxlen}): sent ${m.sentMessages} messages, ` +
      `${m.sentEntries} entries; lost ${m.datapathLosses} (datapath) + ${m.sendErrors} (send); behind ${m.entriesBehind} entries, ` +
      `lag p50 ${m.lagMs.p50} ms p99 ${m.lagMs.p99} ms${m.error ? `; error: ${m.error}` : ''}\n`;
  const b = sync?.backup;
  if (b)
    s +=
      `sync backup (mcast=${b.mcast_interface}, syncid=${b.syncid}, ${b.group}:${b.port}): received ${b.receivedMessages} messages, ` +
      `${b.receivedEntries} entries; inserted ${b.inserted}, updated ${b.updated}, refused ${b.refused}, skipped ${b.skipped}; ` +
      `dropped ${b.malformed} malformed, ${b.ignored} other syncid; behind ${b.entriesBehind} entries, lag p50 ${b.lagMs.p50} ms p99 ${b.lagMs.p99} ms` +
      `${b.error ? `; error: ${b.error}` : ''}\n`;
  return s;
}

/** Health and ARP-guard state live in the daemon, not in the maps: merged in when a daemon answers (best effort). */
async function addDaemonState(st: StatusJson, socket: string): Promise<void> {
  let list: ServiceListing[];
  try {
    list = await call<ServiceListing[]>(socket, 'GET', '/v1/services');
  } catch {
    return; // no daemon (xlvs up, or none): the maps say all there is
  }
  const reload = await call<Partial<ReloadResult> | null>(socket, 'GET', '/v1/reload').catch(() => null);
  if (reload && typeof reload.successful === 'boolean') st.reload = reload as ReloadResult;
  try {
    const d = await call<{ host: string; vrrp: VrrpStatus }>(socket, 'GET', '/v1/director');
    // The daemon's host name: the one its metrics and page show (a UTS namespace of its own may name it differently).
    st.director = { ...st.director, host: d.host, vrrp: d.vrrp };
  } catch {
    /* an older daemon without the route: the role stays unknown */
  }
  // A daemon without a bgp section answers {} (the API sends {} for nothing): no BGP line then.
  const bgp = await call<Partial<BgpStatus> | null>(socket, 'GET', '/v1/director/bgp').catch(() => null);
  if (bgp && Array.isArray(bgp.vips)) st.director = { ...st.director, bgp: bgp as BgpStatus };
  const sync = await call<SyncStats>(socket, 'GET', '/v1/sync').catch(() => ({}) as SyncStats);
  if (sync.master || sync.backup) st.sync = sync;
  for (const s of st.services) {
    const l = list.find((x) => x.vip === s.vip && x.port === s.port && x.protocol === s.protocol);
    if (!l) continue;
    if (l.arpClaims?.length) s.arpClaims = l.arpClaims;
    for (const r of s.reals) {
      const lr = l.reals.find((x) => x.address === r.address);
      if (lr?.health) r.health = lr.health;
      if (lr?.healthDetail) r.healthDetail = lr.healthDetail.detail;
    }
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show services, reals (MAC, weight) and counters of the director running on an interface')
    .option('-c, --config <file>', 'the config the director runs with (for its interface)')
    .option('-i, --interface <name>', 'the interface the director is attached to')
    .option('--json', 'machine-readable output')
    .option('--socket <path>', "a daemon's API socket: adds health and ARP-guard state when it answers", DEFAULT_SOCKET)
    .action(async (opts: { config?: string; interface?: string; json?: boolean; socket: string }) => {
      const ifname = interfaceFrom(opts);
      requireRoot('xlvs status');
      const dp = new PinnedDatapath(pinDir(ifname));
      try {
        const info = interfaceInfo(ifname);
        const st = toJson(ifname, info.xdp ?? null, dp.snapshot(), dp.programs());
        await addDaemonState(st, opts.socket);
        process.stdout.write(opts.json ? `${JSON.stringify(st, null, 2)}\n` : toText(st));
      } finally {
        dp.close();
      }
    });
}
