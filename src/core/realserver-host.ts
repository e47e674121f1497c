// SPDX-License-Identifier: Apache-2.0
// realserver-host.ts: the real server as set-up and check see it (addresses of both families, ARP sysctls, arp-family nft rules, the IPv6 view), and xlvs's record of what setup changed there.

import { isIPv4, isIPv6 } from './net/addr';

export type Method = 'sysctl' | 'arp-rules';
export const METHODS: readonly Method[] = ['sysctl', 'arp-rules'];

/** The nftables table arp-rules lives in; xlvs owns it only when its state file says it created it. */
export const NFT_TABLE = 'xlvs_rs';
export const NFT_COMMENT = 'xlvs realserver: keeps this host quiet on ARP for its LVS-DR VIPs';

/** Values of arp_ignore under which an address held on lo is never answered for on another interface. */
export const QUIET_ARP_IGNORE = new Set([1, 2, 8]);

export interface HostAddr {
  dev: string;
  local: string;
  prefixlen: number;
}

/** Sysctls are keyed "<dev>/<name>" ("all/arp_ignore", "eth0/rp_filter"); device names cannot hold a slash. */
export function sysctlKey(dev: string, name: string): string {
  return `${dev}/${name}`;
}

/** The dotted name sysctl(8) and sysctl.d use; a dot inside a device name (eth0.100) is written as a slash. */
export function sysctlDotted(key: string): string {
  const [dev, name] = key.split('/') as [string, string];
  return `net.ipv4.conf.${dev.replace(/\./g, '/')}.${name}`;
}

export function sysctlProcPath(key: string): string {
  const [dev, name] = key.split('/') as [string, string];
  return `/proc/sys/net/ipv4/conf/${dev}/${name}`;
}

/** One arp-family nft rule that matters for DR: which VIPs it names and what it does to them. */
export interface ArpRule {
  table: string;
  hook: 'input' | 'output';
  /** The addresses the rule matches as ARP target (input) or sender (output) address. */
  vips: string[];
  /** Matches only this ARP operation, if it names one. */
  operation?: 'request' | 'reply';
  iifname?: string;
  oifname?: string;
  action: 'drop' | 'mangle';
  /** For mangle: the sender address written in place of the VIP. */
  mangleTo?: string;
}

/** The prefix length a VIP is held with on lo: the address alone (/32, /128), so no range becomes local. */
export function vipPrefixLen(vip: string): 32 | 128 {
  return isIPv6(vip) ? 128 : 32;
}

/** `ip addr` arguments for a VIP on lo; IPv6 with nodad (lo does no duplicate address detection anyway, so it is usable at once). */
export function loAddrArgs(verb: 'add' | 'del' | 'replace', vip: string): string[] {
  return ['addr', verb, `${vip}/${vipPrefixLen(vip)}`, 'dev', 'lo', ...(isIPv6(vip) && verb !== 'del' ? ['nodad'] : [])];
}

/** The VIPs ARP is about (IPv4); IPv6 VIPs need no ARP sysctls or arp-family rules. */
export function v4Vips(vips: readonly string[]): string[] {
  return vips.filter((v) => isIPv4(v));
}

/** What matters for IPv6 VIPs: whether IPv6 is on, and what would make the kernel answer neighbour solicitations for one. */
export interface RsHost6 {
  /** net.ipv6.conf.<dev>.<name> for all, lo and the NIC: disable_ipv6, forwarding, proxy_ndp; keyed by sysctlKey; missing when unreadable. */
  sysctl: Record<string, number>;
  /** Proxy neighbour entries (`ip -6 neigh show proxy`): the host answers solicitations for these on dev when forwarding with proxy_ndp. */
  proxies: { dev: string; address: string }[];
  defaultRoutes: { gateway?: string; dev: string }[];
}

export interface RsHost {
  /** Every interface by name with its MTU. */
  devices: Record<string, { mtu: number }>;
  addrs: HostAddr[];
  /** Values of the sysctls set-up and check look at, by sysctlKey; missing when unreadable. */
  sysctl: Record<string, number>;
  /** Names of the tables in the arp family. */
  arpTables: string[];
  arpRules: ArpRule[];
  defaultRoutes: { gateway?: string; dev: string }[];
  /** Current contents of the files --persist would write (null: absent); keyed by path. */
  files: Record<string, string | null>;
  /** The IPv6 side; absent when it was not read (a host without IPv6 support reads as all disabled). */
  ipv6?: RsHost6;
}

export function addrsOf(host: RsHost, dev: string): HostAddr[] {
  return host.addrs.filter((a) => a.dev === dev);
}

/** The address ARP from dev should carry: its first (primary) IPv4 address. */
export function primaryAddress(host: RsHost, dev: string): string | undefined {
  return addrsOf(host, dev).find((a) => isIPv4(a.local))?.local;
}

