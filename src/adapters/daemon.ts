// SPDX-License-Identifier: Apache-2.0
// daemon.ts: the long-running director: adopts or creates the pinned datapath, serves the runtime API, reloads on SIGHUP, and leaves every flow in place when it exits.

import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import * as abi from '../core/abi';
import type { Config } from '../core/config';
import { Controller } from '../core/controller';
import { RuntimeError } from '../core/errors';
import { configDevices } from '../core/vlan';
import { Announcer, directorRoutes } from './announce';
import { DEFAULT_SOCKET, routes, serve, socketLive } from './api';
import { ArpGuard, ownAddress6 } from './arpguard';
import { monotonicMs } from './clock';
import { configFileText, readConfigFile, writeFileAtomic } from './configfile';
import { Datapath } from './datapath';
import { datapathPort } from './datapathport';
import { DirectorState } from './director';
import { directorAddress, HealthRunner } from './health';
import { ensureBpffs, interfaceInfo, pinDir, requireRoot } from './host';
import { ManagedVips } from './managedvips';
import { cachedCount, serveMetrics } from './metrics';
import { native } from './native';
import { Solicitor, watchNeighbours } from './neighbours';
import { PinGuard } from './pinguard';
import { hasPinnedMaps, LINK_PIN, readObserved, removePins } from './pinned';
import type { MetricsSource, ReloadResult } from './promregistry';
import { checkHost, resolveMacsOn } from './runner';
import { SyncService } from './sync';

// `xlvs down` lives in teardown.ts; importers of this module keep finding it here.
export { down } from './teardown';

export interface DaemonOptions {
  configFile: string;
  socket?: string;
  /** BPF object to load (default build/bpf/xlvs.o); a restart with a new build is an upgrade. */
  objPath?: string;
  refreshMs?: number;
}

export function configToYaml(cfg: Config): string {
  return `# written by xlvs daemon: every accepted runtime change lands here\n${stringify(cfg)}`;
}

/** How often the daemon looks at the VIPs for a VRRP role change to log (status and scrapes look for themselves). */
const ROLE_CHECK_MS = 500;

/** How often the daemon checks that its pins are still there. */
const PIN_CHECK_MS = 2000;
/** How often BGP announcements are checked against the datapath (health changes and edits also check at once). */
const ANNOUNCE_MS = 500;

/**
 * A load that succeeded: one clock read for both times, which a reader compares to tell whether the last reload failed
 * (two reads straddled a millisecond in CI, and a successful reload read as an older success).
 */
function succeeded(at: number): ReloadResult {
  return { successful: true, at, lastSuccessAt: at };
}

export class Daemon {
  readonly log = pino({ base: { svc: 'xlvs' }, timestamp: pino.stdTimeFunctions.isoTime });
  private dp: Datapath | undefined;
  private server: http.Server | undefined;
  private metrics: http.Server | undefined;
  /** The config file's last load: the start counts as one, as Prometheus counts its own start. */
  lastReload: ReloadResult = succeeded(Date.now());
  private timers: NodeJS.Timeout[] = [];
  private unwatch: (() => void) | undefined;
  /** Re-pins the datapath every PIN_CHECK_MS if its pins vanish (logging a persistent failure once). */
  private readonly pinGuard = new PinGuard((level, msg, f) => this.log[level](f, msg));
  private readonly solicitor = new Solicitor();
  /** Health checks; their state is in list() (API, `xlvs list`, metrics) and every change is one log event. */
  health: HealthRunner | undefined;
  /** Watches for other MACs answering ARP for a VIP; its claims are in list() too. */
  arpGuard: ArpGuard | undefined;
  controller: Controller | undefined;
  /** Host name and VRRP role (keepalived's notify calls, the VIPs' presence): in the API, status, metrics and the page. */
  director: DirectorState | undefined;
  /** The BGP announcements (config bgp); their routes outlive the daemon along with the datapath they stand for. */
  announcer: Announcer | undefined;
  /** Connection sync with peer directors (the config's sync section); its counters are in GET /v1/sync and /metrics. */
  sync: SyncService | undefined;
  /** The VIPs manage_vips adds to the host, following the services. */
  private readonly managedVips = new ManagedVips((level, msg, f) => this.log[level](f, msg));
  readonly socket: string;

