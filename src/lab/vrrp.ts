// SPDX-License-Identifier: Apache-2.0
// vrrp.ts: active/backup in the lab: keepalived and an xlvs daemon on each director, load, a director's death and return, the takeover.

import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDR } from './addr';
import type { LoadResult } from './loadclient';
import type { DirectorProcess } from './processes';
import { killGroup } from './run';
import type { Topology } from './topology';

export type DirectorRole = 'dir' | 'dir2';

/** The load client's knobs (loadclient.ts): short requests per second and their timeout, and the number of streams. */
export interface LoadOptions {
  port: number;
  /** The address to load (default ADDR.vip; ADDR.vip6 in a dual-stack lab). */
  host?: string;
  rate?: number;
  timeoutMs?: number;
  streams?: number;
}

export interface KeepalivedOptions {
  /** VRRP advertisement interval in seconds (keepalived's advert_int). */
  advertInt: number;
  priority: number;
  /** Let a higher priority take the VIP back (keepalived preempts by default; the example config does not). */
  preempt: boolean;
  /** The daemon socket the notify scripts call. */
  socket: string;
  vrid?: number;
}

export interface Running {
  pid: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to its whole process group: a crash, nothing of its own clean-up runs. */
  kill(): Promise<void>;
}

/** What the takeover looked like from the client: times are epoch ms, spans ms after the kill began. */
export interface Takeover {
  /** From the kill's start to the first short request that started once the kill was done and succeeded (an upper bound: it includes the kill's own few ms). */
  windowMs: number;
  firstServedAt: number;
  /** Short requests that failed, and the latest start among them (negative: started before the kill). */
  failed: number;
  lastFailedStartMs: number | null;
  /** Failures that started after the first success following the kill: must be none. */
  failedAfterTakeover: number;
  /** Short requests served after the takeover. */
  servedAfter: number;
}

/**
 * Reads the takeover off the short requests' timeline. killStart: when the kill began; killDone: when the dead
 * director's link was down and its processes gone (a request started in between may still have gone through it).
 */
export function takeover(load: LoadResult, killStart: number, killDone: number): Takeover {
  const served = load.short.filter((r) => r[2] !== null && r[0] >= killDone).map((r) => r[1]);
  if (!served.length) throw new Error('no short request succeeded after the kill');
  const firstServedAt = Math.min(...served);
  const failures = load.short.filter((r) => r[2] === null);
  const failedAfter = failures.filter((r) => r[0] > firstServedAt);
  return {
    windowMs: firstServedAt - killStart,
    firstServedAt,
    failed: failures.length,
    lastFailedStartMs: failures.length ? Math.max(...failures.map((r) => r[0])) - killStart : null,
    failedAfterTakeover: failedAfter.length,
    servedAfter: load.short.filter((r) => r[2] !== null && r[0] >= firstServedAt).length,
  };
}

/** Streams that moved (more than one real), broke (more than one connection) or failed a request. */
export function brokenStreams(load: LoadResult): number {
  return load.streams.filter((s) => Object.keys(s.counts).length !== 1 || s.localPorts.length !== 1 || s.failures > 0).length;
}

const NIC: Record<DirectorRole, string> = { dir: 'eth0', dir2: 'lan0' };
const ADDRESS: Record<DirectorRole, string> = { dir: ADDR.director, dir2: ADDR.director2 };

/** Resolves with the first line either stream of child prints that pred accepts; rejects on exit or timeout. */
function waitLine(child: ChildProcess, pred: (l: string) => boolean, timeoutMs: number, what: string, transcript: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const bufs = { out: '', err: '' };
    const on = (k: 'out' | 'err') => (c: Buffer) => {
      bufs[k] += c.toString('utf8');
      const lines = bufs[k].split('\n');
      bufs[k] = lines.pop()!;
      const hit = lines.find(pred);
      if (hit !== undefined) done(() => resolve(hit));
    };
    const onOut = on('out'),
      onErr = on('err');
    const onExit = (code: number | null, sig: string | null) => done(() => reject(new Error(`${what} exited (${code ?? sig}):\n${transcript()}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${what}: nothing after ${timeoutMs}ms:\n${transcript()}`))), timeoutMs);
    const done = (f: () => void): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      f();
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}