/** The dotted name of an IPv6 per-interface sysctl: net.ipv6.conf.<dev>.<name>. */
export function sysctl6Dotted(key: string): string {
  return sysctlDotted(key).replace(/^net\.ipv4\./, 'net.ipv6.');
}

/** Summarises `nft -j list ruleset arp`: the rules that drop ARP for an address on input or rewrite/drop it on output. */
export function summarizeArpRules(json: unknown): ArpRule[] {
  const items = (json as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return [];
  const hooks = new Map<string, string>();
  for (const it of items as any[]) {
    const c = it?.chain;
    if (c && c.family === 'arp' && typeof c.hook === 'string') hooks.set(`${c.table}/${c.name}`, c.hook);
  }
  const values = (right: unknown): string[] => {
    if (typeof right === 'string') return [right];
    const set = (right as { set?: unknown[] } | null)?.set;
    return Array.isArray(set) ? set.filter((x): x is string => typeof x === 'string') : [];
  };
  const out: ArpRule[] = [];
  for (const it of items as any[]) {
    const r = it?.rule;
    if (!r || r.family !== 'arp' || !Array.isArray(r.expr)) continue;
    const hook = hooks.get(`${r.table}/${r.chain}`);
    if (hook !== 'input' && hook !== 'output') continue;
    let vips: string[] = [];
    let operation: ArpRule['operation'];
    let iifname: string | undefined;
    let oifname: string | undefined;
    let action: ArpRule['action'] | undefined;
    let mangleTo: string | undefined;
    let unsupported = false;
    const field = hook === 'input' ? 'daddr ip' : 'saddr ip';
    for (const e of r.expr as any[]) {
      if (e.match) {
        const left = e.match.left;
        const eq = e.match.op === '==' || e.match.op === 'in';
        if (left?.payload?.protocol === 'arp' && left.payload.field === field) {
          if (!eq) unsupported = true;
          else vips = values(e.match.right);
        } else if (left?.payload?.protocol === 'arp' && left.payload.field === 'operation') {
          if (!eq || (e.match.right !== 'request' && e.match.right !== 'reply')) unsupported = true;
          else operation = e.match.right;
        } else if (left?.meta?.key === 'iifname' && eq && typeof e.match.right === 'string') {
          iifname = e.match.right;
        } else if (left?.meta?.key === 'oifname' && eq && typeof e.match.right === 'string') {
          oifname = e.match.right;
        } else {
          // Some other condition narrows the rule in a way this summary cannot judge.
          unsupported = true;
        }
      } else if ('drop' in e) {
        action ??= 'drop';
      } else if (e.mangle?.key?.payload?.protocol === 'arp' && e.mangle.key.payload.field === 'saddr ip' && typeof e.mangle.value === 'string') {
        action = 'mangle';
        mangleTo = e.mangle.value;
      }
    }
    if (unsupported || !action || vips.length === 0) continue;
    out.push({
      table: r.table,
      hook,
      vips,
      action,
      ...(operation ? { operation } : {}),
      ...(iifname ? { iifname } : {}),
      ...(oifname ? { oifname } : {}),
      ...(mangleTo ? { mangleTo } : {}),
    });
  }
  return out;
}

/** Rules that keep requests for vip arriving on dev from being answered. */
export function dropsRequestsFor(rules: ArpRule[], vip: string, dev: string): ArpRule | undefined {
  return rules.find(
    (r) => r.hook === 'input' && r.action === 'drop' && r.vips.includes(vip) && r.operation !== 'reply' && (r.iifname === undefined || r.iifname === dev),
  );
}

/** A rule that keeps vip out of the sender address of ARP requests leaving dev (rewritten or dropped). */
export function hidesSenderFor(rules: ArpRule[], vip: string, dev: string): ArpRule | undefined {
  return rules.find(
    (r) =>
      r.hook === 'output' &&
      r.vips.includes(vip) &&
      r.operation !== 'reply' &&
      (r.oifname === undefined || r.oifname === dev) &&
      (r.action === 'drop' || (r.mangleTo !== undefined && r.mangleTo !== vip)),
  );
}

/** What `realserver setup` changed, so teardown can reverse exactly that. */
export interface RsState {
  version: 1;
  dev: string;
  method: Method;
  /** VIPs set up, in the order they were asked for. */
  vips: string[];
  /** The VIPs whose /32 (/128) on lo xlvs added; the others were there before and stay. */
  addedAddrs: string[];
  /** Sysctls xlvs changed, with the value each had before. */
  sysctls: { key: string; prior: number; value: number }[];
  /** arp-rules: xlvs created the table; nicAddress is what outgoing ARP carries instead of a VIP. */
  nft: { created: boolean; nicAddress: string } | null;
  /** --persist: where the files went (root is "/" on a live host) and which ones xlvs wrote. */
  persist: { root: string; files: string[] } | null;
}
