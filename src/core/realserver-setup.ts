// SPDX-License-Identifier: Apache-2.0
// realserver-setup.ts: set-up and teardown of a real server as plans: the steps from the host as it is to the state asked for, and each step as a shell command.

import { UsageError } from './errors';
import { persistFiles, persistPaths, renderNftScript } from './realserver-files';
import {
  addrsOf,
  dropsRequestsFor,
  type Method,
  NFT_TABLE,
  primaryAddress,
  QUIET_ARP_IGNORE,
  type RsHost,
  type RsState,
  sysctlDotted,
  sysctlKey,
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
 * What setup has to change to get from the host as it is to every VIP on lo with ARP kept quiet. Throws a
 * UsageError (listing every conflict) before anything is changed.
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
    for (const a of host.addrs) {
      if (a.local !== v) continue;
      if (a.dev !== 'lo')
        problems.push(`--vip ${v}: already on ${a.dev} (${a.local}/${a.prefixlen}); a real server must hold the VIP on lo only, or it answers ARP for it`);
      else if (a.prefixlen !== 32)
        problems.push(`--vip ${v}: already on lo as /${a.prefixlen}; the VIP belongs on lo as /32 (a wider prefix makes the whole range local)`);
    }
  }
  const nicAddress = primaryAddress(host, dev);
  if (req.method === 'arp-rules') {
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
  if (req.method === 'sysctl') {
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
  } else {
    const nic = nicAddress!;
    const created = prior?.nft?.created ?? !host.arpTables.includes(NFT_TABLE);
    state.nft = { created, nicAddress: nic };
    const mine = host.arpRules.filter((r) => r.table === NFT_TABLE);
    const inPlace =
      host.arpTables.includes(NFT_TABLE) &&
      state.vips.every(
        (v) =>
          dropsRequestsFor(mine, v, dev) &&
          mine.some((r) => r.hook === 'output' && r.action === 'mangle' && r.vips.includes(v) && r.mangleTo === nic && r.oifname === dev),
      ) &&
      mine.every((r) => r.vips.every((v) => state.vips.includes(v)));
    if (!inPlace) steps.push({ kind: 'nft-replace', script: renderNftScript(state.vips, dev, nic) });
  }

  const onLo = new Set(addrsOf(host, 'lo').map((a) => a.local));
  for (const v of req.vips) {
    if (onLo.has(v)) {
      if (!state.addedAddrs.includes(v)) notes.push(`${v}/32 was already on lo; teardown will leave it there`);
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
      notes.push(`${v}/32 was on lo before xlvs; left there`);
      continue;
    }
    if (onLo.has(v)) steps.push({ kind: 'addr-del', vip: v });
    else notes.push(`${v}/32 was already gone from lo`);
    state.addedAddrs = state.addedAddrs.filter((a) => a !== v);
  }

  const last = state.vips.length === 0;
  if (prior.nft) {
    const exists = host.arpTables.includes(NFT_TABLE);
    if (last) {
      if (prior.nft.created && exists) steps.push({ kind: 'nft-delete' });
      else if (!prior.nft.created) notes.push(`table arp ${NFT_TABLE} was there before xlvs; left there`);
    } else if (exists) {
      steps.push({ kind: 'nft-replace', script: renderNftScript(state.vips, state.dev, prior.nft.nicAddress) });
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
    for (const f of persistFiles(state, state.persist.root)) {
      if (f.symlink === undefined && host.files[f.path] !== f.content) steps.push({ kind: 'write-file', path: f.path, content: f.content });
    }
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
      return `ip addr add ${s.vip}/32 dev lo`;
    case 'addr-del':
      return `ip addr del ${s.vip}/32 dev lo`;
    case 'write-file':
      return heredoc(`cat > ${s.path}`, s.content);
    case 'symlink':
      return `ln -s ${s.target} ${s.path}`;
    case 'remove-file':
      return `rm ${s.path}`;
  }
}
