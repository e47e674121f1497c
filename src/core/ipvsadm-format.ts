// SPDX-License-Identifier: Apache-2.0
// ipvsadm-format.ts: ipvsadm's list, save, timeout and connection outputs reproduced byte for byte from xlvs's listings.

import { CS } from './abi';
import type { Config } from './config';
import { stateTimeouts } from './config';
import { isHostMask } from './ipvsadm-parse';
import type { ConnectionListing, ServiceListing } from './listing';
import { compareIp, formatHostPort, isIPv6 } from './net/addr';
import { ipvsadmProto, protoNumber } from './net/proto';

/** ipvsadm's print_largenum: 9 columns (a leading space included), scaled to K/M/G/T unless --exact. */
export function largenum(n: number | bigint, exact: boolean): string {
  const i = BigInt(n);
  if (exact) {
    const s = i.toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000n) return i.toString().padStart(9);
  if (i < 1000000000n) return `${(i / 1000n).toString().padStart(8)}K`;
  if (i < 100000000000n) return `${(i / 1000000n).toString().padStart(8)}M`;
  if (i < 100000000000000n) return `${(i / 1000000000n).toString().padStart(8)}G`;
  return `${(i / 1000000000000n).toString().padStart(8)}T`;
}

/** How an address:port is shown: numeric (-n) or resolved host and service names. */
export type Namer = (addr: string, port: number, proto: 'tcp' | 'udp') => string;
/** -n: "10.0.0.1:80", "[2001:db8::1]:80" (addrport_to_anyname brackets an IPv6 address). */
export const numericName: Namer = (addr, port) => formatHostPort(addr, port);

/**
 * ipvsadm (libipvs's ipvs_cmp_services) sorts services by family (IPv4 first), protocol, address, port, and
 * destinations by address, port.
 */
