// SPDX-License-Identifier: Apache-2.0
// runner.ts: the foreground director: checks the host, fills and attaches the datapath, keeps real-server MACs fresh, and undoes it all on exit.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../core/config';
import { Controller } from '../core/controller';
import { RuntimeError, UsageError } from '../core/errors';
import { needsSolicit, neighbourKey, usableMac } from '../core/neighbours';
import { vipAddressProblems } from '../core/ownaddr';
import { byDevice, configDevices, realDevices, vipDevices, vlanDevice } from '../core/vlan';
import { monotonicMs } from './clock';
import { Datapath } from './datapath';
import { datapathPort } from './datapathport';
import { HealthRunner } from './health';
import {
  ensureBpffs,
  heldAddresses,
  hostAddresses,
  interfaceAddresses,
  interfaceExists,
  interfaceInfo,
  ip,
  pinDir,
  requireRoot,
  routeTo,
  vipAddrArgs,
} from './host';
import { dumpNeighbours, Solicitor, watchNeighbours } from './neighbours';
import { LINK_PIN, removePins } from './pinned';

export interface RunnerOptions {
  /** How long start-up waits for every real's MAC before going ready without the missing ones. */
  resolveTimeoutMs?: number;
  /** How often the neighbour table is re-read. */
  refreshMs?: number;
  log?: (line: string) => void;
}

/** Host checks that need no privileges to fail: they name the config field. */
export function checkHost(cfg: Config): void {
  if (!interfaceExists(cfg.interface)) throw new UsageError(`invalid config`, [`interface: ${JSON.stringify(cfg.interface)} does not exist on this host`]);
  const problems: string[] = vipAddressProblems(cfg, hostAddresses());
  // VLAN devices have no native XDP (no ndo_bpf): auto falls back to generic, native cannot attach.
  if (cfg.xdp_mode === 'native' && isVlanDevice(cfg.interface))
    problems.push(
      `xdp_mode: native: ${cfg.interface} is a VLAN device, which has no native XDP (use auto or generic, or attach to the trunk with services[].vlan)`,
    );
  // A service on a VLAN needs the VLAN device: its VIP answers ARP there and its reals' MACs are resolved there.
  const missing = new Set<string>();
  cfg.services.forEach((s, i) => {
    const dev = vlanDevice(cfg.interface, s.vlan);
    if (s.vlan && !missing.has(dev) && !interfaceExists(dev)) {
      missing.add(dev);
      problems.push(
        `services[${i}].vlan: ${s.vlan}: no device ${dev} on this host ` +
          `(create it: ip link add link ${cfg.interface} name ${dev} type vlan id ${s.vlan}, with an address in the reals' subnet)`,
      );
    }
  });
  // The sync daemons send from (master) or join on (backup) their interface's IPv4 address, as IPVS's do.
  for (const role of ['master', 'backup'] as const) {
    const ifn = cfg.sync?.[role]?.mcast_interface;
    if (ifn === undefined) continue;
    if (!interfaceExists(ifn)) problems.push(`sync.${role}.mcast_interface: ${JSON.stringify(ifn)} does not exist on this host`);
    else if (!interfaceAddresses(ifn).length) problems.push(`sync.${role}.mcast_interface: ${JSON.stringify(ifn)} has no IPv4 address to send or join from`);
  }
  // One `ip route get` per address, not per service's real: 10,000 services over the same reals were 30,000 spawns
  // (minutes with the daemon's loop held, every health probe and API call waiting).
  const routes = new Map<string, ReturnType<typeof routeTo>>();
  cfg.services.forEach((s, i) =>
    s.reals.forEach((r, j) => {
      if (!routes.has(r.address)) routes.set(r.address, routeTo(r.address));
      const route = routes.get(r.address)!;
      const dev = vlanDevice(cfg.interface, s.vlan);
      if (missing.has(dev)) return;
      if (!route || route.dev !== dev || route.gateway) {
        const how = route ? `routed ${route.gateway ? `via ${route.gateway} ` : ''}dev ${route.dev}` : 'no route';
        problems.push(
          `services[${i}].reals[${j}].address: ${r.address} is not on-link on ${cfg.interface} (${how}); direct routing needs every real on the director's segment`,
        );
      }
    }),
  );
  if (problems.length) throw new UsageError('invalid config', problems);
}

