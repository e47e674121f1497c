// SPDX-License-Identifier: Apache-2.0
// bgp.ts: active/active directors in the lab: BIRD on the router (ECMP, BFD) and each director (contrib/bird), xlvs daemons, and load.

import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDR } from './addr';
import type { ClientResult } from './client';
import { killGroup, type RunOptions, type RunResult, sleep } from './run';
import type { Topology } from './topology';

/** The kernel table the lab's directors announce in (config bgp.table, BIRD's kernel protocol). */
export const BGP_TABLE = 4242;
export const ROUTER_AS = 65000;
export const DIRECTOR_AS = 65001;

/** One active/active director: 1 is the lab's `dir` (eth0), N > 1 a namespace `bdN` with NIC `lanN`. */
export interface BgpDirector {
  n: number;
  role: string;
  ifname: string;
  address: string;
  /** Its daemon's API socket (each director its own). */
  socket: string;
  /** BIRD's control socket, for birdc. */
  birdSocket: string;
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

export interface LoadResult {
  requests: ClientResult;
  streams: ClientResult;
}

export interface BgpOptions {
  workDir: string;
  repoRoot: string;
  xlvsBin: string;
  log: (l: string) => void;
}

/** Rewrites a contrib config's site-settings lines (`define NAME = ...;`, `router id ...;`, the log line) for the lab. */
export function siteConfig(text: string, defines: Record<string, string | number>, routerId: string, logFile: string): string {
  let out = text;
  for (const [k, v] of Object.entries(defines)) {
    const re = new RegExp(`^define ${k} = [^;]*;`, 'm');
    if (!re.test(out)) throw new Error(`contrib BIRD config has no "define ${k}" line`);
    out = out.replace(re, `define ${k} = ${v};`);
  }
  if (!/^router id [^;]*;/m.test(out) || !/^log syslog all;/m.test(out)) throw new Error('contrib BIRD config lost its router id or log line');
  return out.replace(/^router id [^;]*;/m, `router id ${routerId};`).replace(/^log syslog all;/m, `log "${logFile}" all;`);
}

export class BgpLab {
  private readonly directors = new Map<number, BgpDirector>();
  private readonly daemons = new Map<number, Running>();
  private readonly birds = new Map<string, Running>();

  constructor(
    private readonly net: Topology,
    private readonly o: BgpOptions,
  ) {}

  director(n: number): BgpDirector {
    const d = this.directors.get(n);
    if (!d) throw new Error(`no BGP director ${n}`);
    return d;
  }

  /** Starts BIRD on the router (contrib/bird/router.conf) with the L4 ECMP hash; directors connect to it as they come. */
  async startRouter(): Promise<void> {
    await this.net.sysctl('router', { 'net.ipv4.fib_multipath_hash_policy': 1 });
    const conf = siteConfig(
      fs.readFileSync(path.join(this.o.repoRoot, 'contrib', 'bird', 'router.conf'), 'utf8'),
      { ROUTER_AS, DIRECTOR_AS, DIRECTOR_NET: `10.0.0.0/${ADDR.lanPrefix}`, VIP_NET: `10.0.0.0/${ADDR.lanPrefix}` },
      ADDR.router,
      path.join(this.o.workDir, 'bird-router.log'),
    );
    await this.startBird('router', conf, path.join(this.o.workDir, 'bird-router.ctl'));
  }

  /** Adds director n to the network (n = 1 is the lab's own `dir`, already there). */
  async addDirector(n: number): Promise<BgpDirector> {
    const d: BgpDirector =
      n === 1
        ? { n, role: 'dir', ifname: 'eth0', address: ADDR.director, socket: '', birdSocket: '' }
        : { n, role: `bd${n}`, ifname: `lan${n}`, address: `10.0.0.${30 + n}`, socket: '', birdSocket: '' };
    d.socket = path.join(this.o.workDir, `bgp-d${n}.sock`);
    d.birdSocket = path.join(this.o.workDir, `bird-d${n}.ctl`);
    if (n !== 1) await this.net.addDirectorHost(d.role, d.ifname, d.address);
    this.directors.set(n, d);
    return d;
  }