export class VrrpLab {
  private loads = 0;

  constructor(
    private readonly net: Topology,
    private readonly o: { workDir: string; xlvsBin: string; ipv6: boolean; log: (l: string) => void },
  ) {}

  /** The host name each director's daemon runs under (a UTS namespace of its own), so status tells them apart. */
  hostName(role: DirectorRole): string {
    return `${this.net.prefix}${role}`;
  }

  /** A wrapper for startDaemon: a UTS namespace named hostName(role) around the daemon. */
  hostWrap(role: DirectorRole): string[] {
    return ['unshare', '--uts', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', this.hostName(role)];
  }

  daemonSocket(role: DirectorRole): string {
    return path.join(this.o.workDir, role === 'dir' ? 'xlvs.sock' : `xlvs-${role}.sock`);
  }

  private spawn(role: DirectorRole, argv: string[]): { child: ChildProcess; run: Omit<Running, 'exited'> & { exited: Running['exited'] } } {
    const child = this.net.spawnTracked(['ip', 'netns', 'exec', this.net.ns(role), ...argv]);
    let transcript = '';
    child.stdout?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const kill = async (): Promise<void> => {
      killGroup(child, 'SIGKILL');
      await exited;
    };
    return { child, run: { pid: child.pid ?? -1, output: () => transcript, exited, kill } };
  }

  /** The second director's daemon (the first is the lab's startDaemon with hostWrap('dir')): own socket, own host name. */
  async startSecondDaemon(configFile: string, readyTimeoutMs = 30000): Promise<DirectorProcess & { kill(): Promise<void> }> {
    const argv = this.net.directorArgv([...this.hostWrap('dir2'), this.o.xlvsBin, 'daemon', '--config', configFile, '--socket', this.daemonSocket('dir2')]);
    const { child, run } = this.spawn('dir2', argv);
    try {
      await waitLine(child, (l) => l.includes('"msg":"ready"'), readyTimeoutMs, 'second daemon', run.output);
    } catch (e) {
      await run.kill();
      throw e;
    }
    return run;
  }

  /**
   * keepalived.conf for one director: one vrrp_instance over its NIC, unicast to the other, notify scripts calling xlvs.
   * A dual-stack lab's VIP6 moves with the VIP as an excluded address: keepalived 2.2 refuses an IPv6 address in an
   * IPv4 instance's virtual_ipaddress, but adds and removes excluded ones of either family with the instance's state
   * and sends unsolicited neighbour advertisements for them as it sends gratuitous ARP for the VIP.
   */
  keepalivedConfig(role: DirectorRole, k: KeepalivedOptions): string {
    const peer = role === 'dir' ? 'dir2' : 'dir';
    const notify = (s: string) => `  notify_${s} "${this.o.xlvsBin} director notify ${s} --instance VI_1 --socket ${k.socket}"`;
    return [
      'global_defs {',
      `  router_id ${this.hostName(role)}`,
      '  script_user root',
      '  enable_script_security',
      '}',
      'vrrp_instance VI_1 {',
      '  state BACKUP',
      `  interface ${NIC[role]}`,
      `  virtual_router_id ${k.vrid ?? 51}`,
      `  priority ${k.priority}`,
      `  advert_int ${k.advertInt}`,
      ...(k.preempt ? [] : ['  nopreempt']),
      `  unicast_src_ip ${ADDRESS[role]}`,
      `  unicast_peer {\n    ${ADDRESS[peer]}\n  }`,
      `  virtual_ipaddress {\n    ${ADDR.vip}/32 dev ${NIC[role]}\n  }`,
      ...(this.o.ipv6 ? [`  virtual_ipaddress_excluded {\n    ${ADDR.vip6}/128 dev ${NIC[role]}\n  }`] : []),
      notify('master'),
      notify('backup'),
      notify('fault'),
      '}',
      '',
    ].join('\n');
  }

  /**
   * keepalived (VRRP only, in the foreground, logging to the console) in a director's namespace with its own config
   * and pid files; resolves once it has entered its first state.
   */
  async startKeepalived(role: DirectorRole, k: KeepalivedOptions): Promise<Running> {
    const dir = path.join(this.o.workDir, `keepalived-${role}`);
    fs.mkdirSync(dir, { recursive: true });
    const conf = path.join(dir, 'keepalived.conf');
    fs.writeFileSync(conf, this.keepalivedConfig(role, k));
    const pid = (n: string) => path.join(dir, `${n}.pid`);
    const argv = [
      'keepalived',
      '--vrrp',
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '-f',
      conf,
      '-p',
      pid('keepalived'),
      '-r',
      pid('vrrp'),
      '-c',
      pid('checkers'),
    ];
    const { child, run } = this.spawn(role, argv);
    try {
      await waitLine(child, (l) => /Entering (BACKUP|MASTER) STATE/.test(l), 15000, `keepalived on ${role}`, run.output);
    } catch (e) {
      await run.kill();
      throw e;
    }
    return run;
  }

  /** Resolves with the time (epoch ms) a VIP (default ADDR.vip) appears on a director's NIC, watched through netlink (ip monitor). */
  watchVip(role: DirectorRole, timeoutMs = 30000, vip: string = ADDR.vip): { arrived: Promise<number>; stop(): void } {
    const v6 = vip.includes(':');
    const { child, run } = this.spawn(role, ['ip', v6 ? '-6' : '-4', 'monitor', 'address']);
    const held = `${v6 ? 'inet6' : 'inet'} ${vip}/`;
    const arrived = waitLine(child, (l) => !l.startsWith('Deleted') && l.includes(held), timeoutMs, `VIP ${vip} on ${role}`, run.output).then(() => Date.now());
    arrived.catch(() => undefined).finally(() => killGroup(child, 'SIGKILL'));
    return { arrived, stop: () => killGroup(child, 'SIGKILL') };
  }

  /** The director's switch port down (a pulled cable: nothing reaches it, nothing leaves it) or up again. */
  async setDirectorLink(role: DirectorRole, up: boolean): Promise<void> {
    await this.net.exec('sw', ['ip', 'link', 'set', 'dev', this.net.swPort(role), up ? 'up' : 'down']);
  }

  /** Starts the sustained load (short requests + long-lived streams) in the client namespace; stop() returns its timeline. */
  startLoad(o: LoadOptions): { stop(): Promise<LoadResult> } {
    const script = path.join(this.net.repoRoot, 'dist', 'src', 'lab', 'loadclient.js');
    // Its own stop file, so two loads started in the same millisecond (one per family) stay apart.
    const stopFile = path.join(this.o.workDir, `load-stop-${Date.now()}-${++this.loads}`);
    const args = ['--host', o.host ?? ADDR.vip, '--port', String(o.port), '--stop-file', stopFile];
    if (o.rate !== undefined) args.push('--rate', String(o.rate));
    if (o.timeoutMs !== undefined) args.push('--timeout-ms', String(o.timeoutMs));
    if (o.streams !== undefined) args.push('--streams', String(o.streams));
    const done = this.net.exec('client', [process.execPath, script, ...args], { allowFail: true, timeoutMs: 900000 });
    return {
      stop: async () => {
        fs.writeFileSync(stopFile, '');
        const r = await done;
        try {
          return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as LoadResult;
        } catch {
          throw new Error(`load client printed no result (exit ${r.code}):\n${r.stderr}`);
        }
      },
    };
  }
}