/** One neighbour-table dump: each address's usable MAC (null if none), soliciting the missing and stale ones. */
export function resolveMacs(ifname: string, solicitor: Solicitor, addresses: readonly string[]): Map<string, string | null> {
  const dump = dumpNeighbours(ifname);
  const out = new Map<string, string | null>();
  for (const a of addresses) {
    const e = dump.get(neighbourKey(a));
    if (needsSolicit(e)) solicitor.solicit(a);
    out.set(a, usableMac(e));
  }
  return out;
}

/** A kernel 802.1Q VLAN device (its uevent says DEVTYPE=vlan). */
function isVlanDevice(ifname: string): boolean {
  try {
    return /^DEVTYPE=vlan$/m.test(fs.readFileSync(`/sys/class/net/${ifname}/uevent`, 'utf8'));
  } catch {
    return false;
  }
}

/** resolveMacs on each address's device: a VLAN service's reals are resolved on its VLAN device. */
export function resolveMacsOn(cfg: Pick<Config, 'interface' | 'services'>, solicitor: Solicitor, addresses: readonly string[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const [dev, list] of byDevice(realDevices(cfg), cfg.interface, addresses)) for (const [a, m] of resolveMacs(dev, solicitor, list)) out.set(a, m);
  return out;
}

/**
 * `xlvs up`: the same Controller (plan -> apply, MAC refresh) as the daemon, but with no API, no persistence and an
 * unpinned link, so everything goes when the process does.
 */
