// SPDX-License-Identifier: Apache-2.0
// drnet.ts: the LVS-DR test network in namespaces as the one object tests and the demo drive (DrLab): it claims a prefix, builds the topology, runs the processes and observes them through the modules named below, and tears down exactly what it claimed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StatusJson } from '../cli/commands/status';
import type { NdpFrame } from '../core/ndp';
import { BgpLab } from './bgp';
import { bpffsDirFor, claimPrefix, type LabRecord, removeRecorded, writeRecord } from './claims';
import type { ClientResult } from './client';
import type { LoadResult } from './loadclient';
import { type Capture, type CaptureResult, type DirectorStatus, Observer, type ReplyPathCounters } from './observe';
import { type ClientOptions, type DirectorProcess, Processes, type Protocol, type ServiceSpec } from './processes';
import type { RunOptions, RunResult } from './run';
import { Topology } from './topology';
import { VlanLab } from './vlan';
import { type DirectorRole, type KeepalivedOptions, type LoadOptions, type Running, VrrpLab } from './vrrp';

// What tests and the demo import along with DrLab, so that one import line serves them.
export { ADDR, realAddress, realAddress6 } from './addr';
export { BGP_TABLE, type BgpDirector, type LoadResult } from './bgp';
export { cleanupPrefix, labPrefix, stopKeptOwner } from './claims';
export type { ClientResult } from './client';
export type { Capture, CaptureResult, Counters, DirectorStatus, ReplyPathCounters } from './observe';
export type { ClientOptions, DirectorProcess, Protocol, ServiceSpec } from './processes';
export { type RunOptions, type RunResult, run } from './run';
export { type VlanSpec, vlanAddr } from './vlan';

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
  /**
   * Dual stack (default false: IPv6 stays off, so captures of IPv4 tests hold nothing else): IPv6 addresses beside
   * the IPv4 ones (ADDR.router6, director6, vip6, client6; realAddress6(n)), routes both ways, the VIP6 on each full
   * real's lo as /128. No DAD, router solicitations or advertisements.
   */
  ipv6?: boolean;
}

