// SPDX-License-Identifier: Apache-2.0
// keepalived-groups.ts: virtual_server_group blocks read as keepalived 2.2 reads them: each member (address, range or prefix, port) as the VIP:ports it stands for.

import type { ServiceConfig } from './config';
import { UsageError } from './errors';
import { place } from './keepalived-include';
import { describe, type KaNode } from './keepalived-parse';
import type { Note } from './keepalived-skips';
import { MAX_SERVICES } from './limits';
import { isIPv4 } from './net/addr';

/** One VIP:port a group stands for, with the member statement it comes from. */
export interface GroupAddress {
  vip: string;
  port: number;
  member: KaNode;
}

export interface KaGroup {
  node: KaNode;
  addresses: GroupAddress[];
  /** Members xlvs has no service for (fwmark, IPv6): each a dropped service wherever the group is used. */
  unserved: { member: KaNode; reason: string }[];
}

const toNum = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const SKIPS = 'keepalived skips the member too';

/**
 * A member's first and last address (IPv4, inclusive), or the reason keepalived refuses it. Forms: ADDR,
 * ADDR-LAST (last octet, above the first), ADDR-ENDADDR (not below ADDR), ADDR/LEN (1..32, no host bits; every
 * address of the prefix, network and broadcast included).
 */
function memberRange(a: string): { first: number; last: number } | string {
  const slash = a.indexOf('/');
  if (slash >= 0) {
    const [ip, len] = [a.slice(0, slash), a.slice(slash + 1)];
    if (!isIPv4(ip)) return `${ip} is not an IPv4 address`;
    const bits = /^\d+$/.test(len) ? Number(len) : NaN;
    if (!(bits >= 1 && bits <= 32)) return `/${len} is not a prefix length 1..32`;
    const size = 2 ** (32 - bits);
    const first = toNum(ip);
    if (first % size) return `${a} has host bits set (the network is ${toIp(first - (first % size))}/${bits})`;
    return { first, last: first + size - 1 };
  }
  const dash = a.indexOf('-');
  if (dash < 0) return isIPv4(a) ? { first: toNum(a), last: toNum(a) } : `${a} is not an IPv4 address`;
  const [ip, end] = [a.slice(0, dash), a.slice(dash + 1)];
  if (!isIPv4(ip)) return `${ip} is not an IPv4 address`;
  const first = toNum(ip);
  if (end.includes('.')) {
    if (!isIPv4(end)) return `range end ${end} is not an IPv4 address`;
    const last = toNum(end);
    return last < first ? `range end ${end} is below its start ${ip}` : { first, last };
  }
  if (!/^\d+$/.test(end)) return `range end ${end} is not a number`;
  const octet = Number(end);
  if (octet > 255) return `range end ${end} is not an octet (0..255)`;
  if (octet <= first % 256) return `range end ${end} is not above the start's last octet (${first % 256})`;
  return { first, last: first - (first % 256) + octet };
}

/**
 * Every top-level virtual_server_group by name (the first definition of a name, which is the one keepalived looks
 * up); members keepalived refuses are listed as ignored, each naming the member and its line. A group that would
 * stand for more services than xlvs holds is refused (UsageError) before anything is expanded.
 */
export function readGroups(nodes: KaNode[], note: Note, mainFile?: string): Map<string, KaGroup> {
  const groups = new Map<string, KaGroup>();
  for (const top of nodes) {
    if (top.key !== 'virtual_server_group') continue;
    const name = top.args[0];
    if (name === undefined) {
      note(top, 'a virtual_server_group needs a name (keepalived refuses it too)', undefined, 'ignored');
      continue;
    }
    const first = groups.get(name);
    if (first) {
      note(top, `virtual_server_group ${name} is already defined at ${place(first.node, mainFile)}: keepalived uses that one`, undefined, 'ignored');
      continue;
    }
    const g: KaGroup = { node: top, addresses: [], unserved: [] };
    groups.set(name, g);
    let total = 0;
    for (const m of top.children ?? []) {
      if (m.key === 'fwmark') {
        g.unserved.push({ member: m, reason: 'firewall-mark services are not in xlvs' });
        continue;
      }
      if (m.key.includes(':')) {
        g.unserved.push({ member: m, reason: 'IPv6 group members are not expanded yet (an IPv6 virtual_server is imported)' });
        continue;
      }
      // keepalived 2.0.7+: no port, or 0, is every port of the VIP.
      const p = m.args[0];
      const port = p === undefined || /^0+$/.test(p) ? 0 : /^\d+$/.test(p) && Number(p) <= 65535 ? Number(p) : NaN;
      const range = memberRange(m.key);
      if (typeof range === 'string' || Number.isNaN(port) || m.children) {
        const why = typeof range === 'string' ? range : Number.isNaN(port) ? `port ${p} is not 1..65535` : 'a member has no block';
        note(m, `${why} (${SKIPS})`, undefined, 'ignored');
        continue;
      }
      total += range.last - range.first + 1;
      if (total > MAX_SERVICES)
        throw new UsageError(
          `${place(m, mainFile)}: virtual_server_group ${name}: member ${describe(m)} brings the group to ${total} addresses; xlvs holds at most ${MAX_SERVICES} services`,
        );
      for (let a = range.first; a <= range.last; a++) g.addresses.push({ vip: toIp(a), port, member: m });
    }
  }
  return groups;
}