  /** The xlvs config a director runs: the services on its NIC, no VIP on any director (the router routes it), bgp.table. */
  writeConfig(n: number, servicesYaml: string): string {
    const d = this.director(n);
    const file = path.join(this.o.workDir, `bgp-d${n}.yaml`);
    fs.writeFileSync(
      file,
      `${servicesYaml.replace(/^interface: .*$/m, `interface: ${d.ifname}`)}manage_vips: false\narp_guard_interval_ms: 0\nbgp: { table: ${BGP_TABLE} }\n`,
    );
    return file;
  }

  /** Starts director n's xlvs daemon (waits for `ready`), then its BIRD (contrib/bird/director.conf). */
  async startDirector(n: number, configFile: string): Promise<void> {
    const d = this.director(n);
    await this.startDaemon(n, configFile);
    const conf = siteConfig(
      fs.readFileSync(path.join(this.o.repoRoot, 'contrib', 'bird', 'director.conf'), 'utf8'),
      { XLVS_TABLE: BGP_TABLE, ROUTER_ADDR: ADDR.router, ROUTER_AS, DIRECTOR_AS },
      d.address,
      path.join(this.o.workDir, `bird-d${n}.log`),
    );
    await this.startBird(d.role, conf, d.birdSocket);
  }

  /** Director n's xlvs daemon alone (a restart after stopDaemon); resolves at its `ready` line. */
  async startDaemon(n: number, configFile: string): Promise<void> {
    const d = this.director(n);
    if (this.daemons.has(n)) throw new Error(`director ${n}'s daemon already running`);
    const child = this.net.spawnTracked([
      'ip',
      'netns',
      'exec',
      this.net.ns(d.role),
      ...this.net.directorArgv([this.o.xlvsBin, 'daemon', '--config', configFile, '--socket', d.socket]),
    ]);
    const r = track(child);
    this.daemons.set(n, r);
    await waitFor(child, r.output, (l) => l.includes('"msg":"ready"'), 30_000, `xlvs daemon of director ${n}`);
  }

  /** Ends director n's daemon with a signal (SIGKILL: a crash) and waits for it; BIRD and the datapath stay. */
  async stopDaemon(n: number, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const r = this.daemons.get(n);
    if (!r) throw new Error(`director ${n}'s daemon is not running`);
    this.daemons.delete(n);
    killGroup(r.child, sig);
    await r.exited;
  }

  private async startBird(role: string, conf: string, ctl: string): Promise<void> {
    const file = `${ctl.replace(/\.ctl$/, '')}.conf`;
    fs.writeFileSync(file, conf);
    // -f: stays in the foreground, so the lab tracks and kills it; its own control socket and pid file per namespace.
    const child = this.net.spawnTracked(['ip', 'netns', 'exec', this.net.ns(role), 'bird', '-f', '-c', file, '-s', ctl, '-P', `${ctl}.pid`]);
    const r = track(child);
    this.birds.set(role, r);
    const t0 = Date.now();
    while (!fs.existsSync(ctl)) {
      if (child.exitCode !== null) throw new Error(`bird in ${role} exited (${child.exitCode}): ${r.output()}`);
      if (Date.now() - t0 > 10_000) throw new Error(`bird in ${role} made no control socket in 10 s: ${r.output()}`);
      await sleep(50);
    }
  }

  /** birdc against a namespace's BIRD (role 'router' or a director's). */
  birdc(role: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const ctl = role === 'router' ? path.join(this.o.workDir, 'bird-router.ctl') : [...this.directors.values()].find((d) => d.role === role)?.birdSocket;
    if (!ctl) throw new Error(`no BIRD in ${role}`);
    return this.net.exec(role, ['birdc', '-s', ctl, ...args], opts);
  }

  /** `xlvs ARGS --socket <director n's socket>` in director n's namespace (with the lab's bpffs). */
  xlvs(n: number, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const d = this.director(n);
    return this.net.exec(d.role, this.net.directorArgv([this.o.xlvsBin, ...args, '--socket', d.socket]), opts);
  }

