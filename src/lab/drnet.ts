// drnet.ts: builds and tears down the LVS-DR test network in network namespaces and drives the director, real servers and client inside it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClientResult } from './client';

export type { ClientResult } from './client';

/** Fixed addressing of the lab; tests refer to these rather than repeating literals. */
export const ADDR = {
  lanPrefix: 24,
  router: '10.0.0.1',
  director: '10.0.0.2',
  /** A second director (a VRRP backup), added on demand by addSecondDirector(); its NIC is lan0. */
  director2: '10.0.0.3',
  vip: '10.0.0.100',
  realBase: 11, // rsN is 10.0.0.(10+N)
  client: '203.0.113.10',
  routerOutside: '203.0.113.1',
  outsidePrefix: 24,
  /** A second client network (another /24), added on demand by addSecondClientNetwork(). */
  client2: '198.51.100.10',
  routerOutside2: '198.51.100.1',
} as const;

export function realAddress(n: number): string {
  return `10.0.0.${ADDR.realBase + n - 1}`;
}

export type Protocol = 'tcp' | 'udp';

export interface ServiceSpec {
  vip?: string;
  port: number;
  protocol: Protocol;
  scheduler?: string;
  /** weights[i] is the weight of real rs(i+1); reals beyond the array (or with undefined) are left out of the service. */
  weights: (number | undefined)[];
}

export interface LabOptions {
  /** Number of real servers (rs1..rsN). Default 3. */
  reals?: number;
  /** Put the VIP on the director's eth0 (normally xlvs does this); for plumbing checks without xlvs. */
  addVipToDirector?: boolean;
  /** Start the HTTP/UDP server on every real. Default true. */
  startServers?: boolean;
  httpPort?: number;
  udpPort?: number;
  /** Progress lines; default silent. */
  log?: (line: string) => void;
  /** Repository root (where bin/xlvs and build/bpf live). Default: derived from this file's location in dist/. */
  repoRoot?: string;
  /**
   * Namespace-name prefix (a lowercase letter, then up to 7 lowercase letters or digits; '-' is appended). Refused
   * while another run holds it or any namespace already uses it. Default: the first free xlN-, N from the pid.
   */
  prefix?: string;
  /** Tear down on SIGINT/SIGTERM, then exit 130/143. Default false (the caller owns its signals). */
  handleSignals?: boolean;
  /**
   * 'full' (default): every real holds the VIP on lo with arp_ignore=1/arp_announce=2. 'bare': addresses and routes
   * only (no VIP on lo, ARP sysctls at the kernel defaults), for tests of real-server set-up and checks.
   */
  realSetup?: 'full' | 'bare';
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
}

export interface DirectorStatus {
  interface: string;
  xdp?: { mode: string; progId: number } | null;
  services: {
    vip: string;
    port: number;
    protocol: string;
    scheduler?: string;
    stats: Counters;
    reals: { address: string; mac: string | null; weight: number; schedulable: boolean; stats: Counters }[];
  }[];
  verdicts: Record<
    | 'pass_not_ipv4'
    | 'pass_malformed'
    | 'pass_fragment'
    | 'pass_no_service'
    | 'tx_existing'
    | 'tx_new'
    | 'drop_no_real'
    | 'aborted',
    number
  >;
}

export interface Counters {
  packets: number;
  bytes: number;
  conns: number;
}

export interface ReplyPathCounters {
  /** Packets with ip saddr = VIP arriving at the router, per real name, keyed by the real's source MAC. */
  routerFromReal: Record<string, number>;
  /** Packets with ip saddr = VIP arriving at the router from any other MAC (the director, say). */
  routerFromOther: number;
  /** Packets with ip saddr = VIP reaching the director's eth0 ingress (after XDP). */
  directorIngress: number;
}

export interface CaptureResult {
  file: string;
  captured: number | null;
  droppedByKernel: number | null;
  stderr: string;
}

export interface Capture {
  file: string;
  stop(): Promise<CaptureResult>;
}

export interface DirectorProcess {
  pid: number;
  /** Everything the director printed so far, stdout and stderr interleaved. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MARKER_DIR = '/run/xlvs-lab';
const BPFFS_BASE = '/run/xlvs-test-bpf-';
// The bpffs path is passed as $1 rather than spliced into the script, so the wrapper stays a fixed string.
const DIRECTOR_WRAPPER = 'mount --bind "$1" /sys/fs/bpf && shift && exec "$@"';

const SW_BRIDGE = 'br0';

function defaultRepoRoot(): string {
  // This file runs as dist/src/lab/drnet.js; the repository root is three levels up.
  return path.resolve(__dirname, '..', '..', '..');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command (argv array, no shell) and collects its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}, track?: Set<ChildProcess>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    track?.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      track?.delete(child);
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      track?.delete(child);
      const r: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs}ms\n${r.stderr}`));
      } else if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${r.stderr.trim()}\n${r.stdout.trim()}`));
      } else {
        resolve(r);
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

function runSyncQuiet(cmd: string, args: string[]): { code: number | null; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  return { code: r.status, stdout: r.stdout ?? '' };
}

function listNetns(): string[] {
  const r = runSyncQuiet('ip', ['netns', 'list']);
  if (r.code !== 0) return [];
  // Lines look like "name (id: 3)" or just "name".
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

function bpffsDirFor(prefix: string): string {
  return BPFFS_BASE + prefix.replace(/-$/, '');
}

/**
 * A letter, then up to 7 letters or digits, then '-' (added when missing). No '-' inside, so no prefix begins
 * another; short, so `ip netns list` stays readable and names stay far from the kernel's limits.
 */
const PREFIX_RE = /^[a-z][a-z0-9]{0,7}-?$/;

/**
 * What one run claimed and created, in MARKER_DIR/<prefix>.json. Teardown and cleanupPrefix() remove exactly what is
 * listed here, never a namespace merely because its name looks like a lab's: other runs (or other people) may use
 * such names.
 */
interface LabRecord {
  prefix: string;
  pid: number;
  /** The owner's start time (field 22 of /proc/PID/stat), so a reused pid does not pass for the owner. */
  start: string | null;
  namespaces: string[];
  bpffs?: string;
  workDir?: string;
}

/** Checks a LabOptions.prefix and returns it ending in '-'. */
export function labPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`prefix: ${JSON.stringify(prefix)} is not a lab prefix (a lowercase letter, then up to 7 lowercase letters or digits, optionally ending in "-")`);
  }
  return prefix.endsWith('-') ? prefix : `${prefix}-`;
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; field 3 starts two characters after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function ownerAlive(r: LabRecord): boolean {
  const now = procStart(r.pid);
  return now !== null && (r.start === null || now === r.start);
}

