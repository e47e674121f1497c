// SPDX-License-Identifier: Apache-2.0
// processes.ts: what runs in the lab: the real servers, the director (xlvs up or daemon, and a second one), the client workloads, and the configs the director reads.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDR, realAddress, realAddress6 } from './addr';
import type { ClientResult } from './client';
import { killGroup, type RunOptions, type RunResult, sleep } from './run';
import type { Topology } from './topology';

export type Protocol = 'tcp' | 'udp';

export interface ServiceSpec {
  vip?: string;
  port: number;
  protocol: Protocol;
  scheduler?: string;
  /** weights[i] is the weight of real rs(i+1); reals beyond the array (or with undefined) are left out of the service. */
  weights: (number | undefined)[];
}

export interface DirectorProcess {
  pid: number;
  /** Everything the director printed so far, stdout and stderr interleaved. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One client workload (client.js): count requests to host:port, concurrency at a time. */
export interface ClientOptions {
  host?: string;
  port: number;
  count: number;
  concurrency?: number;
  timeoutMs?: number;
  retries?: number;
  basePort?: number;
  fixedPorts?: boolean;
  localAddress?: string;
}

export interface ProcessOptions {
  workDir: string;
  httpPort: number;
  udpPort: number;
  realSetup: 'full' | 'bare';
  /** A dual-stack lab: servers also answer HTTP over IPv6. */
  ipv6: boolean;
  log: (l: string) => void;
}

export class Processes {
  private readonly servers: ChildProcess[] = [];
  private director: { child: ChildProcess; proc: DirectorProcess } | undefined;

  constructor(
    private readonly net: Topology,
    private readonly o: ProcessOptions,
  ) {}

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
    const script = path.join(this.net.repoRoot, 'dist', 'src', 'lab', 'rs-server.js');
    await Promise.all(
      this.net.realNames().map(async (name) => {
        const child = this.net.spawnTracked([
          'ip',
          'netns',
          'exec',
          this.net.ns(name),
          process.execPath,
          script,
          '--name',
          name,
          '--http-port',
          String(this.o.httpPort),
          '--udp-port',
          String(this.o.udpPort),
          // A bare real has no VIP to bind a UDP socket to.
          ...(this.o.realSetup === 'full' ? ['--udp-address', ADDR.vip] : []),
          ...(this.o.ipv6 ? ['--http6', 'yes'] : []),
        ]);
        await this.serverReady(child, name);
      }),
    );
    this.o.log(`servers up on ${this.net.realNames().join(', ')} (tcp/${this.o.httpPort}, udp/${this.o.udpPort})`);
  }

  /** Starts one more server on a real, e.g. bound to the real's own address only; it lives until teardown. */
  async startServer(name: string, o: { bind?: string; httpPort: number; udpPort: number }): Promise<void> {
    const script = path.join(this.net.repoRoot, 'dist', 'src', 'lab', 'rs-server.js');
    const child = this.net.spawnTracked([
      'ip',
      'netns',
      'exec',
      this.net.ns(name),
      process.execPath,
      script,
      '--name',
      name,
      '--bind',
      o.bind ?? '0.0.0.0',
      '--http-port',
      String(o.httpPort),
      '--udp-port',
      String(o.udpPort),
    ]);
    await this.serverReady(child, name);
  }

