// SPDX-License-Identifier: Apache-2.0
// realserver-setup.ts: set-up and teardown of a real server as plans: the steps from the host as it is to the state asked for, and each step as a shell command.

import { UsageError } from './errors';
import { canonicalIp, isIP, isIPv6 } from './net/addr';
import { persistFiles, persistPaths, renderNftScript } from './realserver-files';
import {
  addrsOf,
  dropsRequestsFor,
  loAddrArgs,
  type Method,
  NFT_TABLE,
  primaryAddress,
  QUIET_ARP_IGNORE,
  type RsHost,
  type RsState,
  sysctl6Dotted,
  sysctlDotted,
  sysctlKey,
  v4Vips,
  vipPrefixLen,
} from './realserver-host';

export type Step =
  | { kind: 'sysctl'; key: string; from: number; to: number }
  | { kind: 'nft-replace'; script: string }
  | { kind: 'nft-delete' }
  | { kind: 'addr-add'; vip: string }
  | { kind: 'addr-del'; vip: string }
  | { kind: 'write-file'; path: string; content: string }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'remove-file'; path: string };

export interface Plan {
  steps: Step[];
  /** The state to record afterwards; null: nothing of xlvs's is left (remove the state file). */
  state: RsState | null;
  /** Things the operator should know that are not changes (left alone, already in place). */
  notes: string[];
}

export interface SetupRequest {
  vips: string[];
  method: Method;
  dev: string;
  persist: boolean;
  /** Where persisted files go ("/" normally; an image's root otherwise). */
  root: string;
}

function clone(s: RsState): RsState {
  return JSON.parse(JSON.stringify(s)) as RsState;
}

/**
 * Why an IPv6 VIP cannot be set up here: IPv6 off where it must be on, or a proxy entry that makes this host answer
 * neighbour solicitations for it (setup leaves both to the operator: they are deliberate settings, not defaults).
 */
function ipv6Problems(host: RsHost, vip: string, dev: string): string[] {
  const h = host.ipv6;
  if (!h) return [`--vip ${vip}: cannot read this host's IPv6 settings`];
  const out: string[] = [];
  for (const d of ['all', 'lo', dev]) {
    const v = h.sysctl[sysctlKey(d, 'disable_ipv6')];
    if (v !== 0) out.push(`--vip ${vip}: IPv6 is off on ${d} (${sysctl6Dotted(sysctlKey(d, 'disable_ipv6'))}=${v ?? '?'}); turn it on first`);
  }
  for (const p of h.proxies) {
    if (p.dev === dev && isIP(p.address) && canonicalIp(p.address) === canonicalIp(vip)) {
      out.push(`--vip ${vip}: a proxy neighbour entry for it on ${dev} makes this host answer for it; remove it (ip -6 neigh del proxy ${vip} dev ${dev})`);
    }
  }
  return out;
}

/**
 * What setup has to change to get from the host as it is to every VIP on lo with ARP kept quiet (IPv4) or the host
 * silent in neighbour discovery (IPv6: the kernel's default for an address on lo, so nothing but the address).
 * Throws a UsageError (listing every conflict) before anything is changed.
 */