function recordPath(prefix: string): string {
  return path.join(MARKER_DIR, `${prefix.replace(/-$/, '')}.json`);
}

function readRecord(prefix: string): LabRecord | null | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(recordPath(prefix), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'unreadable';
  }
  try {
    const r = JSON.parse(text) as LabRecord;
    return Number.isInteger(r.pid) && Array.isArray(r.namespaces) ? r : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Replaces the record whole (rename), so a reader never sees half of it. */
function writeRecord(r: LabRecord): void {
  const file = recordPath(r.prefix);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(r)}\n`);
  fs.renameSync(tmp, file);
}

/** Creates the record only if none exists: link() of a complete file is the atomic claim; false when taken. */
function createRecord(r: LabRecord): boolean {
  const file = recordPath(r.prefix);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(r)}\n`);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.unlinkSync(tmp);
  }
}

function leftoversNote(r: LabRecord): string {
  const what = [...r.namespaces.map((n) => `namespace ${n}`), ...(r.bpffs ? [`bpffs ${r.bpffs}`] : [])];
  return `it holds the leftovers of run ${r.pid}, which is gone (${what.join(', ') || 'nothing but its record'}, listed in ${recordPath(r.prefix)}); `
    + `remove them with cleanupPrefix(${JSON.stringify(r.prefix)}) from src/lab/drnet (npm run demo -- --cleanup ${r.prefix})`;
}

