// SPDX-License-Identifier: Apache-2.0
// realserver.ts: the real server's side of the host: reads addresses, sysctls, nft ARP rules, listeners; applies set-up plans; keeps the state file; DF pings.

import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RuntimeError } from '../core/errors';
import { canonicalIp } from '../core/net/addr';
import { persistPaths } from '../core/realserver-files';
import {
  type HostAddr,
  loAddrArgs,
  NFT_TABLE,
  type RsHost,
  type RsHost6,
  type RsState,
  summarizeArpRules,
  sysctlDotted,
  sysctlKey,
  sysctlProcPath,
} from '../core/realserver-host';
import { type Listener, type MtuProbe, mtuCandidates, parseProcNet } from '../core/realserver-probes';
import { describeStep, type Plan, type Step } from '../core/realserver-setup';
import { ipJson } from './host';

/** Non-persistent set-ups are forgotten at reboot along with what they changed; persistent ones are not. */
export const STATE_DIRS = { volatile: '/run/xlvs/realserver', persistent: '/var/lib/xlvs/realserver' } as const;

function inode(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
}

/**
 * Which network namespace this process is in, as a file-name-safe key: sysctls, addresses and nft tables are all
 * per namespace, so each namespace (the host's is "default") keeps a state file of its own.
 */
export function netnsKey(): string {
  const self = inode('/proc/self/ns/net');
  if (self === undefined) return 'default';
  if (self === inode('/proc/1/ns/net')) return 'default';
  try {
    for (const name of fs.readdirSync('/run/netns')) {
      if (inode(path.join('/run/netns', name)) === self) return `netns-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    }
  } catch {
    /* no named namespaces */
  }
  return `netns-ino${self}`;
}

export function statePath(key: string, persistent: boolean): string {
  return path.join(persistent ? STATE_DIRS.persistent : STATE_DIRS.volatile, `${key}.json`);
}

export function loadState(key: string): { state: RsState; file: string } | null {
  for (const persistent of [true, false]) {
    const file = statePath(key, persistent);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e: any) {
      if (e.code === 'ENOENT') continue;
      throw new RuntimeError(`cannot read ${file}: ${e.code ?? e.message}`);
    }
    let s: RsState;
    try {
      s = JSON.parse(text) as RsState;
    } catch {
      throw new RuntimeError(`${file} is not valid JSON; move it away to start afresh (what it recorded will not be undone)`);
    }
    if (s?.version !== 1 || !Array.isArray(s.vips) || !Array.isArray(s.sysctls) || typeof s.dev !== 'string') {
      throw new RuntimeError(`${file} is not an xlvs real-server state file (version 1)`);
    }
    return { state: s, file };
  }
  return null;
}

/** Writes the state where it belongs (persistent or not) and removes any copy in the other place; null removes both. */
export function saveState(key: string, state: RsState | null): string | null {
  const keep = state ? statePath(key, state.persist !== null) : null;
  if (state && keep) {
    fs.mkdirSync(path.dirname(keep), { recursive: true });
    const tmp = `${keep}.tmp${process.pid}`;
    fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    fs.renameSync(tmp, keep);
  }
  for (const persistent of [true, false]) {
    const f = statePath(key, persistent);
    if (f !== keep) fs.rmSync(f, { force: true });
  }
  return keep;
}

function nft(args: string[], input?: string): string {
  try {
    return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e: any) {
    if (e.code === 'ENOENT') throw new RuntimeError('nft is not installed (apt-get install nftables)');
    throw new RuntimeError(`nft ${args.join(' ')}: ${String(e.stderr || e.message).trim()}`);
  }
}

/** Whether nft(8) is there at all: the sysctl method and check work without it. */
export function nftInstalled(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e: any) {
    return e.code !== 'ENOENT';
  }
}

function readSysctl(key: string, family: 4 | 6 = 4): number | undefined {
  try {
    const file = family === 4 ? sysctlProcPath(key) : sysctlProcPath(key).replace('/net/ipv4/', '/net/ipv6/');
    const v = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function writeSysctl(key: string, value: number): void {
  try {
    fs.writeFileSync(sysctlProcPath(key), `${value}\n`);
  } catch (e: any) {
    throw new RuntimeError(`cannot set ${sysctlDotted(key)}=${value}: ${e.code ?? e.message}`);
  }
}

function readFileOrNull(p: string): string | null {
  try {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return `-> ${fs.readlinkSync(p)}`;
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** The interface the default route leaves by: the NIC a real server most likely faces the director with. */
export function defaultDevice(): string | undefined {
  const routes = ipJson<any[]>(['-4', 'route', 'show', 'default']);
  return routes.find((r) => r.dev)?.dev;
}

/** Everything set-up and check decide on. dev may be absent or not exist (then its sysctls are simply missing). */
export function readHost(dev: string | undefined, persistRoot: string | null): RsHost {
  const devices: RsHost['devices'] = {};
  for (const l of ipJson<any[]>(['link', 'show'])) devices[String(l.ifname)] = { mtu: Number(l.mtu) };
  const addrs: HostAddr[] = [];
  for (const l of ipJson<any[]>(['addr', 'show'])) {
    for (const a of l.addr_info ?? []) {
      if (!a.local || (a.family !== 'inet' && a.family !== 'inet6')) continue;
      addrs.push({ dev: String(l.ifname), local: a.family === 'inet6' ? canonicalIp(String(a.local)) : String(a.local), prefixlen: Number(a.prefixlen) });
    }
  }
  const sysctl: Record<string, number> = {};
  for (const d of dev && devices[dev] ? ['all', dev] : ['all']) {
    for (const name of ['arp_ignore', 'arp_announce', 'rp_filter']) {
      const v = readSysctl(sysctlKey(d, name));
      if (v !== undefined) sysctl[sysctlKey(d, name)] = v;
    }
  }
  // Without nft there can be no arp-family rules to find.
  const haveNft = nftInstalled();
  const tables = haveNft ? (JSON.parse(nft(['-j', 'list', 'tables', 'arp']) || '{}') as { nftables?: { table?: { name: string } }[] }) : {};
  const arpTables = (tables.nftables ?? []).flatMap((i) => (i.table ? [i.table.name] : []));
  const arpRules = arpTables.length ? summarizeArpRules(JSON.parse(nft(['-j', 'list', 'ruleset', 'arp']) || '{}')) : [];
  const defaultRoutes = ipJson<any[]>(['-4', 'route', 'show', 'default']).map((r) => ({
    dev: String(r.dev),
    ...(r.gateway ? { gateway: String(r.gateway) } : {}),
  }));
  const files: Record<string, string | null> = {};
  if (persistRoot !== null) for (const p of Object.values(persistPaths(persistRoot))) files[p] = readFileOrNull(p);
  return { devices, addrs, sysctl, arpTables, arpRules, defaultRoutes, files, ipv6: readHost6(dev && devices[dev] ? dev : undefined) };
}

/** The IPv6 side: disable_ipv6, forwarding and proxy_ndp (all, lo, the NIC), proxy entries, default routes. */
function readHost6(dev: string | undefined): RsHost6 {
  const sysctl: Record<string, number> = {};
  for (const d of ['all', 'lo', ...(dev ? [dev] : [])]) {
    for (const name of ['disable_ipv6', 'forwarding', 'proxy_ndp']) {
      // No /proc/sys/net/ipv6 at all (ipv6.disable=1 on the kernel command line) reads as disabled.
      const v = readSysctl(sysctlKey(d, name), 6);
      sysctl[sysctlKey(d, name)] = v ?? (name === 'disable_ipv6' ? 1 : 0);
    }
  }
  const v6 = fs.existsSync('/proc/sys/net/ipv6');
  const proxies = v6
    ? ipJson<any[]>(['-6', 'neigh', 'show', 'proxy']).flatMap((p) => (p.dst && p.dev ? [{ dev: String(p.dev), address: String(p.dst) }] : []))
    : [];
  const defaultRoutes = v6
    ? ipJson<any[]>(['-6', 'route', 'show', 'default']).map((r) => ({ dev: String(r.dev), ...(r.gateway ? { gateway: String(r.gateway) } : {}) }))
    : [];
  return { sysctl, proxies, defaultRoutes };
}

function ipCmd(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    throw new RuntimeError(`ip ${args.join(' ')}: ${String(e.stderr || e.message).trim()}`);
  }
}

function tableText(): string | null {
  try {
    return execFileSync('nft', ['list', 'table', 'arp', NFT_TABLE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return null;
  }
}

/** Restores the table as it was (text from `nft list table`), or removes it if there was none. */
function restoreTable(before: string | null): void {
  if (before === null) nft(['-f', '-'], `table arp ${NFT_TABLE}\ndelete table arp ${NFT_TABLE}\n`);
  else nft(['-f', '-'], `table arp ${NFT_TABLE}\ndelete table arp ${NFT_TABLE}\n${before}`);
}

/** Does one step and returns how to undo it. */
function apply(step: Step): () => void {
  switch (step.kind) {
    case 'sysctl':
      writeSysctl(step.key, step.to);
      return () => writeSysctl(step.key, step.from);
    case 'nft-replace': {
      const before = tableText();
      nft(['-f', '-'], step.script);
      return () => restoreTable(before);
    }
    case 'nft-delete': {
      const before = tableText();
      nft(['delete', 'table', 'arp', NFT_TABLE]);
      return () => restoreTable(before);
    }
    case 'addr-add':
      ipCmd(loAddrArgs('add', step.vip));
      return () => ipCmd(loAddrArgs('del', step.vip));
    case 'addr-del':
      ipCmd(loAddrArgs('del', step.vip));
      return () => ipCmd(loAddrArgs('add', step.vip));
    case 'write-file': {
      const before = readFileOrNull(step.path);
      try {
        fs.mkdirSync(path.dirname(step.path), { recursive: true });
        fs.writeFileSync(step.path, step.content);
      } catch (e: any) {
        throw new RuntimeError(`cannot write ${step.path}: ${e.code ?? e.message}`);
      }
      return () => (before === null ? fs.rmSync(step.path, { force: true }) : fs.writeFileSync(step.path, before));
    }
    case 'symlink':
      try {
        fs.mkdirSync(path.dirname(step.path), { recursive: true });
        fs.symlinkSync(step.target, step.path);
      } catch (e: any) {
        throw new RuntimeError(`cannot link ${step.path}: ${e.code ?? e.message}`);
      }
      return () => fs.rmSync(step.path, { force: true });
    case 'remove-file': {
      const before = readFileOrNull(step.path);
      try {
        fs.rmSync(step.path, { force: true });
      } catch (e: any) {
        throw new RuntimeError(`cannot remove ${step.path}: ${e.code ?? e.message}`);
      }
      return () => {
        if (before?.startsWith('-> ')) fs.symlinkSync(before.slice(3), step.path);
        else if (before !== null) fs.writeFileSync(step.path, before);
      };
    }
  }
}

/**
 * Applies a plan's steps in order and records its state. If a step fails, the ones already done are undone (last
 * first) and the state file is left as it was, so a refused run changes nothing.
 */
export function applyPlan(plan: Plan, key: string, prior: RsState | null, log: (line: string) => void): void {
  const undo: (() => void)[] = [];
  try {
    for (const s of plan.steps) {
      undo.push(apply(s));
      log(describeStep(s));
    }
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch (ue) {
        log(`could not undo a step: ${(ue as Error).message}`);
      }
    }
    throw e;
  }
  if (plan.steps.length || JSON.stringify(plan.state) !== JSON.stringify(prior)) saveState(key, plan.state);
}

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Sockets listening (TCP) or bound (UDP) in this namespace, IPv4 and IPv6. */
export function readListeners(proto: 'tcp' | 'udp'): Listener[] {
  const endianness = os.endianness();
  return [
    ...parseProcNet(readProc(`/proc/net/${proto}`), { proto, family: 4, endianness }),
    ...parseProcNet(readProc(`/proc/net/${proto}6`), { proto, family: 6, endianness }),
  ];
}

/** One DF ping of `size` bytes (the whole IP packet); true when answered within a second. */
export function pingDf(target: string, size: number, dev?: string): Promise<boolean> {
  // The payload is the packet less its IP and ICMP headers: 20 + 8 for IPv4, 40 + 8 for IPv6.
  const headers = target.includes(':') ? 48 : 28;
  const args = ['-n', '-q', '-M', 'do', '-s', String(Math.max(0, size - headers)), '-c', '1', '-W', '1', ...(dev ? ['-I', dev] : []), target];
  return new Promise((resolve) => {
    execFile('ping', args, { timeout: 5000 }, (err) => resolve(!err));
  });
}

/**
 * DF ping at `size`; when it fails but a small one passes, narrows down the largest size that gets through with
 * rounds of parallel pings (each round costs one second of timeouts at most).
 */
export async function probeMtu(target: string, size: number, dev?: string): Promise<MtuProbe> {
  const [full, small] = await Promise.all([pingDf(target, size, dev), pingDf(target, 84, dev)]);
  if (full) return { target, size, passed: true, reachable: true };
  if (!small) return { target, size, passed: false, reachable: false };
  let lo = 84;
  let hi = size;
  for (let round = 0; round < 8; round++) {
    const cands = mtuCandidates(lo, hi, 12);
    if (!cands.length) break;
    const ok = await Promise.all(cands.map((c) => pingDf(target, c, dev)));
    for (let i = 0; i < cands.length; i++) {
      if (ok[i]) lo = Math.max(lo, cands[i]!);
    }
    hi = Math.min(hi, ...cands.filter((c, i) => !ok[i] && c > lo));
  }
  return { target, size, passed: false, reachable: true, largest: lo };
}