export function planSetup(host: RsHost, prior: RsState | null, req: SetupRequest): Plan {
  const problems: string[] = [];
  const dev = req.dev;
  if (dev === 'lo') problems.push(`--dev "lo": the VIPs go on lo; --dev names the NIC facing the director`);
  else if (!host.devices[dev]) problems.push(`--dev ${JSON.stringify(dev)}: no such interface`);
  if (prior && prior.method !== req.method) {
    problems.push(
      `--method ${req.method}: ${prior.vips.join(', ')} already set up here with --method ${prior.method}; tear them down first (xlvs realserver teardown --all)`,
    );
  }
  if (prior && prior.dev !== dev) {
    problems.push(`--dev ${dev}: ${prior.vips.join(', ')} already set up here for --dev ${prior.dev}; tear them down first (xlvs realserver teardown --all)`);
  }
  if (prior?.persist && req.persist && prior.persist.root !== req.root) {
    problems.push(`--root ${JSON.stringify(req.root)}: this set-up is already persisted under ${JSON.stringify(prior.persist.root)}`);
  }
  for (const v of req.vips) {
    const full = vipPrefixLen(v);
    const what = isIPv6(v) ? 'neighbour solicitations' : 'ARP';
    for (const a of host.addrs) {
      if (a.local !== v) continue;
      if (a.dev !== 'lo')
        problems.push(`--vip ${v}: already on ${a.dev} (${a.local}/${a.prefixlen}); a real server must hold the VIP on lo only, or it answers ${what} for it`);
      else if (a.prefixlen !== full)
        problems.push(`--vip ${v}: already on lo as /${a.prefixlen}; the VIP belongs on lo as /${full} (a wider prefix makes the whole range local)`);
    }
    if (isIPv6(v) && host.devices[dev]) problems.push(...ipv6Problems(host, v, dev));
  }
  const nicAddress = primaryAddress(host, dev);
  // ARP concerns IPv4 VIPs only: an IPv6-only set-up changes no ARP sysctl and writes no arp table.
  const arp = v4Vips([...(prior?.vips ?? []), ...req.vips]).length > 0;
  if (req.method === 'arp-rules' && arp) {
    if (host.devices[dev] && !nicAddress) problems.push(`--dev ${dev}: has no IPv4 address to carry in ARP in place of the VIP`);
    if (host.arpTables.includes(NFT_TABLE) && !prior?.nft?.created) {
      problems.push(`table arp ${NFT_TABLE} already exists and was not made by xlvs here; remove it (nft delete table arp ${NFT_TABLE}) if it is a leftover`);
    }
  }
  const persist = req.persist || prior?.persist != null;
  const root = prior?.persist?.root ?? req.root;
  if (persist) {
    const ours = new Set(prior?.persist?.files ?? []);
    for (const path of Object.values(persistPaths(root))) {
      if (host.files[path] != null && !ours.has(path)) problems.push(`--persist: ${path} exists and was not written by xlvs here; move it away first`);
    }
  }
  if (problems.length) throw new UsageError('realserver setup: nothing changed', problems);

  const state: RsState = prior ? clone(prior) : { version: 1, dev, method: req.method, vips: [], addedAddrs: [], sysctls: [], nft: null, persist: null };
  const steps: Step[] = [];
  const notes: string[] = [];
  for (const v of req.vips) if (!state.vips.includes(v)) state.vips.push(v);

  // ARP is made quiet before any VIP appears on lo, so there is no moment in which this host answers for one.
  if (req.method === 'sysctl' && arp) {
    for (const d of ['all', dev]) {
      for (const [name, target, ok] of [
        ['arp_ignore', 1, (x: number) => QUIET_ARP_IGNORE.has(x)],
        ['arp_announce', 2, (x: number) => x === 2],
      ] as const) {
        const key = sysctlKey(d, name);
        const cur = host.sysctl[key];
        if (cur === undefined) throw new UsageError(`--dev ${dev}: cannot read ${sysctlDotted(key)}`);
        if (ok(cur)) continue;
        steps.push({ kind: 'sysctl', key, from: cur, to: target });
        const rec = state.sysctls.find((s) => s.key === key);
        if (rec) rec.value = target;
        else state.sysctls.push({ key, prior: cur, value: target });
      }
    }
  } else if (req.method === 'arp-rules' && arp) {
    const nic = nicAddress!;
    const created = prior?.nft?.created ?? !host.arpTables.includes(NFT_TABLE);
    state.nft = { created, nicAddress: nic };
    const mine = host.arpRules.filter((r) => r.table === NFT_TABLE);
    const v4 = v4Vips(state.vips);
    const inPlace =
      host.arpTables.includes(NFT_TABLE) &&
      v4.every(
        (v) =>
          dropsRequestsFor(mine, v, dev) &&
          mine.some((r) => r.hook === 'output' && r.action === 'mangle' && r.vips.includes(v) && r.mangleTo === nic && r.oifname === dev),
      ) &&
      mine.every((r) => r.vips.every((v) => v4.includes(v)));
    if (!inPlace) steps.push({ kind: 'nft-replace', script: renderNftScript(v4, dev, nic) });
  }

  const onLo = new Set(addrsOf(host, 'lo').map((a) => a.local));
  for (const v of req.vips) {
    if (onLo.has(v)) {
      if (!state.addedAddrs.includes(v)) notes.push(`${v}/${vipPrefixLen(v)} was already on lo; teardown will leave it there`);
      continue;
    }
    steps.push({ kind: 'addr-add', vip: v });
    if (!state.addedAddrs.includes(v)) state.addedAddrs.push(v);
  }

  if (persist) {
    state.persist = { root, files: state.persist?.files ?? [] };
    for (const f of persistFiles(state, root)) {
      if (f.symlink !== undefined) {
        if (host.files[f.path] == null) steps.push({ kind: 'symlink', path: f.path, target: f.symlink });
      } else if (host.files[f.path] !== f.content) {
        steps.push({ kind: 'write-file', path: f.path, content: f.content });
      }
      if (!state.persist.files.includes(f.path)) state.persist.files.push(f.path);
    }
  }
  return { steps, state, notes };
}