/** Kills the processes in the record's namespaces (it created them, so only its processes live there) and removes what it lists. */
function removeRecorded(r: LabRecord, keepWorkDir: boolean): string[] {
  const removed: string[] = [];
  const present = new Set(listNetns());
  for (const ns of r.namespaces) {
    if (!present.has(ns)) continue;
    const pids = runSyncQuiet('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    runSyncQuiet('ip', ['netns', 'del', ns]);
    removed.push(ns);
  }
  if (r.bpffs && fs.existsSync(r.bpffs)) {
    runSyncQuiet('umount', ['-l', r.bpffs]);
    try {
      fs.rmdirSync(r.bpffs);
    } catch {
      /* not empty or still mounted: leave it */
    }
  }
  if (r.workDir && !keepWorkDir) fs.rmSync(r.workDir, { recursive: true, force: true });
  try {
    fs.unlinkSync(recordPath(r.prefix));
  } catch {
    /* no record */
  }
  return removed;
}

/**
 * Removes what a run that is gone (killed, crashed) recorded under this prefix: processes inside its namespaces, the
 * namespaces, its bpffs mount, its work dir. Nothing else with a similar name is touched, and a live run's prefix is
 * refused. Returns the namespaces removed.
 */
export function cleanupPrefix(prefix: string): string[] {
  const p = labPrefix(prefix);
  const r = readRecord(p);
  if (r === null) return [];
  if (r === 'unreadable') throw new Error(`prefix ${p}: ${recordPath(p)} is unreadable; check it and remove it by hand`);
  if (ownerAlive(r)) throw new Error(`prefix ${p} belongs to run ${r.pid}, which is still running; it removes its namespaces when it ends`);
  return removeRecorded(r, false);
}

/**
 * Claims a prefix for this run: the one asked for, or the first free xlN- (N from the pid). A prefix is free when no
 * record holds it and no namespace uses it; a run that is gone keeps its prefix until cleanupPrefix() removes its
 * leftovers, which this run only names (through note) and never removes.
 */
function claimPrefix(wanted: string | undefined, note: (l: string) => void): LabRecord {
  fs.mkdirSync(MARKER_DIR, { recursive: true });
  const existing = listNetns();
  const start = procStart(process.pid);
  const tryClaim = (prefix: string): { record: LabRecord } | { why: string; leftovers: boolean } => {
    const r = readRecord(prefix);
    if (r === 'unreadable') return { why: `${recordPath(prefix)} is unreadable; check it and remove it by hand`, leftovers: false };
    if (r) return ownerAlive(r) ? { why: `run ${r.pid} is using it`, leftovers: false } : { why: leftoversNote(r), leftovers: true };
    const foreign = existing.filter((n) => n.startsWith(prefix));
    if (foreign.length) return { why: `namespaces this run did not create use it (${foreign.join(' ')}); remove them (ip netns del NAME) or pick another prefix`, leftovers: false };
    const record: LabRecord = { prefix, pid: process.pid, start, namespaces: [] };
    return createRecord(record) ? { record } : { why: 'another run claimed it first', leftovers: false };
  };
  if (wanted !== undefined) {
    const prefix = labPrefix(wanted);
    const c = tryClaim(prefix);
    if ('why' in c) throw new Error(`prefix ${prefix}: ${c.why}`);
    return c.record;
  }
  // pid % 10000 keeps names short; a prefix that is taken (a live run, leftovers, someone's namespaces) is skipped.
  for (let k = 0; k < 10000; k++) {
    const prefix = `xl${(process.pid + k) % 10000}-`;
    const c = tryClaim(prefix);
    if ('record' in c) return c.record;
    if (c.leftovers) note(`skipping prefix ${prefix}: ${c.why}`);
  }
  throw new Error('no free lab prefix');
}

export class DrLab {
  readonly prefix: string;
  readonly repoRoot: string;
  readonly workDir: string;
  readonly bpffsDir: string;
  readonly realCount: number;
  readonly httpPort: number;
  readonly udpPort: number;
  /** MAC addresses of every host's eth0 (and the router's eth1), filled in by build(). */
  readonly macs: Record<string, string> = {};
  private readonly opts: LabOptions;
  private readonly log: (l: string) => void;
  private readonly children = new Set<ChildProcess>();
  /** What this run claimed and created: teardown removes exactly this (kept in MARKER_DIR as it grows). */
  private readonly record: LabRecord;
  private readonly servers: ChildProcess[] = [];
  private director: { child: ChildProcess; proc: DirectorProcess } | undefined;
  private teardownPromise: Promise<void> | undefined;
  private cleanedUp = false;
  private pendingSignal: NodeJS.Signals | undefined;
  private readonly exitHook = (): void => this.teardownSync();
  // The hook stays installed until teardown has finished: a second Ctrl-C during teardown must not kill the
  // process half way and strand namespaces; the process exits once the teardown in progress completes.
  private readonly signalHook = (sig: NodeJS.Signals): void => {
    if (!this.pendingSignal) this.log(`${sig}: tearing down the lab`);
    this.pendingSignal ??= sig;
    void this.teardown();
  };

  private constructor(opts: LabOptions, record: LabRecord) {
    this.opts = opts;
    this.log = opts.log ?? (() => undefined);
    this.record = record;
    const prefix = record.prefix;
    this.prefix = prefix;
    this.repoRoot = opts.repoRoot ?? defaultRepoRoot();
    this.realCount = opts.reals ?? 3;
    this.httpPort = opts.httpPort ?? 80;
    this.udpPort = opts.udpPort ?? 9000;
    this.bpffsDir = bpffsDirFor(prefix);
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), `xlvs-lab-${prefix}`));
    this.record.workDir = this.workDir;
    writeRecord(this.record);
  }

  /** Builds the whole network (and starts the real servers unless told not to). Cleans up on failure. */
  static async create(opts: LabOptions = {}): Promise<DrLab> {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('the DR lab needs root (network namespaces, XDP, bpffs)');
    }
    const reals = opts.reals ?? 3;
    if (!Number.isInteger(reals) || reals < 1 || reals > 50) throw new Error(`bad number of reals: ${reals}`);
    // Leftovers of a run that is gone are named even when the caller asked for silence: only a person removes them.
    const note = opts.log ?? ((l: string) => process.stderr.write(`drnet: ${l}\n`));
    const record = claimPrefix(opts.prefix, note);
    let lab: DrLab;
    try {
      lab = new DrLab(opts, record);
    } catch (e) {
      removeRecorded(record, false);
      throw e;
    }
    process.on('exit', lab.exitHook);
    if (opts.handleSignals) {
      process.on('SIGINT', lab.signalHook);
      process.on('SIGTERM', lab.signalHook);
    }
    try {
      await lab.build();
      if (opts.startServers ?? true) await lab.startServers();
    } catch (e) {
      await lab.teardown();
      throw e;
    }
    return lab;
  }

  /** Full namespace name of a role: client, router, sw, dir, rs1..rsN. */
  ns(role: string): string {
    return this.prefix + role;
  }

  realNames(): string[] {
    return Array.from({ length: this.realCount }, (_, i) => `rs${i + 1}`);
  }

  /** Runs argv inside a role's namespace. */
  exec(role: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.ns(role), ...argv], { cwd: this.repoRoot, timeoutMs: 60000, ...opts }, this.children);
  }

  /** Runs argv in the director's namespace with the run's shared bpffs mounted at /sys/fs/bpf. */
  execDirector(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.exec('dir', this.directorArgv(argv), opts);
  }

  private directorArgv(argv: string[]): string[] {
    return ['sh', '-c', DIRECTOR_WRAPPER, 'sh', this.bpffsDir, ...argv];
  }

  private ipn(role: string, args: string[]): Promise<RunResult> {
    return run('ip', ['-n', this.ns(role), ...args], { timeoutMs: 30000 }, this.children);
  }

  private sysctl(role: string, settings: Record<string, string | number>): Promise<RunResult> {
    const kv = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return this.exec(role, ['sysctl', '-q', '-w', ...kv]);
  }

  private async build(): Promise<void> {
    const xdpPass = path.join(this.repoRoot, 'build', 'bpf', 'xdp_pass.o');
    if (!fs.existsSync(xdpPass)) throw new Error(`${xdpPass} is missing: run bash scripts/build.sh first`);
    this.log(`building DR lab ${this.prefix}* (${this.realCount} reals), work dir ${this.workDir}`);

    fs.mkdirSync(this.bpffsDir, { recursive: true });
    this.record.bpffs = this.bpffsDir;
    writeRecord(this.record);
    await run('mount', ['-t', 'bpf', 'bpf', this.bpffsDir]);

    const reals = this.realNames();
    const roles = ['client', 'router', 'sw', 'dir', ...reals];
    for (const role of roles) {
      // Recorded once it exists: a name someone else took in the meantime fails the add and is never ours to delete.
      await run('ip', ['netns', 'add', this.ns(role)]);
      this.record.namespaces.push(this.ns(role));
      writeRecord(this.record);
      // IPv6 off before any link exists: no link-local addresses, DAD or router solicitations to muddy captures.
      await this.sysctl(role, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
      await this.ipn(role, ['link', 'set', 'lo', 'up']);
    }

    // The switch: a bridge in its own namespace, one port per LAN host, no STP so ports forward at once.
    await this.ipn('sw', ['link', 'add', SW_BRIDGE, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    await this.ipn('sw', ['link', 'set', SW_BRIDGE, 'up']);
    for (const host of ['router', 'dir', ...reals]) {
      const port = this.swPort(host);
      await this.ipn('sw', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(host)]);
      await this.ipn('sw', ['link', 'set', port, 'master', SW_BRIDGE]);
      await this.ipn('sw', ['link', 'set', port, 'up']);
    }
    await this.ipn('router', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns('client')]);

    // Router: LAN side and client side, forwarding on.
    await this.ipn('router', ['addr', 'add', `${ADDR.router}/${ADDR.lanPrefix}`, 'dev', 'eth0']);
    await this.ipn('router', ['addr', 'add', `${ADDR.routerOutside}/${ADDR.outsidePrefix}`, 'dev', 'eth1']);
    await this.ipn('router', ['link', 'set', 'eth0', 'up']);
    await this.ipn('router', ['link', 'set', 'eth1', 'up']);
    await this.sysctl('router', { 'net.ipv4.ip_forward': 1 });

    // Client.
    await this.ipn('client', ['addr', 'add', `${ADDR.client}/${ADDR.outsidePrefix}`, 'dev', 'eth0']);
    await this.ipn('client', ['link', 'set', 'eth0', 'up']);
    await this.ipn('client', ['route', 'add', 'default', 'via', ADDR.routerOutside]);

    // Director. xlvs adds the VIP itself; the option is only for plumbing checks without it.
    await this.ipn('dir', ['addr', 'add', `${ADDR.director}/${ADDR.lanPrefix}`, 'dev', 'eth0']);
    await this.ipn('dir', ['link', 'set', 'eth0', 'up']);
    await this.ipn('dir', ['route', 'add', 'default', 'via', ADDR.router]);
    if (this.opts.addVipToDirector) await this.ipn('dir', ['addr', 'add', `${ADDR.vip}/32`, 'dev', 'eth0']);

    // Reals: VIP on lo, never answer or announce it on the LAN, reply straight to the router.
    for (let i = 1; i <= this.realCount; i++) {
      const rs = `rs${i}`;
      const full = (this.opts.realSetup ?? 'full') === 'full';
      await this.sysctl(rs, {
        ...(full ? {
          'net.ipv4.conf.all.arp_ignore': 1,
          'net.ipv4.conf.all.arp_announce': 2,
          'net.ipv4.conf.eth0.arp_ignore': 1,
          'net.ipv4.conf.eth0.arp_announce': 2,
        } : {}),
        'net.ipv4.conf.all.rp_filter': 0,
        'net.ipv4.conf.default.rp_filter': 0,
        'net.ipv4.conf.eth0.rp_filter': 0,
        'net.ipv4.conf.lo.rp_filter': 0,
      });
      if (full) await this.ipn(rs, ['addr', 'add', `${ADDR.vip}/32`, 'dev', 'lo']);
      await this.ipn(rs, ['addr', 'add', `${realAddress(i)}/${ADDR.lanPrefix}`, 'dev', 'eth0']);
      await this.ipn(rs, ['link', 'set', 'eth0', 'up']);
      await this.ipn(rs, ['route', 'add', 'default', 'via', ADDR.router]);
    }

    // veth hands TCP on with a partial checksum; once a frame passes through XDP the checksum is taken as final, so
    // it would arrive bad. Computing checksums in software at the senders avoids that.
    await this.exec('client', ['ethtool', '-K', 'eth0', 'tx', 'off']);
    await this.exec('router', ['ethtool', '-K', 'eth0', 'tx', 'off']);
    await this.exec('router', ['ethtool', '-K', 'eth1', 'tx', 'off']);
    // GRO on the director's switch port would merge frames and spoil the byte-for-byte comparison of captures.
    await this.exec('sw', ['ethtool', '-K', this.swPort('dir'), 'gro', 'off'], { allowFail: true });
    // veth drops frames sent with XDP_TX unless the receiving peer has an XDP program of its own.
    await this.ipn('sw', ['link', 'set', 'dev', this.swPort('dir'), 'xdpdrv', 'obj', xdpPass, 'sec', 'xdp']);

    for (const role of ['client', 'dir', ...reals]) this.macs[role] = await this.macOf(role, 'eth0');
    this.macs.router = await this.macOf('router', 'eth0');
    this.macs['router-eth1'] = await this.macOf('router', 'eth1');
    this.log(`lab up: director ${this.macs.dir}, ${reals.map((r) => `${r} ${this.macs[r]}`).join(', ')}`);
  }

  /** Name of a LAN host's port on the switch (inside the sw namespace). */
  swPort(host: string): string {
    return `p-${host}`;
  }

  async macOf(role: string, ifname: string): Promise<string> {
    const r = await this.ipn(role, ['-j', 'link', 'show', 'dev', ifname]);
    const j = JSON.parse(r.stdout) as { address: string }[];
    const mac = j[0]?.address;
    if (!mac) throw new Error(`no MAC for ${role}/${ifname}`);
    return mac.toLowerCase();
  }

  /** Map from a real's MAC to its name. */
  realByMac(): Map<string, string> {
    return new Map(this.realNames().map((n) => [this.macs[n], n]));
  }

  private spawnTracked(argv: string[], detached = true): ChildProcess {
    const child = spawn(argv[0], argv.slice(1), { cwd: this.repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Waits for a line on a child's stdout matching pred; rejects if the child exits first or time runs out. */
  private waitForLine(child: ChildProcess, pred: (line: string) => boolean, timeoutMs: number, what: string, transcript: () => string): Promise<string> {
    return new Promise((resolve, reject) => {
      let buf = '';
      const onData = (c: Buffer): void => {
        buf += c.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (pred(line)) {
            cleanup();
            resolve(line);
            return;
          }
        }
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
        cleanup();
        reject(new Error(`${what} exited (${code ?? sig}) before it was ready:\n${transcript()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${what} not ready after ${timeoutMs}ms:\n${transcript()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
      };
      child.stdout?.on('data', onData);
      child.on('exit', onExit);
    });
  }

  async startServers(): Promise<void> {
    const script = path.join(this.repoRoot, 'dist', 'src', 'lab', 'rs-server.js');
    await Promise.all(
      this.realNames().map(async (name) => {
        const child = this.spawnTracked([
          'ip', 'netns', 'exec', this.ns(name),
          process.execPath, script, '--name', name, '--http-port', String(this.httpPort), '--udp-port', String(this.udpPort),
          // A bare real has no VIP to bind a UDP socket to.
          ...((this.opts.realSetup ?? 'full') === 'full' ? ['--udp-address', ADDR.vip] : []),
        ]);
        this.servers.push(child);
        let text = '';
        child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
        child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
        await this.waitForLine(child, (l) => l.includes('"ready":true'), 15000, `server ${name}`, () => text);
      }),
    );
    this.log(`servers up on ${this.realNames().join(', ')} (tcp/${this.httpPort}, udp/${this.udpPort})`);
  }

  /** Starts one more server on a real, e.g. bound to the real's own address only; it lives until teardown. */
  async startServer(name: string, o: { bind?: string; httpPort: number; udpPort: number }): Promise<void> {
    const script = path.join(this.repoRoot, 'dist', 'src', 'lab', 'rs-server.js');
    const child = this.spawnTracked([
      'ip', 'netns', 'exec', this.ns(name),
      process.execPath, script, '--name', name, '--bind', o.bind ?? '0.0.0.0', '--http-port', String(o.httpPort), '--udp-port', String(o.udpPort),
    ]);
    this.servers.push(child);
    let text = '';
    child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    await this.waitForLine(child, (l) => l.includes('"ready":true'), 15000, `server ${name}`, () => text);
  }

  /** Renders an xlvs config for the given services over this lab's reals. */
  directorConfig(services: ServiceSpec[], iface = 'eth0'): string {
    const lines = [`interface: ${iface}`, 'services:'];
    for (const s of services) {
      lines.push(`  - vip: ${s.vip ?? ADDR.vip}`);
      lines.push(`    port: ${s.port}`);
      lines.push(`    protocol: ${s.protocol}`);
      lines.push(`    scheduler: ${s.scheduler ?? 'mh'}`);
      lines.push('    reals:');
      s.weights.forEach((w, i) => {
        if (w === undefined) return;
        if (i >= this.realCount) throw new Error(`weight given for rs${i + 1}, but the lab has ${this.realCount} reals`);
        lines.push(`      - { address: ${realAddress(i + 1)}, weight: ${w} }`);
      });
    }
    return `${lines.join('\n')}\n`;
  }

  writeDirectorConfig(services: ServiceSpec[], name = 'xlvs.yaml'): string {
    const file = path.join(this.workDir, name);
    fs.writeFileSync(file, this.directorConfig(services));
    return file;
  }

  xlvsBin(): string {
    return path.join(this.repoRoot, 'bin', 'xlvs');
  }

  /** Runs `xlvs ARGS` in the director namespace (with the shared bpffs). */
  xlvs(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.execDirector([this.xlvsBin(), ...args], opts);
  }

  /** Starts `xlvs up --config FILE` in the director namespace and waits for its `xlvs: ready` line. */
  startDirector(configFile: string, readyTimeoutMs = 30000): Promise<DirectorProcess> {
    return this.spawnDirector(['up', '--config', configFile], (l) => l.startsWith('xlvs: ready'), readyTimeoutMs, 'xlvs up');
  }

  /** The daemon's API socket in this lab (under the work directory, so runs never share one). */
  daemonSocket(): string {
    return path.join(this.workDir, 'xlvs.sock');
  }

  /**
   * Starts `xlvs daemon --config FILE --socket <lab socket>` and waits for its JSON `ready` log line. `wrap` is a
   * command that execs the rest of its argv (setpriv, say): it runs inside the director namespace after the bpffs
   * bind mount, whose privileges it may drop, so it confines the daemon and nothing of the lab's plumbing.
   */
  startDaemon(configFile: string, extraArgs: string[] = [], readyTimeoutMs = 30000, o: { wrap?: string[] } = {}): Promise<DirectorProcess> {
    const ready = (l: string): boolean => {
      try {
        return (JSON.parse(l) as { msg?: string }).msg === 'ready';
      } catch {
        return false;
      }
    };
    return this.spawnDirector(['daemon', '--config', configFile, '--socket', this.daemonSocket(), ...extraArgs], ready, readyTimeoutMs, 'xlvs daemon', o.wrap);
  }

  /** Sends a signal to the running director without forgetting it (SIGHUP, say); SIGKILL ends it like a crash. */
  signalDirector(sig: NodeJS.Signals): void {
    const d = this.director;
    if (!d) throw new Error('director not running');
    killGroup(d.child, sig);
  }

  /** Kills the director outright (a crash): nothing of its own clean-up runs. */
  async killDirector(): Promise<void> {
    const d = this.director;
    if (!d) throw new Error('director not running');
    this.director = undefined;
    killGroup(d.child, 'SIGKILL');
    await d.proc.exited;
  }

  /**
   * Starts one long-lived keep-alive TCP connection from the client to the VIP, a request every intervalMs;
   * stop() ends it and returns what it saw.
   */
  startKeepalive(o: { port: number; intervalMs?: number; timeoutMs?: number }): { stop(): Promise<ClientResult> } {
    const script = path.join(this.repoRoot, 'dist', 'src', 'lab', 'client.js');
    const stopFile = path.join(this.workDir, `keepalive-stop-${Date.now()}`);
    const done = this.exec(
      'client',
      [process.execPath, script, 'keepalive', '--host', ADDR.vip, '--port', String(o.port), '--count', '0', '--interval-ms', String(o.intervalMs ?? 100), '--timeout-ms', String(o.timeoutMs ?? 2000), '--stop-file', stopFile],
      { allowFail: true, timeoutMs: 600000 },
    );
    return {
      stop: async () => {
        fs.writeFileSync(stopFile, '');
        const r = await done;
        const line = r.stdout.trim().split('\n').pop() ?? '';
        try {
          return JSON.parse(line) as ClientResult;
        } catch {
          throw new Error(`keepalive client printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
        }
      },
    };
  }

  private async spawnDirector(args: string[], ready: (line: string) => boolean, readyTimeoutMs: number, what: string, wrap: string[] = []): Promise<DirectorProcess> {
    if (this.director) throw new Error('director already running');
    const child = this.spawnTracked(['ip', 'netns', 'exec', this.ns('dir'), ...this.directorArgv([...wrap, this.xlvsBin(), ...args])]);
    let transcript = '';
    child.stdout?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    const proc: DirectorProcess = { pid: child.pid ?? -1, output: () => transcript, exited };
    this.director = { child, proc };
    try {
      const line = await this.waitForLine(child, ready, readyTimeoutMs, what, () => transcript);
      this.log(line);
    } catch (e) {
      await this.stopDirector(3000).catch(() => undefined);
      throw e;
    }
    return proc;
  }

  /** SIGTERM to the director; SIGKILL if it has not exited within timeoutMs. Returns how it exited. */
  async stopDirector(timeoutMs = 10000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    const d = this.director;
    if (!d) throw new Error('director not running');
    this.director = undefined;
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      return { code: d.child.exitCode, signal: d.child.signalCode, killed: false };
    }
    killGroup(d.child, 'SIGTERM');
    const timeout = sleep(timeoutMs).then(() => 'timeout' as const);
    const res = await Promise.race([d.proc.exited, timeout]);
    if (res === 'timeout') {
      killGroup(d.child, 'SIGKILL');
      const r = await d.proc.exited;
      return { ...r, killed: true };
    }
    return { ...res, killed: false };
  }

  /** `xlvs status --interface eth0 --json`, parsed. */
  async directorStatus(iface = 'eth0'): Promise<DirectorStatus> {
    const r = await this.xlvs(['status', '--interface', iface, '--json'], { timeoutMs: 20000 });
    try {
      return JSON.parse(r.stdout) as DirectorStatus;
    } catch {
      throw new Error(`xlvs status printed no JSON:\n${r.stdout}\n${r.stderr}`);
    }
  }

  /**
   * Gives the client a second address in another /24 (ADDR.client2) and the router a leg in it, so a test can open
   * connections from two client networks (runClient's localAddress). Lives until teardown.
   */
  /**
   * A second director on the switch, as a keepalived VRRP backup sits beside the master: namespace dir2, NIC lan0
   * (so its pins, under the lab's one bpffs, do not meet the first director's), address ADDR.director2, no VIP.
   */
  async addSecondDirector(): Promise<void> {
    const role = 'dir2';
    await run('ip', ['netns', 'add', this.ns(role)]);
    this.record.namespaces.push(this.ns(role));
    writeRecord(this.record);
    await this.sysctl(role, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
    await this.ipn(role, ['link', 'set', 'lo', 'up']);
    const port = this.swPort(role);
    await this.ipn('sw', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', this.ns(role)]);
    await this.ipn('sw', ['link', 'set', port, 'master', SW_BRIDGE]);
    await this.ipn('sw', ['link', 'set', port, 'up']);
    // veth drops frames sent with XDP_TX unless the receiving peer has an XDP program of its own.
    await this.ipn('sw', ['link', 'set', 'dev', port, 'xdpdrv', 'obj', path.join(this.repoRoot, 'build', 'bpf', 'xdp_pass.o'), 'sec', 'xdp']);
    await this.ipn(role, ['addr', 'add', `${ADDR.director2}/${ADDR.lanPrefix}`, 'dev', 'lan0']);
    await this.ipn(role, ['link', 'set', 'lan0', 'up']);
    await this.ipn(role, ['route', 'add', 'default', 'via', ADDR.router]);
    this.macs[role] = await this.macOf(role, 'lan0');
  }

  /** `xlvs up` in the second director; resolves once it is ready, and stops with the lab (or when stop() is called). */
  async startSecondDirector(configFile: string, readyTimeoutMs = 30000): Promise<{ proc: DirectorProcess; stop(): void }> {
    const child = this.spawnTracked(['ip', 'netns', 'exec', this.ns('dir2'), ...this.directorArgv([this.xlvsBin(), 'up', '--config', configFile])]);
    let transcript = '';
    child.stdout?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const stop = (): void => killGroup(child, 'SIGTERM');
    try {
      await this.waitForLine(child, (l) => l.startsWith('xlvs: ready'), readyTimeoutMs, 'second director', () => transcript);
    } catch (e) {
      stop();
      throw e;
    }
    return { proc: { pid: child.pid ?? -1, output: () => transcript, exited }, stop };
  }

  /**
   * The switch as a hub (learning off on every port, its table flushed): every frame reaches every host, as when a
   * real switch has aged out a MAC. A host's NIC would drop frames for other MACs; veth passes them to XDP.
   */
  async setSwitchFlooding(on: boolean): Promise<void> {
    const ports = ['router', 'dir', ...this.realNames(), ...(this.macs.dir2 ? ['dir2'] : [])].map((h) => this.swPort(h));
    for (const p of ports) await this.exec('sw', ['bridge', 'link', 'set', 'dev', p, 'learning', on ? 'off' : 'on']);
    await this.exec('sw', ['bridge', 'fdb', 'flush', 'dev', SW_BRIDGE], { allowFail: true });
    for (const p of ports) await this.exec('sw', ['bridge', 'fdb', 'flush', 'dev', p], { allowFail: true });
  }

  async addSecondClientNetwork(): Promise<void> {
    await this.ipn('router', ['addr', 'add', `${ADDR.routerOutside2}/${ADDR.outsidePrefix}`, 'dev', 'eth1']);
    await this.ipn('client', ['addr', 'add', `${ADDR.client2}/${ADDR.outsidePrefix}`, 'dev', 'eth0']);
  }

  /** Runs the client workload in the client namespace; resolves with its JSON result even when some requests failed. */
  async runClient(
    mode: Protocol,
    o: { host?: string; port: number; count: number; concurrency?: number; timeoutMs?: number; retries?: number; basePort?: number; fixedPorts?: boolean; localAddress?: string },
  ): Promise<ClientResult> {
    const script = path.join(this.repoRoot, 'dist', 'src', 'lab', 'client.js');
    const args = [
      process.execPath, script, mode,
      '--host', o.host ?? ADDR.vip,
      '--port', String(o.port),
      '--count', String(o.count),
      '--concurrency', String(o.concurrency ?? 20),
      '--timeout-ms', String(o.timeoutMs ?? 5000),
      '--retries', String(o.retries ?? 0),
      '--base-port', String(o.basePort ?? 20000),
      ...(o.fixedPorts ? ['--fixed-ports', '1'] : []),
      ...(o.localAddress ? ['--local-address', o.localAddress] : []),
    ];
    // Worst case every request times out once per attempt, spread over the concurrency.
    const budget = 30000 + Math.ceil(o.count / (o.concurrency ?? 20)) * (o.timeoutMs ?? 5000) * ((o.retries ?? 0) + 1);
    const r = await this.exec('client', args, { allowFail: true, timeoutMs: budget });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as ClientResult;
    } catch {
      throw new Error(`client printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  /**
   * Starts tcpdump on an interface of a namespace, writing a classic pcap. direction 'in' keeps only frames the
   * interface received, 'out' only those it sent.
   */
  async startCapture(role: string, ifname: string, name?: string, direction: 'in' | 'out' | 'inout' = 'inout'): Promise<Capture> {
    const file = path.join(this.workDir, name ?? `${role}-${ifname}-${direction}.pcap`);
    // -Z root: tcpdump would otherwise drop to its own user, which cannot write into our private work dir.
    // A large ring (-B, KiB) and batched delivery keep up with a burst on two cores; --immediate-mode does not.
    const child = this.spawnTracked([
      'ip', 'netns', 'exec', this.ns(role),
      'tcpdump', '-i', ifname, '-Q', direction, '-n', '-U', '-B', '32768', '-s', '0', '-Z', 'root', '-w', file,
    ]);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start:\n${stderr}`)), 10000);
      const check = (): void => {
        if (stderr.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr?.on('data', check);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited ${code}:\n${stderr}`));
      });
    });
    return {
      file,
      stop: async (): Promise<CaptureResult> => {
        // Batched delivery hands a partly filled ring block over only after tcpdump's 1 s buffer timeout; frames
        // still in an undelivered block when SIGINT arrives are lost.
        await sleep(1500);
        child.kill('SIGINT');
        await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
        await exited;
        const num = (re: RegExp): number | null => {
          const m = re.exec(stderr);
          return m ? Number(m[1]) : null;
        };
        return {
          file,
          captured: num(/(\d+) packets? captured/),
          droppedByKernel: num(/(\d+) packets? dropped by kernel/),
          stderr,
        };
      },
    };
  }

  /**
   * Captures both directions of the director's switch port separately, so the analysis knows which frames the
   * director sent without trusting their MAC addresses.
   */
  async captureDirectorPort(tag: string): Promise<{ stop(): Promise<{ toDirector: CaptureResult; fromDirector: CaptureResult }> }> {
    const port = this.swPort('dir');
    // On the switch side, 'out' of the port is towards the director, 'in' is what the director sent.
    const to = await this.startCapture('sw', port, `${tag}-to-director.pcap`, 'out');
    const from = await this.startCapture('sw', port, `${tag}-from-director.pcap`, 'in').catch(async (e: unknown) => {
      await to.stop();
      throw e;
    });
    return {
      stop: async () => {
        const [toDirector, fromDirector] = await Promise.all([to.stop(), from.stop()]);
        return { toDirector, fromDirector };
      },
    };
  }

  /**
   * nft counters that show which way replies travel: at the router, packets from the VIP per real's source MAC
   * (plus any other MAC); at the director, packets from the VIP reaching eth0's ingress.
   */
  async installReplyPathCounters(): Promise<void> {
    const reals = this.realNames();
    const macs = reals.map((r) => this.macs[r]);
    const router = [
      'table netdev xlvslab {',
      ...reals.map((r) => `  counter from_${r} { }`),
      '  counter from_other { }',
      '  chain ingress {',
      '    type filter hook ingress device "eth0" priority 0; policy accept;',
      ...reals.map((r) => `    ip saddr ${ADDR.vip} ether saddr ${this.macs[r]} counter name "from_${r}"`),
      `    ip saddr ${ADDR.vip} ether saddr != { ${macs.join(', ')} } counter name "from_other"`,
      '  }',
      '}',
    ].join('\n');
    const director = [
      'table netdev xlvslab {',
      '  counter vip_ingress { }',
      '  chain ingress {',
      '    type filter hook ingress device "eth0" priority 0; policy accept;',
      `    ip saddr ${ADDR.vip} counter name "vip_ingress"`,
      '  }',
      '}',
    ].join('\n');
    await this.exec('router', ['nft', '-f', '-'], { input: router });
    await this.exec('dir', ['nft', '-f', '-'], { input: director });
  }

  async readReplyPathCounters(): Promise<ReplyPathCounters> {
    const read = async (role: string): Promise<Map<string, number>> => {
      const r = await this.exec(role, ['nft', '-j', 'list', 'counters', 'table', 'netdev', 'xlvslab']);
      const j = JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number } }[] };
      const m = new Map<string, number>();
      for (const e of j.nftables) if (e.counter) m.set(e.counter.name, e.counter.packets);
      return m;
    };
    const router = await read('router');
    const dir = await read('dir');
    const routerFromReal: Record<string, number> = {};
    for (const r of this.realNames()) routerFromReal[r] = router.get(`from_${r}`) ?? NaN;
    return { routerFromReal, routerFromOther: router.get('from_other') ?? NaN, directorIngress: dir.get('vip_ingress') ?? NaN };
  }

  /**
   * Broadcast ARP requests for ip from a role's interface (arping -b, so every request is broadcast and any host
   * may answer). Returns the MAC of every reply.
   */
  async arping(role: string, ifname: string, ip: string, count = 5): Promise<{ replies: string[]; output: string }> {
    const r = await this.exec(role, ['arping', '-b', '-c', String(count), '-w', String(count + 2), '-I', ifname, ip], { allowFail: true });
    const replies: string[] = [];
    for (const m of r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)) replies.push(m[1].toLowerCase());
    return { replies, output: r.stdout + r.stderr };
  }

  /** The lladdr of a role's neighbour entry for ip on dev, or null. */
  async neighbourMac(role: string, ip: string, dev: string): Promise<string | null> {
    const r = await this.ipn(role, ['-j', 'neigh', 'show', ip, 'dev', dev]);
    const j = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
    return j[0]?.lladdr?.toLowerCase() ?? null;
  }

  /** IPv4 addresses on a role's interface. */
  async addresses(role: string, ifname: string): Promise<string[]> {
    const r = await this.ipn(role, ['-j', '-4', 'addr', 'show', 'dev', ifname]);
    const j = JSON.parse(r.stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    return (j[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  }

  /** Stops everything this lab started and removes its namespaces and bpffs; safe to call more than once. */
  teardown(): Promise<void> {
    this.teardownPromise ??= this.doTeardown()
      .catch((e: unknown) => this.log(`teardown: ${(e as Error).message}`))
      .finally(() => {
        process.off('exit', this.exitHook);
        process.off('SIGINT', this.signalHook);
        process.off('SIGTERM', this.signalHook);
        if (this.pendingSignal) process.exit(this.pendingSignal === 'SIGINT' ? 130 : 143);
      });
    return this.teardownPromise;
  }

  private async doTeardown(): Promise<void> {
    if (this.director) {
      // Give xlvs its chance to detach and unpin before the namespace disappears under it.
      const r = await this.stopDirector(10000).catch(() => undefined);
      if (r && (r.killed || r.code !== 0)) this.log(`director exit during teardown: ${JSON.stringify(r)}`);
    }
    for (const s of this.servers) killGroup(s, 'SIGTERM');
    await sleep(this.servers.length ? 300 : 0);
    for (const c of [...this.children]) killGroup(c, 'SIGKILL');
    this.finalCleanup();
  }

  /** Last-resort teardown from a process 'exit' hook: no waiting, so everything is killed outright. */
  teardownSync(): void {
    for (const c of [...this.children]) killGroup(c, 'SIGKILL');
    this.finalCleanup();
  }

  private finalCleanup(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    // Only what this run recorded: processes in its own namespaces, the namespaces, its bpffs, its work dir.
    const keep = !!process.env.XLVS_LAB_KEEP_WORKDIR;
    removeRecorded(this.record, keep);
    if (keep) this.log(`kept ${this.workDir} (XLVS_LAB_KEEP_WORKDIR)`);
    this.log(`lab ${this.prefix}* torn down`);
  }
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Detached children lead their own process group, which also holds whatever `ip netns exec` started.
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}

/** Share of each weight in the total, as fractions. */
export function weightShares(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (total > 0 ? w / total : 0));
}