  constructor(private readonly opts: DaemonOptions) {
    this.socket = opts.socket ?? DEFAULT_SOCKET;
  }

  async start(): Promise<void> {
    requireRoot('xlvs daemon');
    // Before touching the datapath: a second daemon must not rewrite maps a live one owns.
    if (await socketLive(this.socket)) throw new RuntimeError(`another xlvs daemon is listening on ${this.socket}`);
    const cfg = readConfigFile(this.opts.configFile);
    checkHost(cfg);
    this.director = new DirectorState({
      vips: () => [...new Set((this.controller?.config() ?? cfg).services.map((s) => s.vip))],
      manageVips: () => (this.controller?.config() ?? cfg).manage_vips,
      event: (msg, f) => this.log.info(f, msg),
    });
    // Bound before the datapath is touched: a taken metrics.listen fails the start with nothing changed.
    if (cfg.metrics.listen !== 'off')
      this.metrics = await serveMetrics(
        cfg.metrics.listen,
        this.metricsSource(cfg.conn_table_size),
        (m, f) => this.log.error(f ?? {}, m),
        cfg.metrics.allowed_hosts,
      );
    const ifname = cfg.interface;
    const info = interfaceInfo(ifname);
    ensureBpffs();
    const pins = pinDir(ifname);
    const linkPinned = fs.existsSync(path.join(pins, LINK_PIN));
    if (info.xdp && !linkPinned)
      throw new RuntimeError(
        `${ifname} already has an XDP program attached (id ${info.xdp.progId}, ${info.xdp.mode}) that is not a pinned xlvs link; stop whatever attached it first`,
      );
    if (!info.xdp && linkPinned) this.log.warn({ pins }, 'pinned link is no longer attached; starting afresh');
    const adopt = hasPinnedMaps(pins) && !!info.xdp;
    if (!adopt) removePins(pins); // nothing attached: whatever is pinned there is a leftover

    const observed = adopt ? readObserved(pins) : [];
    try {
      this.dp = await Datapath.load({
        connTableSize: cfg.conn_table_size,
        ...(cfg.conn_table6_size ? { connTable6Size: cfg.conn_table6_size } : {}),
        connTablePerCpu: cfg.conn_table_per_cpu,
        objPath: this.opts.objPath,
        ...(adopt ? { reuseFrom: pins } : {}),
      });
    } catch (e) {
      if (adopt)
        throw new RuntimeError(
          `cannot load the datapath onto the pinned maps in ${pins} (a changed conn_table_size or map layout needs "xlvs down" first, which drops tracked connections): ${(e as Error).message}`,
          { cause: e },
        );
      throw e;
    }
    const dp = this.dp;
    const port = datapathPort(dp, observed);
    dp.setDirectorMac(
      info.mac,
      cfg.accept_macs.map((m) => m.toLowerCase()),
    );
    this.managedVips.adopt(cfg);
    const health: HealthRunner = new HealthRunner({
      ifname,
      ifindex: info.ifindex,
      mac: info.mac,
      macOf: (a): string | null => controller.macOf(a),
      onChange: (down) =>
        void controller
          .setDown(down)
          .then(() => this.announcer?.reconcile())
          .catch((e: Error) => this.log.error({ err: e.message }, 'applying health state failed')),
      event: (level, msg, f) => this.log[level](f, msg),
    });
    this.health = health;
    const sync = new SyncService({
      datapath: port,
      view: () => controller.syncView(),
      mtu: (n) => interfaceInfo(n).mtu,
      log: (level, msg, f) => this.log[level](f ?? {}, msg),
      now: monotonicMs,
    });
    this.sync = sync;
    const controller: Controller = new Controller(cfg, observed, {
      applied: (c) => {
        health.setConfig(c);
        // After the change's ops are in: a service that lost its last real, or a new VIP, changes what is announced.
        if (this.announcer) setImmediate(() => this.announcer?.reconcile());
        void sync.configure(c.sync);
        dp.setDirectorMac(
          info.mac,
          c.accept_macs.map((m) => m.toLowerCase()),
        );
      },
      health: (k) => health.get(k),
      vipClaims: (v) => this.arpGuard?.claimsOf(v) ?? [],
      datapath: port,
      resolve: (a) => resolveMacsOn(controller.config(), this.solicitor, a),
      check: (c) => checkHost(c),
      persist: (c) => this.persist(c),
      vipsChanged: (v) => this.managedVips.sync(controller.config(), v),
      log: (msg, f) => this.log.info(f ?? {}, msg),
      now: monotonicMs,
    });
    this.controller = controller;
    // Maps first (the old program, if any, keeps running on the same maps), then the program swap or first attach.
    await controller.sync();
    const at = dp.attachPinned(ifname, cfg.xdp_mode, pins);
    for (const n of dp.kernelNotes) this.log.warn({ kernel: os.release() }, n);
    this.log.info(
      { interface: ifname, mode: at.mode, adopted: at.adopted, pins, verifier: dp.programCosts() },
      at.adopted ? 'took over the pinned datapath (connections kept)' : 'attached',
    );

    if (cfg.arp_guard_interval_ms > 0) {
      this.arpGuard = new ArpGuard({
        ifindex: info.ifindex,
        mac: info.mac,
        address: () => directorAddress(ifname, new Set(controller.config().services.map((s) => s.vip))),
        address6: () => ownAddress6(ifname, new Set(controller.config().services.map((s) => s.vip))),
        // Without manage_vips keepalived moves the VIPs: on a backup the master answering for them is no theft, so
        // only the VIPs this host holds are guarded (a half-dead old master still answering for them is one).
        vips: () => {
          const c = controller.config();
          return c.manage_vips ? [...new Set(c.services.map((s) => s.vip))] : (this.director?.vrrp().vipsPresent ?? []);
        },
        realOf: (m) => controller.realByMac(m),
        intervalMs: cfg.arp_guard_interval_ms,
        event: (level, msg, f) => this.log[level](f, msg),
      });
      this.arpGuard.start();
    }
    if (cfg.bgp) {
      this.announcer = new Announcer({
        ifname,
        table: cfg.bgp.table,
        socket: this.socket,
        inputs: () => ({ attached: !!interfaceInfo(ifname).xdp, services: controller.schedulable() }),
        event: (level, msg, f) => this.log[level](f, msg),
      });
      this.announcer.reconcile();
      this.timers.push(setInterval(() => this.announcer?.reconcile(), ANNOUNCE_MS));
    }
    // Connections that sent within two sweeps and a second still count as active (the sweeper stamps last_seen).
    const quietS = 1 + Math.ceil((2 * cfg.sweep_interval_ms) / 1000);
    const lastSeen = (): number[] => controller.connections().flatMap((c) => (c.lastSeen === undefined ? [] : [c.lastSeen]));
    this.server = await serve(
      this.socket,
      {
        ...routes(
          controller,
          () => this.reload(),
          this.director,
          () => this.lastReload,
          () => sync.stats(),
        ),
        ...directorRoutes(this.announcer, lastSeen, quietS),
      },
      (m, f) => this.log.error(f ?? {}, m),
    );
    this.timers.push(
      setInterval(() => void controller.sync().catch((e: Error) => this.log.warn({ err: e.message }, 'neighbour refresh failed')), this.opts.refreshMs ?? 1000),
    );
    // A real's neighbour entry changed (netlink): re-plan now rather than at the next tick (~100 ms instead of ~1 s).
    // Every device of the config at start (a VLAN added later by the API is re-read by the periodic refresh).
    const unwatch = configDevices(cfg).map((dev) =>
      watchNeighbours(dev, (changed) => {
        if (changed.some((a) => controller.isReal(a)))
          void controller.sync().catch((e: Error) => this.log.warn({ err: e.message }, 'neighbour refresh failed'));
      }),
    );
    // New connections grow the table between sweeps too: a burst would fill the starting size within one interval.
    const stopGrowth = dp.walks.watchGrowth();
    this.unwatch = () => {
      unwatch.forEach((u) => u());
      stopGrowth();
    };
    this.timers.push(
      setInterval(
        () =>
          void controller
            .sweep()
            .then((st) => {
              if (st?.resized) this.log.info({ ...st.resized, entries: st.conns }, 'connection table resized');
              if (st?.resized6) this.log.info({ ...st.resized6 }, 'IPv6 connection table resized');
            })
            .catch((e: Error) => this.log.warn({ err: e.message }, 'connection sweep failed')),
        cfg.sweep_interval_ms,
      ),
    );
    this.timers.push(
      setInterval(() => {
        try {
          controller.sample();
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'counter sample failed');
        }
      }, 1000),
    );
    this.timers.push(
      setInterval(() => {
        if (this.dp) this.pinGuard.check(this.dp, pins);
      }, PIN_CHECK_MS),
    );
    // Role changes in the log as the VIPs move (keepalived tells the daemon nothing unless its notify scripts do).
    this.director.watch(ROLE_CHECK_MS);
  }

  /** Scrapes read the live maps; until the datapath is up they see an empty director. */
  private metricsSource(capacity: number): MetricsSource {
    const ncpu = native().numPossibleCpus();
    // Counted by the sweeper's last walk (every sweep interval): a user-space walk would copy the whole table per scrape.
    const count = cachedCount(() => (this.dp ? Number(abi.sweepStats.decode(this.dp.maps.xlvs_sweepst.lookup(abi.u32Key(0))!).conns) : 0), 1000);
    return {
      list: () => this.controller?.list() ?? [],
      bgp: () => this.announcer?.status() ?? null,
      sync: () => this.sync?.stats() ?? {},
      verdicts: () => {
        const buf = this.dp?.maps.xlvs_verdicts.lookup(abi.u32Key(0));
        return buf ? abi.sumPerCpu(abi.verdicts, buf, ncpu) : abi.verdicts.decode(Buffer.alloc(abi.verdicts.size));
      },
      connTable: () => ({ ...count(), capacity: this.dp?.connCapacity() ?? capacity, ...(this.dp ? { capacity6: this.dp.conn6Capacity() } : {}) }),
      lastReload: () => this.lastReload,
      director: () => this.director?.info(),
    };
  }

  /** The line supervisors and tests wait for; the caller logs it once its signal handlers are installed. */
  logReady(): void {
    const l = this.controller?.list() ?? [];
    this.log.info(
      { interface: this.controller?.config().interface, socket: this.socket, services: l.length, reals: l.reduce((n, s) => n + s.reals.length, 0) },
      'ready',
    );
  }

  /** The config write-back; its failure (a full disk, a read-only file system) fails the change before anything is applied. */
  private persist(c: Config): void {
    const file = this.opts.configFile;
    try {
      writeFileAtomic(file, configFileText(configToYaml(c)));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new RuntimeError(
        `cannot write the config file ${file}${err.code ? ` (${err.code})` : ''}: ${err.message}; the running config and the file are unchanged`,
        { cause: e },
      );
    }
  }

  /**
   * SIGHUP and `POST /v1/reload`: the file is the source, so nothing is written back. The outcome is kept for
   * `xlvs status` and `/metrics` (a refused reload is otherwise only a log line while the old config runs on).
   */
  async reload(): Promise<unknown> {
    const c = this.controller;
    if (!c) throw new RuntimeError('daemon not started');
    try {
      const cfg = readConfigFile(this.opts.configFile);
      const r = await c.apply(cfg, { persist: false });
      this.log.info({ ops: r.ops.length }, 'reloaded');
      this.lastReload = succeeded(Date.now());
      // The announcer is set up at start: a reload carries on announcing in the table the daemon started with.
      if ((cfg.bgp?.table ?? null) !== (this.announcer?.status().table ?? null))
        this.log.warn(
          { running: this.announcer?.status().table ?? null, file: cfg.bgp?.table ?? null },
          'bgp changed in the config: restart the daemon to apply it',
        );
      return r;
    } catch (e) {
      this.lastReload = { successful: false, at: Date.now(), lastSuccessAt: this.lastReload.lastSuccessAt, error: (e as Error).message };
      throw e;
    }
  }

  /** Exit without touching the datapath: the pinned link and maps keep forwarding until the next daemon or `xlvs down`. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.director?.stop();
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.server) {
      const s = this.server;
      this.server = undefined;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    if (this.metrics) {
      const m = this.metrics;
      this.metrics = undefined;
      m.closeAllConnections();
      await new Promise<void>((r) => m.close(() => r()));
    }
    await this.sync?.stop();
    this.sync = undefined;
    await this.dp?.walks.settled();
    this.dp?.release();
    this.dp = undefined;
    this.solicitor.close();
    await this.health?.stop();
    await this.arpGuard?.stop();
    this.arpGuard = undefined;
    this.health = undefined;
  }
}