/** What teardown of `vips` (or of everything, for 'all') has to change; reverses only what the state records. */
export function planTeardown(host: RsHost, prior: RsState | null, vips: string[] | 'all'): Plan {
  if (!prior) return { steps: [], state: null, notes: ['xlvs has set nothing up here; nothing to undo'] };
  const notes: string[] = [];
  const removing = vips === 'all' ? [...prior.vips] : vips.filter((v) => prior.vips.includes(v));
  if (vips !== 'all') for (const v of vips) if (!prior.vips.includes(v)) notes.push(`${v} was not set up by xlvs here; left alone`);
  if (removing.length === 0) return { steps: [], state: prior, notes };
  const state = clone(prior);
  state.vips = state.vips.filter((v) => !removing.includes(v));
  const steps: Step[] = [];

  // VIPs leave lo first, so no VIP is ever held while ARP is no longer kept quiet for it.
  const onLo = new Set(addrsOf(host, 'lo').map((a) => a.local));
  for (const v of removing) {
    if (!prior.addedAddrs.includes(v)) {
      notes.push(`${v}/${vipPrefixLen(v)} was on lo before xlvs; left there`);
      continue;
    }
    if (onLo.has(v)) steps.push({ kind: 'addr-del', vip: v });
    else notes.push(`${v}/${vipPrefixLen(v)} was already gone from lo`);
    state.addedAddrs = state.addedAddrs.filter((a) => a !== v);
  }

  const last = state.vips.length === 0;
  if (prior.nft) {
    const exists = host.arpTables.includes(NFT_TABLE);
    // The arp table goes with the last IPv4 VIP, even while IPv6 VIPs stay.
    if (v4Vips(state.vips).length === 0) {
      if (!last) state.nft = null;
      if (prior.nft.created && exists) steps.push({ kind: 'nft-delete' });
      else if (!prior.nft.created) notes.push(`table arp ${NFT_TABLE} was there before xlvs; left there`);
    } else if (exists) {
      steps.push({ kind: 'nft-replace', script: renderNftScript(v4Vips(state.vips), state.dev, prior.nft.nicAddress) });
    }
  }
  if (last) {
    for (const s of prior.sysctls) {
      const cur = host.sysctl[s.key];
      if (cur === s.value) steps.push({ kind: 'sysctl', key: s.key, from: cur, to: s.prior });
      else notes.push(`${sysctlDotted(s.key)} is ${cur ?? 'unreadable'} now, not the ${s.value} xlvs set; left alone`);
    }
    if (prior.persist) {
      // The enabling symlink goes before the files it points at.
      for (const path of [...prior.persist.files].reverse()) if (host.files[path] != null) steps.push({ kind: 'remove-file', path });
    }
    return { steps, state: null, notes };
  }
  if (state.persist) {
    const keep = persistFiles(state, state.persist.root);
    for (const f of keep) {
      if (f.symlink === undefined && host.files[f.path] !== f.content) steps.push({ kind: 'write-file', path: f.path, content: f.content });
    }
    // A file no longer wanted (the nft file once only IPv6 VIPs are left) goes, so boot does not load stale rules.
    const kept = new Set(keep.map((f) => f.path));
    for (const path of state.persist.files.filter((p) => !kept.has(p))) if (host.files[path] != null) steps.push({ kind: 'remove-file', path });
    state.persist.files = state.persist.files.filter((p) => kept.has(p));
  }
  return { steps, state, notes };
}

function heredoc(cmd: string, text: string): string {
  return `${cmd} <<'EOF'\n${text.endsWith('\n') ? text : `${text}\n`}EOF`;
}

/** A step as the shell command that does the same, for --dry-run and for the record of what was done. */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'sysctl':
      return `sysctl -w ${sysctlDotted(s.key)}=${s.to}    # was ${s.from}`;
    case 'nft-replace':
      return heredoc('nft -f -', s.script);
    case 'nft-delete':
      return `nft delete table arp ${NFT_TABLE}`;
    case 'addr-add':
      return `ip ${loAddrArgs('add', s.vip).join(' ')}`;
    case 'addr-del':
      return `ip ${loAddrArgs('del', s.vip).join(' ')}`;
    case 'write-file':
      return heredoc(`cat > ${s.path}`, s.content);
    case 'symlink':
      return `ln -s ${s.target} ${s.path}`;
    case 'remove-file':
      return `rm ${s.path}`;
  }
}