export class Runner {
  private readonly solicitor = new Solicitor();
  private datapath: Datapath | undefined;
  private controller: Controller | undefined;
  private addedVips: { vip: string; dev: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private health: HealthRunner | undefined;
  private readonly log: (line: string) => void;
  mode: 'native' | 'generic' | undefined;

  private readonly cfg: Config;

  constructor(
    cfg: Config,
    private readonly opts: RunnerOptions = {},
  ) {
    this.log = opts.log ?? ((l) => process.stdout.write(`xlvs: ${l}\n`));
    // Sync daemons run under `xlvs daemon` only; here nothing would read the datapath's records, so emitting them
    // would cost every new connection for nothing and fill the queue with losses.
    const { sync, ...rest } = cfg;
    if (sync) this.log('warning: sync: connection sync runs under "xlvs daemon" only; "xlvs up" ignores the section');
    this.cfg = rest;
  }

  private get addresses(): string[] {
    return [...new Set(this.cfg.services.flatMap((s) => s.reals.map((r) => r.address)))];
  }

  /** Waits (bounded) for every real's MAC before loading, so the first tables already include them. */
  private async resolveAll(): Promise<void> {
    const deadline = monotonicMs() + (this.opts.resolveTimeoutMs ?? 3000);
    for (;;) {
      const macs = resolveMacsOn(this.cfg, this.solicitor, this.addresses);
      const missing = [...macs].filter(([, m]) => !m).map(([a]) => a);
      if (!missing.length) return;
      if (monotonicMs() >= deadline) {
        for (const a of missing) this.log(`warning: real ${a} has no MAC yet; it takes no connections until ARP resolves it`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async start(): Promise<void> {
    const ifname = this.cfg.interface;
    requireRoot('xlvs up');
    checkHost(this.cfg);
    const info = interfaceInfo(ifname);
    const pins = pinDir(ifname);
    ensureBpffs();
    if (info.xdp && fs.existsSync(path.join(pins, LINK_PIN)))
      throw new RuntimeError(
        `${ifname} is run by an xlvs daemon's pinned datapath (program ${info.xdp.progId}); stop the daemon and run "xlvs down --interface ${ifname}" first`,
      );
    if (info.xdp)
      throw new RuntimeError(`${ifname} already has an XDP program attached (id ${info.xdp.progId}, ${info.xdp.mode}); stop whatever attached it first`);
    removePins(pins); // no program is attached, so any pins there are a crashed run's leftovers

    await this.resolveAll();

    const dp = await Datapath.load({
      connTableSize: this.cfg.conn_table_size,
      ...(this.cfg.conn_table6_size ? { connTable6Size: this.cfg.conn_table6_size } : {}),
      connTablePerCpu: this.cfg.conn_table_per_cpu,
    });
    for (const n of dp.kernelNotes) this.log(`warning: ${n}`);
    try {
      dp.setDirectorMac(
        info.mac,
        this.cfg.accept_macs.map((m) => m.toLowerCase()),
      );
      const health: HealthRunner = new HealthRunner({
        ifname,
        ifindex: info.ifindex,
        mac: info.mac,
        macOf: (a): string | null => this.controller?.macOf(a) ?? null,
        onChange: (down) => void this.controller?.setDown(down).catch((e: Error) => this.log(`warning: applying health state failed: ${e.message}`)),
        // One line per event, the fields as JSON (the daemon logs the same events through pino).
        event: (level, msg, f) => this.log(`${level === 'info' ? '' : `${level}: `}${msg} ${JSON.stringify(f)}`),
      });
      this.health = health;
      this.controller = new Controller(this.cfg, [], {
        applied: (c) => health.setConfig(c),
        health: (k) => health.get(k),
        datapath: datapathPort(dp, []),
        resolve: (a) => resolveMacsOn(this.cfg, this.solicitor, a),
        check: () => undefined, // checkHost ran above; the config never changes under `up`
        persist: () => undefined,
        log: (msg) => this.log(msg),
        now: monotonicMs,
      });
      await this.controller.sync();
      dp.pin(pins);
      this.mode = dp.attach(ifname, this.cfg.xdp_mode);
    } catch (e) {
      dp.close();
      throw e;
    }
    this.datapath = dp;
    try {
      if (this.cfg.manage_vips) this.addVips();
    } catch (e) {
      this.stop();
      throw e;
    }
    this.timer = setInterval(() => this.tick(), this.opts.refreshMs ?? 1000);
    // A real's neighbour entry changed (netlink): re-plan now rather than at the next tick.
    const reals = new Set(this.addresses);
    const unwatch = configDevices(this.cfg).map((dev) =>
      watchNeighbours(dev, (changed) => {
        if (changed.some((a) => reals.has(a))) this.tick();
      }),
    );
    this.unwatch = () => unwatch.forEach((u) => u());
    this.sweeper = setInterval(
      () =>
        void this.controller
          ?.sweep()
          .then((st) => {
            const r = st?.resized;
            if (r)
              this.log(
                `connection table ${r.to > r.from ? 'grew' : 'shrank'} from ${r.from} to ${r.to} entries ` +
                  `(${st.conns} held; ${r.moved} moved in ${r.ms.toFixed(0)} ms, ${r.outcome})`,
              );
          })
          .catch((e: Error) => this.log(`warning: connection sweep failed: ${e.message}`)),
      this.cfg.sweep_interval_ms,
    );
  }

  /** Each VIP on its service's device (a VLAN service's on its VLAN device, so the kernel answers ARP on that VLAN). */
  private addVips(): void {
    for (const [vip, dev] of vipDevices(this.cfg)) {
      if (heldAddresses(dev).includes(vip)) continue;
      ip(vipAddrArgs('add', vip, dev));
      this.addedVips.push({ vip, dev });
    }
  }

  /** A changed MAC (or a real losing or gaining one) becomes a plan like any other change. */
  private tick(): void {
    this.controller?.sync().catch((e: unknown) => this.log(`warning: neighbour refresh failed: ${e instanceof Error ? e.message : String(e)}`));
  }

  summary(): string {
    const list = this.controller?.list() ?? [];
    const reals = list.flatMap((s) => s.reals);
    return `ready on ${this.cfg.interface} (${this.mode} XDP): ${list.length} service(s), ${reals.length} real(s), ${reals.filter((r) => r.mac).length} with MAC, ${reals.filter((r) => r.schedulable).length} schedulable`;
  }

  /** Undoes what start() did, in reverse; each step runs even if an earlier one fails. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    this.unwatch?.();
    this.unwatch = undefined;
    this.timer = this.sweeper = undefined;
    for (const { vip, dev } of this.addedVips.splice(0)) {
      try {
        ip(vipAddrArgs('del', vip, dev));
      } catch (e) {
        this.log(`warning: ${(e as Error).message}`);
      }
    }
    try {
      this.datapath?.close();
    } catch (e) {
      this.log(`warning: detach: ${(e as Error).message}`);
    }
    this.datapath = undefined;
    this.solicitor.close();
    void this.health?.stop();
    this.health = undefined;
  }
}