function defaultRepoRoot(): string {
  // This file runs as dist/src/lab/drnet.js; the repository root is three levels up.
  return path.resolve(__dirname, '..', '..', '..');
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
  readonly macs: Record<string, string>;
  private readonly log: (l: string) => void;
  /** What this run claimed and created: teardown removes exactly this (kept in the record file as it grows). */
  private readonly record: LabRecord;
  private readonly net: Topology;
  private readonly procs: Processes;
  private readonly observer: Observer;
  private readonly vrrpLab: VrrpLab;
  private readonly bgpLab: BgpLab;
  private readonly vlanLab: VlanLab;
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
    const realSetup = opts.realSetup ?? 'full';
    this.net = new Topology(record, {
      repoRoot: this.repoRoot,
      workDir: this.workDir,
      bpffsDir: this.bpffsDir,
      realCount: this.realCount,
      addVipToDirector: !!opts.addVipToDirector,
      realSetup,
      ipv6: !!opts.ipv6,
      log: this.log,
    });
    this.macs = this.net.macs;
    this.procs = new Processes(this.net, {
      workDir: this.workDir,
      httpPort: this.httpPort,
      udpPort: this.udpPort,
      realSetup,
      ipv6: !!opts.ipv6,
      log: this.log,
    });
    this.observer = new Observer(this.net, this.procs, this.workDir);
    this.vrrpLab = new VrrpLab(this.net, { workDir: this.workDir, xlvsBin: this.procs.xlvsBin(), ipv6: !!opts.ipv6, log: this.log });
    this.vlanLab = new VlanLab(this.net, { workDir: this.workDir, log: this.log });
    this.bgpLab = new BgpLab(this.net, { workDir: this.workDir, repoRoot: this.repoRoot, xlvsBin: this.procs.xlvsBin(), log: this.log });
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
      await lab.net.build();
      if (opts.startServers ?? true) await lab.startServers();
    } catch (e) {
      await lab.teardown();
      throw e;
    }
    return lab;
  }

  // The network and commands inside it: documented in topology.ts.
  ns(role: string): string {
    return this.net.ns(role);
  }
  realNames(): string[] {
    return this.net.realNames();
  }
  exec(role: string, argv: string[], opts?: RunOptions): Promise<RunResult> {
    return this.net.exec(role, argv, opts);
  }
  execDirector(argv: string[], opts?: RunOptions): Promise<RunResult> {
    return this.net.execDirector(argv, opts);
  }
  swPort(host: string): string {
    return this.net.swPort(host);
  }
  macOf(role: string, ifname: string): Promise<string> {
    return this.net.macOf(role, ifname);
  }
  realByMac(): Map<string, string> {
    return this.net.realByMac();
  }
  addSecondDirector(): Promise<void> {
    return this.net.addSecondDirector();
  }
  setSwitchFlooding(on: boolean): Promise<void> {
    return this.net.setSwitchFlooding(on);
  }
  addSecondClientNetwork(): Promise<void> {
    return this.net.addSecondClientNetwork();
  }

  /** 802.1Q VLANs: the director's eth0 as a trunk, reals on VLANs: documented in vlan.ts. */
  vlans(): VlanLab {
    return this.vlanLab;
  }

  /** Active/active directors with BIRD and the router's ECMP: documented in bgp.ts. */
  bgp(): BgpLab {
    return this.bgpLab;
  }

  // Servers, the director, clients: documented in processes.ts.
  startServers(): Promise<void> {
    return this.procs.startServers();
  }
  startServer(name: string, o: { bind?: string; httpPort: number; udpPort: number }): Promise<void> {
    return this.procs.startServer(name, o);
  }
  directorConfig(services: ServiceSpec[], iface?: string): string {
    return this.procs.directorConfig(services, iface);
  }
  writeDirectorConfig(services: ServiceSpec[], name?: string): string {
    return this.procs.writeDirectorConfig(services, name);
  }
  xlvsBin(): string {
    return this.procs.xlvsBin();
  }
  xlvs(args: string[], opts?: RunOptions): Promise<RunResult> {
    return this.procs.xlvs(args, opts);
  }
  startDirector(configFile: string, readyTimeoutMs?: number): Promise<DirectorProcess> {
    return this.procs.startDirector(configFile, readyTimeoutMs);
  }
  daemonSocket(): string {
    return this.procs.daemonSocket();
  }
  startDaemon(configFile: string, extraArgs?: string[], readyTimeoutMs?: number, o?: { wrap?: string[] }): Promise<DirectorProcess> {
    return this.procs.startDaemon(configFile, extraArgs, readyTimeoutMs, o);
  }
  signalDirector(sig: NodeJS.Signals): void {
    this.procs.signalDirector(sig);
  }
  killDirector(): Promise<void> {
    return this.procs.killDirector();
  }
  stopDirector(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    return this.procs.stopDirector(timeoutMs);
  }
  startSecondDirector(configFile: string, readyTimeoutMs?: number): Promise<{ proc: DirectorProcess; stop(): void }> {
    return this.procs.startSecondDirector(configFile, readyTimeoutMs);
  }
  runClient(mode: Protocol, o: ClientOptions): Promise<ClientResult> {
    return this.procs.runClient(mode, o);
  }
  startKeepalive(o: { port: number; intervalMs?: number; timeoutMs?: number }): { stop(): Promise<ClientResult> } {
    return this.procs.startKeepalive(o);
  }

  // Active/backup with keepalived: documented in vrrp.ts.
  hostName(role: DirectorRole): string {
    return this.vrrpLab.hostName(role);
  }
  hostWrap(role: DirectorRole): string[] {
    return this.vrrpLab.hostWrap(role);
  }
  daemonSocketOf(role: DirectorRole): string {
    return this.vrrpLab.daemonSocket(role);
  }
  startSecondDaemon(configFile: string, readyTimeoutMs?: number): Promise<DirectorProcess & { kill(): Promise<void> }> {
    return this.vrrpLab.startSecondDaemon(configFile, readyTimeoutMs);
  }
  startKeepalived(role: DirectorRole, k: KeepalivedOptions): Promise<Running> {
    return this.vrrpLab.startKeepalived(role, k);
  }
  watchVip(role: DirectorRole, timeoutMs?: number, vip?: string): { arrived: Promise<number>; stop(): void } {
    return this.vrrpLab.watchVip(role, timeoutMs, vip);
  }
  setDirectorLink(role: DirectorRole, up: boolean): Promise<void> {
    return this.vrrpLab.setDirectorLink(role, up);
  }
  startLoad(o: LoadOptions): { stop(): Promise<LoadResult> } {
    return this.vrrpLab.startLoad(o);
  }

  // What tests read off the lab: documented in observe.ts.
  directorStatus(iface?: string): Promise<DirectorStatus> {
    return this.observer.directorStatus(iface);
  }
  startCapture(role: string, ifname: string, name?: string, direction?: 'in' | 'out' | 'inout'): Promise<Capture> {
    return this.observer.startCapture(role, ifname, name, direction);
  }
  captureDirectorPort(tag: string): Promise<{ stop(): Promise<{ toDirector: CaptureResult; fromDirector: CaptureResult }> }> {
    return this.observer.captureDirectorPort(tag);
  }
  installReplyPathCounters(): Promise<void> {
    return this.observer.installReplyPathCounters();
  }
  readReplyPathCounters(): Promise<ReplyPathCounters> {
    return this.observer.readReplyPathCounters();
  }
  statusJson(role: string, ifname: string, socket?: string): Promise<StatusJson> {
    return this.observer.statusJson(role, ifname, socket);
  }
  arping(role: string, ifname: string, ip: string, count?: number): Promise<{ replies: string[]; output: string }> {
    return this.observer.arping(role, ifname, ip, count);
  }
  neighbourMac(role: string, ip: string, dev: string): Promise<string | null> {
    return this.observer.neighbourMac(role, ip, dev);
  }
  solicit6(role: string, ifname: string, target: string): Promise<NdpFrame[]> {
    return this.observer.solicit6(role, ifname, target);
  }
  addresses(role: string, ifname: string): Promise<string[]> {
    return this.observer.addresses(role, ifname);
  }

  /** Marks the lab as kept by a background demo run, which `npm run demo -- --cleanup PREFIX` asks to tear down. */
  markKept(): void {
    this.record.kept = true;
    writeRecord(this.record);
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
    await this.bgpLab.stopAll();
    await this.procs.stopAll();
    this.net.killAll();
    this.finalCleanup();
  }

  /** Last-resort teardown from a process 'exit' hook: no waiting, so everything is killed outright. */
  teardownSync(): void {
    this.net.killAll();
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

/** Share of each weight in the total, as fractions. */
export function weightShares(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (total > 0 ? w / total : 0));
}