  /** Tracks a server process until teardown and waits for its ready line (its output goes into the error if it never comes). */
  private async serverReady(child: ChildProcess, name: string): Promise<void> {
    this.servers.push(child);
    let text = '';
    child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    await this.waitForLine(
      child,
      (l) => l.includes('"ready":true'),
      15000,
      `server ${name}`,
      () => text,
    );
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
        if (i >= this.net.realCount) throw new Error(`weight given for rs${i + 1}, but the lab has ${this.net.realCount} reals`);
        // A service and its reals have one family (IPVS-DR): an IPv6 VIP takes the reals' IPv6 addresses.
        lines.push(`      - { address: ${(s.vip ?? ADDR.vip).includes(':') ? realAddress6(i + 1) : realAddress(i + 1)}, weight: ${w} }`);
      });
    }
    return `${lines.join('\n')}\n`;
  }

  writeDirectorConfig(services: ServiceSpec[], name = 'xlvs.yaml'): string {
    const file = path.join(this.o.workDir, name);
    fs.writeFileSync(file, this.directorConfig(services));
    return file;
  }

  xlvsBin(): string {
    return path.join(this.net.repoRoot, 'bin', 'xlvs');
  }

  /** Runs `xlvs ARGS` in the director namespace (with the shared bpffs). */
  xlvs(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.net.execDirector([this.xlvsBin(), ...args], opts);
  }

  /** Starts `xlvs up --config FILE` in the director namespace and waits for its `xlvs: ready` line. */
  startDirector(configFile: string, readyTimeoutMs = 30000): Promise<DirectorProcess> {
    return this.spawnDirector(['up', '--config', configFile], (l) => l.startsWith('xlvs: ready'), readyTimeoutMs, 'xlvs up');
  }

  /** The daemon's API socket in this lab (under the work directory, so runs never share one). */
  daemonSocket(): string {
    return path.join(this.o.workDir, 'xlvs.sock');
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

  private async spawnDirector(
    args: string[],
    ready: (line: string) => boolean,
    readyTimeoutMs: number,
    what: string,
    wrap: string[] = [],
  ): Promise<DirectorProcess> {
    if (this.director) throw new Error('director already running');
    const child = this.net.spawnTracked(['ip', 'netns', 'exec', this.net.ns('dir'), ...this.net.directorArgv([...wrap, this.xlvsBin(), ...args])]);
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
      this.o.log(line);
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

  /** `xlvs up` in the second director (Topology.addSecondDirector); resolves once it is ready, and stops with the lab (or when stop() is called). */
  async startSecondDirector(configFile: string, readyTimeoutMs = 30000): Promise<{ proc: DirectorProcess; stop(): void }> {
    const child = this.net.spawnTracked(['ip', 'netns', 'exec', this.net.ns('dir2'), ...this.net.directorArgv([this.xlvsBin(), 'up', '--config', configFile])]);
    let transcript = '';
    child.stdout?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (transcript += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const stop = (): void => killGroup(child, 'SIGTERM');
    try {
      await this.waitForLine(
        child,
        (l) => l.startsWith('xlvs: ready'),
        readyTimeoutMs,
        'second director',
        () => transcript,
      );
    } catch (e) {
      stop();
      throw e;
    }
    return { proc: { pid: child.pid ?? -1, output: () => transcript, exited }, stop };
  }

  /** Runs the client workload in the client namespace; resolves with its JSON result even when some requests failed. */
  async runClient(mode: Protocol, o: ClientOptions): Promise<ClientResult> {
    const script = path.join(this.net.repoRoot, 'dist', 'src', 'lab', 'client.js');
    const args = [
      process.execPath,
      script,
      mode,
      '--host',
      o.host ?? ADDR.vip,
      '--port',
      String(o.port),
      '--count',
      String(o.count),
      '--concurrency',
      String(o.concurrency ?? 20),
      '--timeout-ms',
      String(o.timeoutMs ?? 5000),
      '--retries',
      String(o.retries ?? 0),
      '--base-port',
      String(o.basePort ?? 20000),
      ...(o.fixedPorts ? ['--fixed-ports', '1'] : []),
      ...(o.localAddress ? ['--local-address', o.localAddress] : []),
    ];
    // Worst case every request times out once per attempt, spread over the concurrency.
    const budget = 30000 + Math.ceil(o.count / (o.concurrency ?? 20)) * (o.timeoutMs ?? 5000) * ((o.retries ?? 0) + 1);
    const r = await this.net.exec('client', args, { allowFail: true, timeoutMs: budget });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as ClientResult;
    } catch {
      throw new Error(`client printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  /**
   * Starts one long-lived keep-alive TCP connection from the client to the VIP, a request every intervalMs;
   * stop() ends it and returns what it saw.
   */
  startKeepalive(o: { port: number; intervalMs?: number; timeoutMs?: number }): { stop(): Promise<ClientResult> } {
    const script = path.join(this.net.repoRoot, 'dist', 'src', 'lab', 'client.js');
    const stopFile = path.join(this.o.workDir, `keepalive-stop-${Date.now()}`);
    const done = this.net.exec(
      'client',
      [
        process.execPath,
        script,
        'keepalive',
        '--host',
        ADDR.vip,
        '--port',
        String(o.port),
        '--count',
        '0',
        '--interval-ms',
        String(o.intervalMs ?? 100),
        '--timeout-ms',
        String(o.timeoutMs ?? 2000),
        '--stop-file',
        stopFile,
      ],
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

  /** Teardown's first step: the director stopped (given its chance to detach and unpin) and the servers asked to end. */
  async stopAll(): Promise<void> {
    if (this.director) {
      // Give xlvs its chance to detach and unpin before the namespace disappears under it.
      const r = await this.stopDirector(10000).catch(() => undefined);
      if (r && (r.killed || r.code !== 0)) this.o.log(`director exit during teardown: ${JSON.stringify(r)}`);
    }
    for (const s of this.servers) killGroup(s, 'SIGTERM');
    await sleep(this.servers.length ? 300 : 0);
  }
}
