// SPDX-License-Identifier: Apache-2.0
// host.ts: what the director needs from its host: root, interfaces, addresses, bpffs, all through /sys, /proc and iproute2.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { RuntimeError } from '../core/errors';
import { canonicalIp, isIPv6 } from '../core/net/addr';
import type { HostAddress } from '../core/ownaddr';

export function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    throw new RuntimeError(`ip ${args.join(' ')}: ${String(e.stderr || e.message).trim()}`);
  }
}

export function ipJson<T>(args: string[]): T {
  const out = ip(['-j', ...args]).trim();
  return (out ? JSON.parse(out) : []) as T;
}

export function requireRoot(what: string): void {
  if (process.geteuid && process.geteuid() !== 0) {
    throw new RuntimeError(`${what} needs root (CAP_BPF, CAP_NET_ADMIN): run it as root`);
  }
}

export function interfaceExists(ifname: string): boolean {
  return fs.existsSync(`/sys/class/net/${ifname}`);
}

export interface InterfaceInfo {
  name: string;
  ifindex: number;
  mac: string;
  mtu: number;
  /** The attached XDP program's mode and id, if any. */
  xdp?: { mode: string; progId: number };
}

export function interfaceInfo(ifname: string): InterfaceInfo {
  const [link] = ipJson<any[]>(['-d', 'link', 'show', 'dev', ifname]);
  if (!link) throw new RuntimeError(`interface ${ifname} does not exist`);
  // iproute2 reports the attach mode as the kernel's XDP_ATTACHED_* number.
  const modes: Record<number, string> = { 1: 'native', 2: 'generic', 3: 'offload', 4: 'multi' };
  const xdp = link.xdp?.prog?.id ? { mode: modes[link.xdp.mode] ?? String(link.xdp.mode), progId: Number(link.xdp.prog.id) } : undefined;
  return { name: ifname, ifindex: link.ifindex, mac: link.address, mtu: link.mtu, ...(xdp ? { xdp } : {}) };
}

/** Addresses already configured on the interface (so xlvs only removes the VIPs it added itself). */
export function interfaceAddresses(ifname: string): string[] {
  const [link] = ipJson<any[]>(['-4', 'addr', 'show', 'dev', ifname]);
  return (link?.addr_info ?? []).map((a: any) => String(a.local));
}

/** Every address of both families on ifname, IPv6 in canonical text: whether a VIP is held there already. */
export function heldAddresses(ifname: string): string[] {
  const [link] = ipJson<any[]>(['addr', 'show', 'dev', ifname]);
  return (link?.addr_info ?? []).map((a: any) => (a.family === 'inet6' ? canonicalIp(String(a.local)) : String(a.local)));
}

/**
 * `ip addr` arguments for a VIP on the director's NIC: the address alone (/32, /128). An IPv6 VIP goes without
 * duplicate address detection, so the director answers neighbour solicitations for it at once, not 1-2 s later, and
 * deprecated (preferred_lft 0): source selection matches a /128 over all its 128 bits, so a preferred VIP6 would
 * become the source of the director's own traffic to its reals (pings, health checks), whose replies each real,
 * holding the VIP6 on lo, keeps to itself. A deprecated address still takes traffic and answers for itself.
 */
export function vipAddrArgs(verb: 'add' | 'del', vip: string, dev: string): string[] {
  const v6 = isIPv6(vip);
  return ['addr', verb, `${vip}/${v6 ? 128 : 32}`, 'dev', dev, ...(v6 && verb === 'add' ? ['nodad', 'preferred_lft', '0'] : [])];
}

/** Every IPv4 address of the host (all interfaces), for the rule that a VIP is none of the director's own. */
export function hostAddresses(): HostAddress[] {
  return ipJson<any[]>(['-4', 'addr', 'show']).flatMap((link) =>
    (link.addr_info ?? []).map((a: any) => ({
      ifname: String(link.ifname),
      local: String(a.local),
      prefixlen: Number(a.prefixlen),
      ...(a.secondary ? { secondary: true } : {}),
    })),
  );
}

/** The device the kernel would use to reach addr, and whether through a gateway; null when it has no route at all. */
export function routeTo(addr: string): { dev: string; gateway?: string } | null {
  let rows: any[];
  try {
    rows = ipJson<any[]>(['route', 'get', addr]);
  } catch {
    return null; // "Network is unreachable"
  }
  const r = rows[0];
  return r?.dev ? { dev: String(r.dev), ...(r.gateway ? { gateway: String(r.gateway) } : {}) } : null;
}

export const BPFFS = '/sys/fs/bpf';

function isBpffs(dir: string): boolean {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts.some((l) => {
    const [, mnt, type] = l.split(' ');
    return mnt === dir && type === 'bpf';
  });
}

/** Pins need bpffs at /sys/fs/bpf; a fresh `ip netns exec` or a minimal container has none, so mount it. True when it mounted one. */
export function ensureBpffs(dir = BPFFS): boolean {
  if (isBpffs(dir)) return false;
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e: any) {
    throw new RuntimeError(`cannot mount bpffs at ${dir}: ${String(e.stderr || e.message).trim()}`);
  }
  return true;
}

export function pinDir(ifname: string): string {
  return `${BPFFS}/xlvs/${ifname}`;
}