function sorted(list: readonly ServiceListing[]): ServiceListing[] {
  const v6 = (a: string) => (isIPv6(a) ? 1 : 0);
  return [...list]
    .sort((a, b) => v6(a.vip) - v6(b.vip) || protoNumber(a.protocol) - protoNumber(b.protocol) || compareIp(a.vip, b.vip) || a.port - b.port)
    .map((s) => ({ ...s, reals: [...s.reals].sort((x, y) => compareIp(x.address, y.address)) }));
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The flags in print_sched_flags' order (fallback, then port), comma-separated; '' when none. */
function flagsText(s: ServiceListing): string {
  const on = new Set(s.schedFlags ?? []);
  return [`${s.scheduler}-fallback`, `${s.scheduler}-port`].filter((f) => on.has(f)).join(',');
}

/**
 * The service line of print_service_entry (ipvsadm 1.31) outside --stats/--rate: name, scheduler, then
 * " (FLAGS)" when flags are set, then " persistent TIMEOUT" and " mask NETMASK" (the mask only when it is not
 * 255.255.255.255, or for an IPv6 service 128: "mask 64").
 */
function serviceLine(svc: string, s: ServiceListing): string {
  const flags = flagsText(s);
  let out = `${svc} ${s.scheduler}`;
  if (flags) out += ` (${flags})`;
  if (s.persistence) {
    out += ` persistent ${s.persistence.timeout}`;
    if (!isHostMask(s.persistence.netmask)) out += ` mask ${s.persistence.netmask}`;
  }
  return out;
}

/** A connection count the datapath did not report (an older datapath) shows as IPVS's idle 0. */
const count = (n: number | null | undefined) => String(n ?? 0);

/** `ipvsadm -L [-n] [--stats|--rate|--thresholds] [--exact]`. */
export function formatList(
  list: readonly ServiceListing[],
  o: { format: 'plain' | 'stats' | 'rate' | 'thresholds'; exact: boolean; size: number; name?: Namer; header?: boolean },
): string {
  const name = o.name ?? numericName;
  let out = o.header === false ? '' : `IP Virtual Server version 1.2.1 (size=${o.size})\n`;
  if (o.format === 'stats')
    out += `${pad('Prot LocalAddress:Port', 33)} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => h.padStart(8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  else if (o.format === 'rate')
    out += `${pad('Prot LocalAddress:Port', 33)} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => h.padStart(8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  else if (o.format === 'thresholds')
    out += `${pad('Prot LocalAddress:Port', 33)} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((h) => pad(h, 10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  else out += 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  const L = (n: number | bigint) => largenum(n, o.exact);
  for (const s of sorted(list)) {
    // ipvsadm cuts the service column at 33 characters and the destination column at 28, for IPv4 only: an
    // IPv6 name is printed whole and pushes the columns after it right.
    const v6 = isIPv6(s.vip);
    const cut = (t: string, n: number) => (v6 ? t : t.slice(0, n));
    const svc = cut(`${ipvsadmProto(s.protocol)}  ${name(s.vip, s.port, s.protocol)}`, 33);
    if (o.format === 'stats') out += `${pad(svc, 33)}${L(s.stats.conns)}${L(s.stats.packets)}${L(0)}${L(s.stats.bytes)}${L(0)}\n`;
    else if (o.format === 'rate') out += `${pad(svc, 33)}${L(s.rate.cps)}${L(s.rate.inpps)}${L(s.rate.outpps)}${L(s.rate.inbps)}${L(s.rate.outbps)}\n`;
    else out += `${serviceLine(svc, s)}\n`;
    for (const r of s.reals) {
      const d = cut(name(r.address, s.port, s.protocol), 28);
      if (o.format === 'stats') out += `  -> ${pad(d, 28)}${L(r.stats.conns)}${L(r.stats.packets)}${L(0)}${L(r.stats.bytes)}${L(0)}\n`;
      else if (o.format === 'rate')
        out += `  -> ${pad(d, 28)} ${String(r.rate.cps).padStart(8)} ${String(r.rate.inpps).padStart(8)} ${String(r.rate.outpps).padStart(8)}${L(r.rate.inbps)}${L(r.rate.outbps)}\n`;
      else if (o.format === 'thresholds')
        out += `  -> ${pad(d, 28)} ${[r.upperThreshold, r.lowerThreshold, r.activeConns, r.inactiveConns].map((n) => pad(count(n), 10)).join(' ')}\n`;
      else {
        // The weight in force: a real the datapath does not schedule (check failed) shows 0, as keepalived's inhibit does.
        const w = String(r.effectiveWeight ?? r.weight);
        out += `  -> ${pad(d, 28)} ${pad('Route', 7)} ${pad(w, 6)} ${pad(count(r.activeConns), 10)} ${pad(count(r.inactiveConns), 10)}\n`;
      }
    }
  }
  return out;
}

/**
 * `ipvsadm -S [-n]`: one -A line per service (" -p T", " -M MASK" unless all ones (IPv6: " -M LEN" unless 128),
 * then " -b FLAGS", in ipvsadm 1.31's order), one -a line per destination. ipvsadm 1.31 leaves -x/-y out of its -a lines, so a restore loses the
 * thresholds; xlvsadm appends " -x U -y L" (each only when set, so lines without thresholds are ipvsadm's byte for
 * byte, and ipvsadm -R reads the extra options as well).
 */
export function formatSave(list: readonly ServiceListing[], name: Namer = numericName): string {
  let out = '';
  for (const s of sorted(list)) {
    const svc = `${s.protocol === 'tcp' ? '-t' : '-u'} ${name(s.vip, s.port, s.protocol)}`;
    out += `-A ${svc} -s ${s.scheduler}`;
    if (s.persistence) {
      out += ` -p ${s.persistence.timeout}`;
      if (!isHostMask(s.persistence.netmask)) out += ` -M ${s.persistence.netmask}`;
    }
    const flags = flagsText(s);
    if (flags) out += ` -b ${flags}`;
    out += '\n';
    for (const r of s.reals) {
      out += `-a ${svc} -r ${name(r.address, s.port, s.protocol)} -g -w ${r.weight}`;
      if (r.upperThreshold) out += ` -x ${r.upperThreshold}`;
      if (r.lowerThreshold) out += ` -y ${r.lowerThreshold}`;
      out += '\n';
    }
  }
  return out;
}

/** `ipvsadm -L --timeout`. */
export function formatTimeouts(t: Config['timeouts']): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcp_fin} ${t.udp}\n`;
}

/** One connection as ipvsadm -c lists it (the controller's listing). */
export type ConnListing = ConnectionListing;

/** IPVS's state names (ip_vs_proto_tcp.c, ip_vs_proto_udp.c) by abi CS value. */
const STATE_NAMES: Record<number, string> = {
  [CS.NONE]: 'NONE',
  [CS.SYN_RECV]: 'SYN_RECV',
  [CS.ESTABLISHED]: 'ESTABLISHED',
  [CS.FIN_WAIT]: 'FIN_WAIT',
  [CS.CLOSE]: 'CLOSE',
  [CS.UDP]: 'UDP',
};

/** Seconds a connection in this state lives idle: the same table the datapath's sweeper gets (config.ts). */
export function stateTimeout(state: number, t: Config['timeouts']): number {
  return stateTimeouts(t)[state] ?? 0;
}

/**
 * `ipvsadm -L -c`: the connection table ("%-3s %-6s %-11s %-18s %-18s %s", expire "%02d:%02d"). Expire is what is
 * left of the state's timeout since the entry last saw a packet, given `clock` (now on the same clock as lastSeen,
 * and the timeouts); without it, or for an entry without state, 00:00. An established packet does not stamp
 * lastSeen itself (the sweeper does, from the entry's hit count), so expire may run up to one sweep interval ahead of IPVS's.
 */
export function formatConns(conns: readonly ConnListing[], name: Namer = numericName, clock?: { now: number; timeouts: Config['timeouts'] }): string {
  let out = 'IPVS connection entries\npro expire state       source             virtual            destination\n';
  for (const c of conns) {
    let left = 0;
    if (clock && c.state !== undefined && c.lastSeen !== undefined)
      left = Math.max(0, stateTimeout(c.state, clock.timeouts) - Math.max(0, clock.now - c.lastSeen));
    const expire = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
    const state = STATE_NAMES[c.state ?? CS.NONE] ?? 'NONE';
    out += `${pad(c.protocol.toUpperCase(), 3)} ${pad(expire, 6)} ${pad(state, 11)} ${pad(name(c.client, c.cport, c.protocol), 18)} ${pad(name(c.vip, c.vport, c.protocol), 18)} ${name(c.real, c.vport, c.protocol)}\n`;
  }
  return out;
}