  /** The router's next hops for a VIP (the directors' addresses it spreads flows over), sorted. */
  async nextHops(vip = ADDR.vip): Promise<string[]> {
    const r = await this.net.ipn('router', ['-j', 'route', 'show', `${vip}/32`]);
    const routes = JSON.parse(r.stdout || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
    const hops = routes.flatMap((x) => (x.nexthops ? x.nexthops.map((h) => h.gateway) : x.gateway ? [x.gateway] : []));
    return hops.sort();
  }

  /** Polls the router until its next hops for the VIP are exactly `want`; resolves with how long that took (ms). */
  async waitNextHops(want: string[], timeoutMs = 20_000, vip = ADDR.vip): Promise<number> {
    const goal = [...want].sort().join(',');
    const t0 = Date.now();
    for (;;) {
      const got = (await this.nextHops(vip)).join(',');
      if (got === goal) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`router next hops for ${vip}: [${got}] after ${timeoutMs} ms, wanted [${goal}]`);
      await sleep(20);
    }
  }

  /**
   * A dead host: director n's NIC down first (so the kernel cannot send the FIN of BIRD's BGP session, which would
   * tell the router at once), then SIGKILL to its BIRD and daemon. The router learns of it from BFD alone.
   */
  async killDirector(n: number): Promise<void> {
    const d = this.director(n);
    await this.net.ipn(d.role, ['link', 'set', d.ifname, 'down']);
    for (const r of [this.birds.get(d.role), this.daemons.get(n)]) if (r) killGroup(r.child, 'SIGKILL');
    await Promise.all([this.birds.get(d.role)?.exited, this.daemons.get(n)?.exited]);
    this.birds.delete(d.role);
    this.daemons.delete(n);
  }

  /** What director n's daemon printed (for a failing test's message). */
  daemonOutput(n: number): string {
    return this.daemons.get(n)?.output() ?? '';
  }

  /**
   * Load while a test acts: fresh TCP requests in a loop (`concurrency` at a time) and `streams` keep-alive
   * connections with a request every intervalMs each; stop() ends both and returns what each saw.
   */
  startLoad(o: { port: number; concurrency?: number; streams?: number; intervalMs?: number; timeoutMs?: number }): { stop(): Promise<LoadResult> } {
    const script = path.join(this.o.repoRoot, 'dist', 'src', 'lab', 'client.js');
    const stopFile = path.join(this.o.workDir, `load-stop-${Date.now()}`);
    const common = ['--host', ADDR.vip, '--port', String(o.port), '--timeout-ms', String(o.timeoutMs ?? 3000), '--stop-file', stopFile];
    const req = this.net.exec('client', [process.execPath, script, 'tcp', '--count', '0', '--concurrency', String(o.concurrency ?? 4), ...common], {
      allowFail: true,
      timeoutMs: 600_000,
    });
    const str = this.net.exec(
      'client',
      [process.execPath, script, 'streams', '--streams', String(o.streams ?? 12), '--count', '0', '--interval-ms', String(o.intervalMs ?? 100), ...common],
      { allowFail: true, timeoutMs: 600_000 },
    );
    const parse = (r: RunResult, what: string): ClientResult => {
      try {
        return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ClientResult;
      } catch {
        throw new Error(`${what} printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      }
    };
    return {
      stop: async () => {
        fs.writeFileSync(stopFile, '');
        const [a, b] = await Promise.all([req, str]);
        return { requests: parse(a, 'request loop'), streams: parse(b, 'streams') };
      },
    };
  }

  /** Teardown's first step: the daemons get SIGTERM (they leave the datapath, which the lab removes anyway), BIRDs too. */
  async stopAll(): Promise<void> {
    for (const r of [...this.daemons.values(), ...this.birds.values()]) killGroup(r.child, 'SIGTERM');
    await sleep(this.daemons.size || this.birds.size ? 300 : 0);
  }
}

function track(child: ChildProcess): Running {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, output: () => text, exited };
}

function waitFor(child: ChildProcess, output: () => string, pred: (line: string) => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (output().split('\n').some(pred)) done(resolve);
      else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`${what} exited before it was ready:\n${output()}`)));
      else if (Date.now() - t0 > timeoutMs) done(() => reject(new Error(`${what} not ready after ${timeoutMs} ms:\n${output()}`)));
    }, 50);
    const done = (f: () => void): void => {
      clearInterval(poll);
      f();
    };
  });
}
