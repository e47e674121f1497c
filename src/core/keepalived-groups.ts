// SPDX-License-Identifier: Apache-2.0
// keepalived-groups.ts: virtual_server_group blocks read as keepalived 2.2 reads them: each member (IPv4 or IPv6 address, range or prefix, port) as the VIP:ports it stands for.

import type { ServiceConfig } from './config';
import { UsageError } from './errors';
import { place } from './keepalived-include';
import { describe, type KaNode } from './keepalived-parse';
import type { Note } from './keepalived-skips';
import { MAX_SERVICES } from './limits';
import { bytesToIp, type Family, familyOf, formatHostPort, ipToBytes } from './net/addr';

/** One VIP:port a group stands for, with the member statement it comes from. */
export interface GroupAddress {
  vip: string;
  port: number;
  member: KaNode;
}

export interface KaGroup {
  node: KaNode;
  addresses: GroupAddress[];
  /** Members xlvs has no service for (fwmark): each a dropped service wherever the group is used. */
  unserved: { member: KaNode; reason: string }[];
  /** The address families of its members (keepalived's have_ipv4/have_ipv6). */
  families: Set<Family>;
}

const SKIPS = 'keepalived skips the member too';

/** A member's addresses as numbers, first..last inclusive, of one family (IPv6 needs all 128 bits: bigint). */
interface MemberRange {
  family: Family;
  first: bigint;
  last: bigint;
}

const toBig = (ip: string): bigint => ipToBytes(ip).reduce((n, b) => (n << 8n) | BigInt(b), 0n);
function toIp(n: bigint, family: Family): string {
  const b = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = b.length - 1; i >= 0; i--, n >>= 8n) b[i] = Number(n & 0xffn);
  return bytesToIp(b);
}

/**
 * A member's addresses, or the reason keepalived refuses it. The family is the start address's. Forms: ADDR;
 * ADDR-LAST, the last octet (IPv4, decimal) or the last 16-bit group (IPv6, hex as keepalived reads it), above the
 * start's; ADDR-ENDADDR, a whole end address of the family (a dot in it for IPv4, a colon for IPv6) not below ADDR;
 * ADDR/LEN (1..32 or 1..128, no host bits; every address of the prefix, network and broadcast included).
 */
function memberRange(a: string): MemberRange | string {
  const cut = a.search(/[/-]/);
  const ip = cut < 0 ? a : a.slice(0, cut);
  const family = familyOf(ip);
  if (family === null) return `${ip} is not an IP address`;
  const bits = family === 4 ? 32 : 128;
  const first = toBig(ip);
  if (cut < 0) return { family, first, last: first };
  const rest = a.slice(cut + 1);
  if (a[cut] === '/') {
    const len = /^\d+$/.test(rest) ? Number(rest) : NaN;
    if (!(len >= 1 && len <= bits)) return `/${rest} is not a prefix length 1..${bits}`;
    const host = (1n << BigInt(bits - len)) - 1n;
    if (first & host) return `${a} has host bits set (the network is ${toIp(first & ~host, family)}/${len})`;
    return { family, first, last: first | host };
  }
  if (rest.includes(family === 4 ? '.' : ':')) {
    if (familyOf(rest) !== family) return `range end ${rest} is not an IPv${family} address`;
    const last = toBig(rest);
    return last < first ? `range end ${rest} is below its start ${toIp(first, family)}` : { family, first, last };
  }
  // keepalived reads the end as a number in the base of the family's notation: decimal octet, hex group.
  const [digits, max, unit] = family === 4 ? [/^\d+$/, 0xffn, 'an octet (0..255)'] : [/^(0x)?[0-9a-f]+$/i, 0xffffn, 'a 16-bit group (0..ffff)'];
  if (!digits.test(rest)) return `range end ${rest} is not a ${family === 4 ? 'number' : 'hex number'}`;
  const end = BigInt(family === 4 ? rest : `0x${rest.replace(/^0x/i, '')}`);
  if (end > max) return `range end ${rest} is not ${unit}`;
  const low = first & max;
  const shown = family === 4 ? String(low) : low.toString(16);
  if (end <= low) return `range end ${rest} is not above the start's last ${family === 4 ? 'octet' : 'group'} (${shown})`;
  return { family, first, last: first - low + end };
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
    const g: KaGroup = { node: top, addresses: [], unserved: [], families: new Set() };
    groups.set(name, g);
    let total = 0n;
    for (const m of top.children ?? []) {
      if (m.key === 'fwmark') {
        g.unserved.push({ member: m, reason: 'firewall-mark services are not in xlvs' });
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
      // Counted exactly: an IPv6 /64 stands for 2^64 addresses, refused here before any is listed.
      total += range.last - range.first + 1n;
      if (total > BigInt(MAX_SERVICES))
        throw new UsageError(
          `${place(m, mainFile)}: virtual_server_group ${name}: member ${describe(m)} brings the group to ${total} addresses; xlvs holds at most ${MAX_SERVICES} services`,
        );
      g.families.add(range.family);
      for (let a = range.first; a <= range.last; a++) g.addresses.push({ vip: toIp(a, range.family), port, member: m });
    }
  }
  return groups;
}

/**
 * The block's address family as keepalived settles it: its first real_server's (a DR real takes the service's
 * family; a later real of the other family is skipped), else its sorry_server's; null with neither.
 */
function blockFamily(top: KaNode): { family: Family; from: KaNode } | null {
  const kids = top.children ?? [];
  for (const key of ['real_server', 'sorry_server']) {
    for (const c of kids) {
      const f = c.key === key ? familyOf(c.args[0] ?? '') : null;
      if (f) return { family: f, from: c };
    }
  }
  return null;
}

/**
 * Why keepalived ignores a group's virtual_server for its families, or undefined. IPVS-DR forwards within one
 * family, so keepalived takes a group of both families only when no real or sorry server fixes the service's family
 * (tunnelled reals, which xlvs has not), and a one-family group only with reals of that family.
 */
function familyMismatch(top: KaNode, g: KaGroup, name: string): string | undefined {
  const b = blockFamily(top);
  if (!b || !g.families.size) return undefined;
  const fixes = `${describe(b.from)} (line ${b.from.line}) makes the service IPv${b.family}`;
  const ignores = 'keepalived ignores this virtual_server too';
  if (g.families.size > 1)
    return (
      `group ${name} has IPv4 and IPv6 members and ${fixes}: direct routing keeps the address family, so ${ignores} ` +
      `("virtual server group with IPv4 & IPv6 doesn't match"); split the group by family, one virtual_server each`
    );
  const [only] = g.families;
  if (only !== b.family) return `group ${name} has IPv${only} members and ${fixes}: ${ignores} ("address family doesn't match")`;
  return undefined;
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
    const key = `${formatHostPort(b.svc.vip, b.svc.port)}/${b.svc.protocol}`;
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
 * scheduler and persistence, as keepalived applies the block to every member. Members xlvs cannot serve (fwmark)
 * are dropped services, and so is the whole block when its reals' family is not its group's (familyMismatch); an
 * undefined group drops the block (keepalived ignores it, but its services are not in the printed config). `convert` makes the block's service at one address; `services` is how many services a
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
  const mismatch = familyMismatch(top, g, name);
  if (mismatch) {
    const n = g.addresses.length + g.unserved.length;
    if (n > 1) skip(top, `${mismatch} (the ${n} services of the group)`, undefined, { services: n });
    else skip(top, mismatch, undefined, 'service');
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