/** A converted service and the block (and group member) it came from. */
export interface Built {
  svc: ServiceConfig;
  /** Something of it was converted with other semantics (counted in the summary). */
  approx: boolean;
  top: KaNode;
  member?: KaNode;
}

/**
 * IPVS has one service per VIP:port/protocol, so keepalived cannot make two: its second create fails ("Service
 * already exists"). The first block in file order (includes read where they stand) keeps the service; a later
 * block's is dropped, naming both places, to be merged by hand. The same VIP:port twice in one group is one service.
 */
export function dropDuplicates(built: Built[], note: Note, mainFile?: string): Built[] {
  const first = new Map<string, Built>();
  const out: Built[] = [];
  for (const b of built) {
    const key = `${b.svc.vip}:${b.svc.port}/${b.svc.protocol}`;
    const f = first.get(key);
    if (!f) {
      first.set(key, b);
      out.push(b);
      continue;
    }
    const here = b.member ?? b.top;
    const what = b.member ? `${describe(b.top)}: ${describe(b.member)}` : describe(b.top);
    const there = `${f.member ? `${describe(f.member)} of ` : ''}${describe(f.top)} at ${place(f.member ?? f.top, mainFile)}`;
    if (f.top === b.top) note(here, `${key} is also ${there}: keepalived makes one service of it, and so does the import`, what, 'ignored');
    else
      note(
        here,
        `${key} is also ${there}: IPVS has one service per VIP:port/protocol, so keepalived's second create fails ("Service already exists"); ` +
          'the import keeps the first and drops this one: merge the two blocks',
        what,
        'service',
      );
  }
  return out;
}

/**
 * `virtual_server group NAME` -> one service per VIP:port of the group, each with the block's reals, checks,
 * scheduler and persistence, as keepalived applies the block to every member. Members xlvs cannot serve (fwmark,
 * IPv6) are dropped services; an undefined group drops the block (keepalived ignores it, but its services are not
 * in the printed config). `convert` makes the block's service at one address; `services` is how many services a
 * drop of the whole block stands for.
 */
export function expandGroup(
  top: KaNode,
  groups: Map<string, KaGroup>,
  used: Set<string>,
  skip: Note,
  convert: (addr: { vip: string; port: number }, services?: number) => { svc?: ServiceConfig; approx: boolean },
  mainFile?: string,
): Built[] {
  const name = top.args[1] ?? '';
  const g = groups.get(name);
  if (!g) {
    skip(
      top,
      `virtual_server_group ${name} is not defined: keepalived ignores this virtual_server too ("specified but not configured"), ` +
        'so if the group is in a file not imported, its services are missing here',
      undefined,
      'service',
    );
    return [];
  }
  used.add(name);
  if (!g.addresses.length && !g.unserved.length) {
    skip(top, `group ${name} (${place(g.node, mainFile)}) has no member keepalived accepts: keepalived ignores this virtual_server too`, undefined, 'ignored');
    return [];
  }
  const out: Built[] = [];
  for (const [i, a] of g.addresses.entries()) {
    const one = convert(a, i === 0 ? g.addresses.length + g.unserved.length : undefined);
    // Nothing a block is dropped for depends on the member: the first one's entry stands for the whole group.
    if (!one.svc) return [];
    out.push({ svc: one.svc, approx: one.approx, top, member: a.member });
  }
  for (const u of g.unserved)
    skip(u.member, `${u.reason} (a member of group ${name}, used by the virtual_server at ${place(top, mainFile)})`, undefined, 'service');
  return out;
}
