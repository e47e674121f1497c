// realserver.ts: pure logic for LVS-DR real servers: flag validation, set-up/teardown plans and their state, nft/sysctl/unit texts, check verdicts and fix-up hints.

import { isIPv4 } from './config';
import { UsageError } from './errors';

export type Method = 'sysctl' | 'arp-rules';
export const METHODS: readonly Method[] = ['sysctl', 'arp-rules'];

/** The nftables table arp-rules lives in; xlvs owns it only when its state file says it created it. */
export const NFT_TABLE = 'xlvs_rs';
export const NFT_COMMENT = 'xlvs realserver: keeps this host quiet on ARP for its LVS-DR VIPs';

export type Status = 'pass' | 'fail' | 'skip';

// ---------------------------------------------------------------- flags

export function isUsableUnicast(s: string): boolean {
  if (!isIPv4(s)) return false;
  const first = Number(s.split('.')[0]);
  return s !== '255.255.255.255' && first !== 0 && first !== 127 && first < 224;
}

/** --vip values: each a unicast IPv4 address; duplicates collapse, order is kept. */
export function parseVips(values: readonly string[] | undefined, flag = '--vip'): string[] {
  if (!values || values.length === 0) throw new UsageError(`${flag} is required`);
  const out: string[] = [];
  for (const v of values) {
    if (!isIPv4(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an IPv4 address`);
    if (!isUsableUnicast(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a usable unicast address`);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

export function parseAddress(flag: string, v: string): string {
  if (!isIPv4(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an IPv4 address`);
  if (!isUsableUnicast(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a usable unicast address`);
  return v;
}

export function parseMethod(v: string): Method {
  if (!(METHODS as readonly string[]).includes(v)) throw new UsageError(`--method ${JSON.stringify(v)}: not a method (known: ${METHODS.join(', ')})`);
  return v as Method;
}

export function parseIfName(flag: string, v: string): string {
  if (!/^[^\s/:]{1,15}$/.test(v) || v === '.' || v === '..') throw new UsageError(`${flag} ${JSON.stringify(v)}: not an interface name`);
  return v;
}

export function parseIntFlag(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an integer in ${min}..${max}`);
  return Number(v);
}

// ---------------------------------------------------------------- the host as set-up and check see it

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
}

export function addrsOf(host: RsHost, dev: string): HostAddr[] {
  return host.addrs.filter((a) => a.dev === dev);
}

/** The address ARP from dev should carry: its first (primary) IPv4 address. */
export function primaryAddress(host: RsHost, dev: string): string | undefined {
  return addrsOf(host, dev)[0]?.local;
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
    out.push({ table: r.table, hook, vips, action, ...(operation ? { operation } : {}), ...(iifname ? { iifname } : {}), ...(oifname ? { oifname } : {}), ...(mangleTo ? { mangleTo } : {}) });
  }
  return out;
}

/** Rules that keep requests for vip arriving on dev from being answered. */
export function dropsRequestsFor(rules: ArpRule[], vip: string, dev: string): ArpRule | undefined {
  return rules.find((r) => r.hook === 'input' && r.action === 'drop' && r.vips.includes(vip) && r.operation !== 'reply' && (r.iifname === undefined || r.iifname === dev));
}

/** A rule that keeps vip out of the sender address of ARP requests leaving dev (rewritten or dropped). */
export function hidesSenderFor(rules: ArpRule[], vip: string, dev: string): ArpRule | undefined {
  return rules.find((r) => r.hook === 'output' && r.vips.includes(vip) && r.operation !== 'reply' && (r.oifname === undefined || r.oifname === dev) && (r.action === 'drop' || (r.mangleTo !== undefined && r.mangleTo !== vip)));
}

// ---------------------------------------------------------------- set-up and teardown

/** What `realserver setup` changed, so teardown can reverse exactly that. */
export interface RsState {
  version: 1;
  dev: string;
  method: Method;
  /** VIPs set up, in the order they were asked for. */
  vips: string[];
  /** The VIPs whose /32 on lo xlvs added; the others were there before and stay. */
  addedAddrs: string[];
  /** Sysctls xlvs changed, with the value each had before. */
  sysctls: { key: string; prior: number; value: number }[];
  /** arp-rules: xlvs created the table; nicAddress is what outgoing ARP carries instead of a VIP. */
  nft: { created: boolean; nicAddress: string } | null;
  /** --persist: where the files went (root is "/" on a live host) and which ones xlvs wrote. */
  persist: { root: string; files: string[] } | null;
}

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

/** Values of arp_ignore under which an address held on lo is never answered for on another interface. */
const QUIET_ARP_IGNORE = new Set([1, 2, 8]);

const UNIT = 'xlvs-realserver.service';

export function persistPaths(root: string): { sysctl: string; nft: string; unit: string; wants: string } {
  const r = root === '/' ? '' : root.replace(/\/+$/, '');
  return {
    sysctl: `${r}/etc/sysctl.d/90-xlvs-realserver.conf`,
    nft: `${r}/etc/xlvs/realserver.nft`,
    unit: `${r}/etc/systemd/system/${UNIT}`,
    wants: `${r}/etc/systemd/system/multi-user.target.wants/${UNIT}`,
  };
}

function ruleComment(vip: string): string {
  return `VIP ${vip}`;
}

/** The table alone: requests for a VIP are dropped; ARP leaving dev with a VIP as sender carries nicAddress instead. */
export function renderNftTable(vips: readonly string[], dev: string, nicAddress: string): string {
  const input = vips.map((v) => `\t\tarp operation request arp daddr ip ${v} counter drop comment "${ruleComment(v)}: never answer ARP for it"`);
  const output = vips.flatMap((v) => [
    `\t\tarp operation reply arp saddr ip ${v} counter drop comment "${ruleComment(v)}: never reply for it"`,
    `\t\toifname "${dev}" arp saddr ip ${v} arp saddr ip set ${nicAddress} counter comment "${ruleComment(v)}: announce ${nicAddress} instead"`,
    `\t\tarp saddr ip ${v} counter drop comment "${ruleComment(v)}: never announce it elsewhere"`,
  ]);
  return [
    `table arp ${NFT_TABLE} {`,
    `\tcomment "${NFT_COMMENT}"`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...input,
    '\t}',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    ...output,
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** One nft transaction that creates or replaces the table whole, so there is never a half-filled table. */
export function renderNftScript(vips: readonly string[], dev: string, nicAddress: string): string {
  return `table arp ${NFT_TABLE}\ndelete table arp ${NFT_TABLE}\n${renderNftTable(vips, dev, nicAddress)}`;
}

const GENERATED = '# Written by `xlvs realserver setup --persist`; `xlvs realserver teardown` removes it.';

export function renderSysctlConf(state: RsState): string {
  return [GENERATED, '# LVS-DR: never answer ARP for the VIPs on lo, never announce them.', ...state.sysctls.map((s) => `${sysctlDotted(s.key)} = ${s.value}`), ''].join('\n');
}

export function renderUnit(state: RsState): string {
  const lines = [
    GENERATED,
    '[Unit]',
    `Description=xlvs LVS-DR real server: ${state.vips.join(', ')} on lo, kept quiet on ARP`,
    // After sysctl and nftables (Debian's ruleset flushes everything when it loads), before services bind the VIPs.
    'After=systemd-sysctl.service nftables.service',
    'Before=network.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
  ];
  if (state.method === 'arp-rules') lines.push('ExecStart=/usr/sbin/nft -f /etc/xlvs/realserver.nft');
  for (const v of state.vips) lines.push(`ExecStart=/usr/sbin/ip addr replace ${v}/32 dev lo`);
  lines.push('', '[Install]', 'WantedBy=multi-user.target', '');
  return lines.join('\n');
}

/** The files --persist keeps for a state: path -> content (a symlink's content is "-> target"). */
export function persistFiles(state: RsState, root: string): { path: string; content: string; symlink?: string }[] {
  const p = persistPaths(root);
  const out: { path: string; content: string; symlink?: string }[] = [];
  if (state.method === 'sysctl' && state.sysctls.length) out.push({ path: p.sysctl, content: renderSysctlConf(state) });
  if (state.method === 'arp-rules' && state.nft) out.push({ path: p.nft, content: `#!/usr/sbin/nft -f\n${GENERATED}\n${renderNftScript(state.vips, state.dev, state.nft.nicAddress)}` });
  out.push({ path: p.unit, content: renderUnit(state) });
  out.push({ path: p.wants, content: '', symlink: `/etc/systemd/system/${UNIT}` });
  return out;
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
    problems.push(`--method ${req.method}: ${prior.vips.join(', ')} already set up here with --method ${prior.method}; tear them down first (xlvs realserver teardown --all)`);
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
      if (a.dev !== 'lo') problems.push(`--vip ${v}: already on ${a.dev} (${a.local}/${a.prefixlen}); a real server must hold the VIP on lo only, or it answers ARP for it`);
      else if (a.prefixlen !== 32) problems.push(`--vip ${v}: already on lo as /${a.prefixlen}; the VIP belongs on lo as /32 (a wider prefix makes the whole range local)`);
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
    const inPlace = host.arpTables.includes(NFT_TABLE) &&
      state.vips.every((v) => dropsRequestsFor(mine, v, dev) && mine.some((r) => r.hook === 'output' && r.action === 'mangle' && r.vips.includes(v) && r.mangleTo === nic && r.oifname === dev)) &&
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

// ---------------------------------------------------------------- listeners (/proc/net/tcp, udp)

export interface Listener {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  /** Dotted quad; for IPv6 "::", "::ffff:a.b.c.d" or eight hex groups. */
  address: string;
  port: number;
}

function hexWordsToBytes(hex: string, endianness: 'LE' | 'BE'): number[] {
  const out: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const bytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    // The kernel prints each 32-bit word of the address as a host-order number.
    out.push(...(endianness === 'LE' ? bytes.reverse() : bytes));
  }
  return out;
}

function ipv6Text(b: number[]): string {
  if (b.every((x) => x === 0)) return '::';
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

/** Listening TCP sockets (state 0A) or bound UDP sockets (state 07) from /proc/net/{tcp,tcp6,udp,udp6}. */
export function parseProcNet(text: string, o: { proto: 'tcp' | 'udp'; family: 4 | 6; endianness: 'LE' | 'BE' }): Listener[] {
  const want = o.proto === 'tcp' ? '0A' : '07';
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== want) continue;
    const [addrHex, portHex] = f[1]!.split(':') as [string, string];
    const bytes = hexWordsToBytes(addrHex, o.endianness);
    const address = o.family === 4 ? bytes.join('.') : ipv6Text(bytes);
    out.push({ proto: o.proto, family: o.family, address, port: parseInt(portHex, 16) });
  }
  return out;
}

/** Whether a socket bound like l takes connections addressed to vip. */
export function listenerServes(l: Listener, vip: string): boolean {
  if (l.family === 4) return l.address === vip || l.address === '0.0.0.0';
  return l.address === '::' || l.address === `::ffff:${vip}`;
}

// ---------------------------------------------------------------- MTU search

/**
 * Packet sizes to try next when `lo` bytes got through and `hi` did not: up to k sizes strictly between, evenly
 * spread, so each round of parallel pings narrows the gap k+1-fold.
 */
export function mtuCandidates(lo: number, hi: number, k: number): number[] {
  const gap = hi - lo;
  if (gap <= 1) return [];
  const n = Math.min(k, gap - 1);
  const out: number[] = [];
  for (let i = 1; i <= n; i++) {
    const s = lo + Math.round((gap * i) / (n + 1));
    if (s > lo && s < hi && !out.includes(s)) out.push(s);
  }
  return out;
}

/** A DF ping at `size` bytes (the whole IP packet) and, if that failed, the largest size that got through. */
export interface MtuProbe {
  target: string;
  size: number;
  passed: boolean;
  /** A small ping got through (so a failure is about size, not reachability). */
  reachable: boolean;
  /** Largest packet that got through, when the full size did not. */
  largest?: number;
}

// ---------------------------------------------------------------- check (on the real server)

export interface CheckResult {
  check: string;
  vip?: string;
  status: Status;
  detail: string;
  /** How to fix a failure. */
  hint?: string;
}

export interface CheckInput {
  vips: string[];
  dev: string;
  director?: string;
  port?: number;
  protocol: 'tcp' | 'udp';
  /** The director's MTU, to compare the NIC's with. */
  mtu?: number;
}

function effective(host: RsHost, dev: string, name: string): { value: number | undefined; text: string } {
  const all = host.sysctl[sysctlKey('all', name)];
  const own = host.sysctl[sysctlKey(dev, name)];
  // The kernel takes the larger of conf/all and conf/<dev> for these three.
  const value = all === undefined || own === undefined ? undefined : Math.max(all, own);
  return { value, text: `${sysctlDotted(sysctlKey('all', name))}=${all ?? '?'}, ${sysctlDotted(sysctlKey(dev, name))}=${own ?? '?'}` };
}

function setupHint(vip: string, dev: string): string {
  return `xlvs realserver setup --vip ${vip} --dev ${dev}`;
}

/** Every requirement of an LVS-DR real server, one result each, for each VIP. */
export function evaluateCheck(host: RsHost, input: CheckInput, probes: { listeners?: Listener[]; mtu?: MtuProbe } = {}): CheckResult[] {
  const out: CheckResult[] = [];
  const dev = input.dev;
  for (const vip of input.vips) {
    const held = host.addrs.filter((a) => a.local === vip);
    const lo = held.find((a) => a.dev === 'lo');
    const elsewhere = held.filter((a) => a.dev !== 'lo');
    if (elsewhere.length) {
      out.push({
        check: 'vip-on-lo', vip, status: 'fail',
        detail: `${vip} is on ${elsewhere.map((a) => `${a.dev} (/${a.prefixlen})`).join(', ')}: this host answers ARP for it there and takes the director's place`,
        hint: `ip addr del ${vip}/${elsewhere[0]!.prefixlen} dev ${elsewhere[0]!.dev}; then ${setupHint(vip, dev)}`,
      });
    } else if (!lo) {
      out.push({ check: 'vip-on-lo', vip, status: 'fail', detail: `${vip} is not on lo: frames the director sends for it are dropped`, hint: `${setupHint(vip, dev)}   (or: ip addr add ${vip}/32 dev lo)` });
    } else if (lo.prefixlen !== 32) {
      out.push({ check: 'vip-on-lo', vip, status: 'fail', detail: `${vip} is on lo as /${lo.prefixlen}, which makes the whole range local`, hint: `ip addr del ${vip}/${lo.prefixlen} dev lo && ip addr add ${vip}/32 dev lo` });
    } else {
      out.push({ check: 'vip-on-lo', vip, status: 'pass', detail: `${vip}/32 on lo` });
    }

    const ign = effective(host, dev, 'arp_ignore');
    const rule = dropsRequestsFor(host.arpRules, vip, dev);
    if (ign.value !== undefined && QUIET_ARP_IGNORE.has(ign.value)) {
      out.push({ check: 'arp-ignore', vip, status: 'pass', detail: `does not answer ARP for ${vip} (${ign.text})` });
    } else if (rule) {
      out.push({ check: 'arp-ignore', vip, status: 'pass', detail: `does not answer ARP for ${vip} (nft table arp ${rule.table} drops requests for it)` });
    } else {
      out.push({
        check: 'arp-ignore', vip, status: 'fail',
        detail: `answers ARP for ${vip} on ${dev} (${ign.text}, no arp rule drops requests for it): the router may send clients here instead of to the director`,
        hint: `${setupHint(vip, dev)}   (or: sysctl -w ${sysctlDotted(sysctlKey('all', 'arp_ignore'))}=1 ${sysctlDotted(sysctlKey(dev, 'arp_ignore'))}=1)`,
      });
    }

    const ann = effective(host, dev, 'arp_announce');
    const hide = hidesSenderFor(host.arpRules, vip, dev);
    if (ann.value === 2) {
      out.push({ check: 'arp-announce', vip, status: 'pass', detail: `never uses ${vip} as ARP sender (${ann.text})` });
    } else if (hide) {
      out.push({ check: 'arp-announce', vip, status: 'pass', detail: `never uses ${vip} as ARP sender (nft table arp ${hide.table} ${hide.action === 'drop' ? 'drops' : `rewrites it to ${hide.mangleTo}`})` });
    } else {
      out.push({
        check: 'arp-announce', vip, status: 'fail',
        detail: `ARP requests for replies from ${vip} carry ${vip} as sender (${ann.text}): neighbours learn ${vip} at this host's MAC`,
        hint: `${setupHint(vip, dev)}   (or: sysctl -w ${sysctlDotted(sysctlKey('all', 'arp_announce'))}=2 ${sysctlDotted(sysctlKey(dev, 'arp_announce'))}=2)`,
      });
    }
  }

  const rp = effective(host, dev, 'rp_filter');
  const defaults = host.defaultRoutes;
  if (rp.value === undefined) {
    out.push({ check: 'rp-filter', status: 'skip', detail: `cannot read rp_filter (${rp.text})` });
  } else if (rp.value === 0) {
    out.push({ check: 'rp-filter', status: 'pass', detail: `off (${rp.text})` });
  } else if (defaults.length === 0) {
    out.push({ check: 'rp-filter', status: 'fail', detail: `${rp.value === 1 ? 'strict' : 'loose'} (${rp.text}) and no default route: packets from clients off the segment are dropped as unroutable`, hint: `add a default route via the router on ${dev}, or sysctl -w ${sysctlDotted(sysctlKey('all', 'rp_filter'))}=0 ${sysctlDotted(sysctlKey(dev, 'rp_filter'))}=0` });
  } else if (rp.value === 1 && !defaults.some((d) => d.dev === dev)) {
    out.push({ check: 'rp-filter', status: 'fail', detail: `strict (${rp.text}) and the default route leaves by ${defaults[0]!.dev}, not ${dev}: client packets arriving on ${dev} are dropped`, hint: `sysctl -w ${sysctlDotted(sysctlKey('all', 'rp_filter'))}=2 ${sysctlDotted(sysctlKey(dev, 'rp_filter'))}=2   (loose), or route clients back out of ${dev}` });
  } else {
    out.push({ check: 'rp-filter', status: 'pass', detail: `${rp.value === 1 ? 'strict' : 'loose'} (${rp.text}), and clients route back out of ${defaults[0]!.dev}` });
  }

  if (defaults.length === 0) {
    out.push({ check: 'default-route', status: 'fail', detail: 'no default route: replies to clients off the segment have no way out', hint: `ip route add default via <router> dev ${dev}` });
  } else {
    const viaDirector = input.director ? defaults.find((d) => d.gateway === input.director) : undefined;
    const desc = defaults.map((d) => `${d.gateway ? `via ${d.gateway} ` : ''}dev ${d.dev}`).join(', ');
    if (viaDirector) {
      out.push({ check: 'default-route', status: 'fail', detail: `default route ${desc} goes through the director: DR replies must go straight to the router`, hint: `ip route replace default via <router> dev ${dev}` });
    } else {
      out.push({ check: 'default-route', status: 'pass', detail: `default route ${desc}${input.director ? `, not the director ${input.director}` : ' (give --director to check it is not the director)'}` });
    }
  }

  if (input.port !== undefined && probes.listeners) {
    const onPort = probes.listeners.filter((l) => l.port === input.port && l.proto === input.protocol);
    for (const vip of input.vips) {
      const serving = onPort.filter((l) => listenerServes(l, vip));
      const what = `${input.protocol} ${vip}:${input.port}`;
      if (serving.length) {
        out.push({ check: 'listener', vip, status: 'pass', detail: `${what} served by a socket on ${serving.map((l) => `${l.family === 6 ? `[${l.address}]` : l.address}:${l.port}`).join(', ')}` });
      } else {
        const others = onPort.map((l) => `${l.address}:${l.port}`);
        out.push({
          check: 'listener', vip, status: 'fail',
          detail: others.length ? `nothing takes ${what}: the service listens on ${others.join(', ')} only` : `nothing listens on ${input.protocol} port ${input.port}`,
          hint: `bind the service to ${vip}:${input.port} or to 0.0.0.0:${input.port}`,
        });
      }
    }
  }

  const nicMtu = host.devices[dev]?.mtu;
  if (input.mtu !== undefined || probes.mtu) {
    const fails: string[] = [];
    const passes: string[] = [];
    if (input.mtu !== undefined && nicMtu !== undefined) {
      (nicMtu === input.mtu ? passes : fails).push(`${dev} MTU ${nicMtu}${nicMtu === input.mtu ? ' = ' : ' differs from '}the director's ${input.mtu}`);
    }
    const p = probes.mtu;
    let skip: string | undefined;
    if (p) {
      if (p.passed) passes.push(`DF packets of ${p.size} bytes reach ${p.target}`);
      else if (!p.reachable) skip = `${p.target} does not answer ping`;
      else fails.push(`DF packets of ${p.size} bytes (${dev}'s MTU) do not reach ${p.target}; the largest that did was ${p.largest ?? '?'} bytes, about the director's MTU`);
    }
    if (fails.length) {
      out.push({ check: 'mtu', status: 'fail', detail: [...fails, ...passes].join('; '), hint: `give ${dev} the segment's MTU: ip link set dev ${dev} mtu ${input.mtu ?? '<the director\'s MTU>'} (the director, the router and every real must agree)` });
    } else if (passes.length) {
      out.push({ check: 'mtu', status: 'pass', detail: [...passes, ...(skip ? [skip] : [])].join('; ') });
    } else if (skip) {
      out.push({ check: 'mtu', status: 'skip', detail: skip });
    }
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const MARK: Record<Status, string> = { pass: 'ok', fail: 'FAIL', skip: 'skip' };

function hintsBlock(items: { label: string; hint?: string; status: Status }[]): string {
  const failed = items.filter((i) => i.status === 'fail' && i.hint);
  if (!failed.length) return '';
  return `\nto fix:\n${failed.map((f) => `  ${f.label}: ${f.hint}`).join('\n')}\n`;
}

export function renderCheckText(results: CheckResult[], head: string): string {
  const rows = [['CHECK', 'VIP', 'RESULT', 'DETAIL'], ...results.map((r) => [r.check, r.vip ?? '', MARK[r.status], r.detail])];
  const failed = results.filter((r) => r.status === 'fail').length;
  const verdict = failed ? `${failed} check${failed > 1 ? 's' : ''} failed` : 'ready for LVS-DR';
  return `${head}\n${table(rows)}\n${hintsBlock(results.map((r) => ({ label: `${r.check}${r.vip ? ` ${r.vip}` : ''}`, hint: r.hint, status: r.status })))}${verdict}\n`;
}

// ---------------------------------------------------------------- doctor (on the director)

export interface DoctorCheck {
  check: 'mac' | 'on-link' | 'mtu' | 'holds-vip' | 'arp-announce' | 'reply-route' | 'dr-path' | 'arp-vip';
  /** "real 10.0.0.11", "real 10.0.0.11 / VIP 10.0.0.100", "TCP 10.0.0.100:80 -> 10.0.0.11", "VIP 10.0.0.100". */
  subject: string;
  real?: string;
  vip?: string;
  service?: string;
  status: Status;
  detail: string;
  hint?: string;
}

export interface DoctorReport {
  interface: string;
  directorMac: string;
  directorAddress: string | null;
  mtu: number;
  xdp: { mode: string; progId: number } | null;
  /** The spare on-link address the arp-announce probe pretended to be, if any. */
  probeAddress: string | null;
  /** The off-segment address the reply-route probe pretended to be. */
  offlinkAddress: string;
  checks: DoctorCheck[];
  ok: boolean;
}

export function realSubject(real: string): string {
  return `real ${real}`;
}

export function doctorMac(real: string, mac: string | null, dev: string): DoctorCheck {
  return mac
    ? { check: 'mac', subject: realSubject(real), real, status: 'pass', detail: mac }
    : { check: 'mac', subject: realSubject(real), real, status: 'fail', detail: `no ARP answer from ${real} on ${dev}`, hint: `is ${real} up and on ${dev}'s segment? (ip neigh show ${real} dev ${dev}; arping -I ${dev} ${real})` };
}

export function doctorOnLink(real: string, dev: string, route: { dev: string; gateway?: string } | null, subnets: string[]): DoctorCheck {
  const inSubnet = subnets.some((s) => inCidr(real, s));
  const base = { check: 'on-link' as const, subject: realSubject(real), real };
  if (route && route.dev === dev && !route.gateway && inSubnet) return { ...base, status: 'pass', detail: `on ${dev} (${subnets.filter((s) => inCidr(real, s)).join(', ')})` };
  const how = route ? `routed ${route.gateway ? `via ${route.gateway} ` : ''}dev ${route.dev}` : 'no route';
  const where = subnets.length ? `outside ${dev}'s subnet ${subnets.join(', ')}` : `${dev} has no IPv4 subnet`;
  return { ...base, status: 'fail', detail: `${real} is ${inSubnet ? how : `${where}, ${how}`}: direct routing needs every real on the director's segment`, hint: `put ${real} on ${dev}'s segment, or give ${dev} an address in ${real}'s subnet` };
}

export function doctorMtu(real: string, dev: string, dirMtu: number, ping: MtuProbe | null, synAckMss: number | undefined): DoctorCheck {
  const base = { check: 'mtu' as const, subject: realSubject(real), real };
  const notes: string[] = [];
  if (ping && !ping.reachable) return { ...base, status: 'skip', detail: `${real} does not answer ping${synAckMss ? `; its SYN-ACK MSS ${synAckMss} means MTU ${synAckMss + 40}` : ''}` };
  if (ping && !ping.passed) {
    return { ...base, status: 'fail', detail: `DF packets of ${dirMtu} bytes (${dev}'s MTU) do not reach ${real}; the largest that did was ${ping.largest ?? '?'} bytes, about ${real}'s MTU`, hint: `give ${real}'s NIC the segment's MTU ${dirMtu} (ip link set dev <nic> mtu ${dirMtu} on ${real}), or lower ${dev}'s and the router's to match it` };
  }
  if (synAckMss !== undefined && synAckMss + 40 > dirMtu) {
    return { ...base, status: 'fail', detail: `${real} advertises MSS ${synAckMss} (MTU ${synAckMss + 40}), larger than ${dev}'s MTU ${dirMtu}: its large replies need ICMP "fragmentation needed", which comes back to the VIP, i.e. the director`, hint: `set ${real}'s NIC MTU to ${dirMtu} (ip link set dev <nic> mtu ${dirMtu} on ${real})` };
  }
  if (ping?.passed) notes.push(`DF packets of ${dirMtu} bytes reach ${real}`);
  if (synAckMss !== undefined) notes.push(`SYN-ACK MSS ${synAckMss}`);
  return { ...base, status: 'pass', detail: notes.join('; ') || `MTU ${dirMtu}` };
}

export type TcpProbeResult = { kind: 'synack'; mss?: number } | { kind: 'rst' } | { kind: 'timeout' };
export type UdpProbeResult = { kind: 'reply' } | { kind: 'unreachable' } | { kind: 'silent' };

export function serviceLabel(s: { protocol: string; vip: string; port: number }): string {
  return `${s.protocol.toUpperCase()} ${s.vip}:${s.port}`;
}

export function doctorDrPath(svc: { protocol: 'tcp' | 'udp'; vip: string; port: number }, real: string, r: TcpProbeResult | UdpProbeResult | null): DoctorCheck {
  const service = serviceLabel(svc);
  const base = { check: 'dr-path' as const, subject: `${service} -> ${real}`, real, vip: svc.vip, service };
  if (r === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  switch (r.kind) {
    case 'synack':
      return { ...base, status: 'pass', detail: `SYN to ${svc.vip}:${svc.port} at ${real}'s MAC answered with SYN-ACK` };
    case 'rst':
      return { ...base, status: 'fail', detail: `${real} holds ${svc.vip} but refuses port ${svc.port} (RST): the service does not listen on the VIP`, hint: `on ${real}: bind the service to ${svc.vip}:${svc.port} or 0.0.0.0:${svc.port} (xlvs realserver check --vip ${svc.vip} --port ${svc.port})` };
    case 'timeout':
      return { ...base, status: 'fail', detail: `no answer to a SYN for ${svc.vip}:${svc.port} sent to ${real}'s MAC`, hint: `on ${real}: xlvs realserver setup --vip ${svc.vip}, then xlvs realserver check --vip ${svc.vip} --port ${svc.port} (a firewall dropping ${svc.vip}:${svc.port} has the same effect)` };
    case 'reply':
      return { ...base, status: 'pass', detail: `a datagram to ${svc.vip}:${svc.port} at ${real}'s MAC was answered` };
    case 'unreachable':
      return { ...base, status: 'fail', detail: `${real} answers port unreachable for ${svc.vip}:${svc.port}: nothing listens on the VIP`, hint: `on ${real}: bind the service to ${svc.vip}:${svc.port} or 0.0.0.0:${svc.port}` };
    case 'silent':
      return { ...base, status: 'skip', detail: `not conclusive (UDP): no reply to a datagram for ${svc.vip}:${svc.port}, and a quiet service looks the same as a missing one` };
  }
}

export function doctorHoldsVip(real: string, vip: string, evidence: { echo: boolean; tcp: boolean } | null): DoctorCheck {
  const base = { check: 'holds-vip' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (evidence === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (evidence.echo || evidence.tcp) return { ...base, status: 'pass', detail: `answers for ${vip} at its own MAC (${[evidence.echo ? 'ping' : '', evidence.tcp ? 'TCP' : ''].filter(Boolean).join(', ')})` };
  return { ...base, status: 'fail', detail: `${real} ignores packets for ${vip} sent to its MAC: the VIP is not on its lo (or a firewall drops them)`, hint: `on ${real}: xlvs realserver setup --vip ${vip}` };
}

/** arpSenders: sender addresses of the ARP requests the real sent while answering a probe from the spare address. */
export function doctorAnnounce(real: string, vip: string, probeAddress: string | null, answered: boolean, arpSenders: string[] | null, holdsVip = true): DoctorCheck {
  const base = { check: 'arp-announce' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (arpSenders === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (arpSenders.includes(vip)) {
    return { ...base, status: 'fail', detail: `${real} sent ARP with ${vip} as sender: the router and others learn ${vip} at ${real}'s MAC`, hint: `on ${real}: xlvs realserver setup --vip ${vip}   (arp_announce=2, or --method arp-rules)` };
  }
  if (arpSenders.length) return { ...base, status: 'pass', detail: `ARP from ${real} carries ${[...new Set(arpSenders)].join(', ')}, not ${vip}` };
  if (!holdsVip) return { ...base, status: 'skip', detail: `${real} does not answer for ${vip}, so its ARP for replies could not be seen` };
  if (!probeAddress) return { ...base, status: 'skip', detail: 'no spare address on the segment to probe from (give --probe-address)' };
  return { ...base, status: 'skip', detail: answered ? `${real} sent no ARP while answering ${probeAddress}` : `${real} sent no ARP for ${probeAddress} after a ping to ${vip} from it (ping filtered, or still resolving it from a run moments ago)` };
}

export function doctorReplyRoute(real: string, vip: string, offlink: string, answered: boolean | null, seenAtDirector: boolean): DoctorCheck {
  const base = { check: 'reply-route' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (answered === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (seenAtDirector) {
    return { ...base, status: 'fail', detail: `${real}'s reply from ${vip} to off-segment ${offlink} came back to the director: its default route goes through the director`, hint: `on ${real}: ip route replace default via <router>   (xlvs realserver check --vip ${vip} --director <this address>)` };
  }
  if (!answered) return { ...base, status: 'skip', detail: `${real} does not answer ping for ${vip}, so its reply route could not be seen` };
  return { ...base, status: 'pass', detail: `replies from ${vip} to off-segment ${offlink} do not come through the director` };
}

export function doctorArpVip(vip: string, dirMac: string, replies: { mac: string; spa: string }[], realsByMac: Map<string, string>, holdsVip: boolean): DoctorCheck {
  const base = { check: 'arp-vip' as const, subject: `VIP ${vip}`, vip };
  const others = [...new Set(replies.map((r) => r.mac.toLowerCase()).filter((m) => m !== dirMac.toLowerCase()))];
  if (others.length) {
    const who = others.map((m) => (realsByMac.has(m) ? `${m} (real ${realsByMac.get(m)})` : m));
    const reals = others.filter((m) => realsByMac.has(m)).map((m) => realsByMac.get(m)!);
    return { ...base, status: 'fail', detail: `ARP for ${vip} answered by ${who.join(', ')}: the router may send clients past the director`, hint: reals.length ? `on ${reals.join(', ')}: xlvs realserver setup --vip ${vip}` : `find the host with MAC ${others[0]} and take ${vip} off it, or keep it quiet on ARP` };
  }
  return { ...base, status: 'pass', detail: `no host but the director answers ARP for ${vip}${holdsVip ? '' : ` (the director does not hold ${vip} now; xlvs up adds it)`}` };
}

export function renderDoctorText(r: DoctorReport): string {
  const head = `xlvs doctor on ${r.interface} (${r.directorMac}, ${r.directorAddress ?? 'no IPv4 address'}, MTU ${r.mtu}), ${r.xdp ? `XDP program ${r.xdp.progId} attached (${r.xdp.mode})` : 'no XDP program attached'}`;
  const rows = [['CHECK', 'SUBJECT', 'RESULT', 'DETAIL'], ...r.checks.map((c) => [c.check, c.subject, MARK[c.status], c.detail])];
  const failed = r.checks.filter((c) => c.status === 'fail').length;
  const verdict = failed ? `${failed} check${failed > 1 ? 's' : ''} failed` : 'ready';
  return `${head}\n${table(rows)}\n${hintsBlock(r.checks.map((c) => ({ label: `${c.check} ${c.subject}`, hint: c.hint, status: c.status })))}${verdict}\n`;
}

// ---------------------------------------------------------------- addresses

export function inCidr(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const a = addr.split('.').reduce((n, x) => (n << 8) + Number(x), 0) >>> 0;
  const b = net.split('.').reduce((n, x) => (n << 8) + Number(x), 0) >>> 0;
  return (a & mask) === (b & mask);
}

/**
 * Spare-address candidates for the arp-announce probe: from the top of the subnet down, skipping the network and
 * broadcast addresses and any address in `taken`.
 */
export function spareCandidates(cidr: string, taken: ReadonlySet<string>, count: number): string[] {
  const [net, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  if (bits > 30) return [];
  const base = (net.split('.').reduce((n, x) => (n << 8) + Number(x), 0) & ((~0 << (32 - bits)) >>> 0)) >>> 0;
  const size = 2 ** (32 - bits);
  const out: string[] = [];
  for (let i = size - 2; i >= 1 && out.length < count; i--) {
    const n = (base + i) >>> 0;
    const s = [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
    if (!taken.has(s)) out.push(s);
  }
  return out;
}
