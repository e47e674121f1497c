// runner.ts: the foreground director: checks the host, fills and attaches the datapath, keeps real-server MACs fresh, and undoes it all on exit.

import { Config } from '../core/config';
import { RealState, ServiceState, desiredState, schedulable, serviceName, serviceTable } from '../core/director';
import { RuntimeError, UsageError } from '../core/errors';
import { needsSolicit, usableMac } from '../core/neighbours';
import { Datapath, removePins } from './datapath';
import { ensureBpffs, interfaceAddresses, interfaceExists, interfaceInfo, ip, pinDir, requireRoot, routeTo } from './host';
import { Solicitor, dumpNeighbours } from './neighbours';

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
  const problems: string[] = [];
  cfg.services.forEach((s, i) =>
    s.reals.forEach((r, j) => {
      const route = routeTo(r.address);
      if (!route || route.dev !== cfg.interface || route.gateway) {
        const how = route ? `routed ${route.gateway ? `via ${route.gateway} ` : ''}dev ${route.dev}` : 'no route';
        problems.push(`services[${i}].reals[${j}].address: ${r.address} is not on-link on ${cfg.interface} (${how}); direct routing needs every real on the director's segment`);
      }
    }),
  );
  if (problems.length) throw new UsageError('invalid config', problems);
}

export class Runner {
  private readonly services: ServiceState[];
  private readonly solicitor = new Solicitor();
  private datapath: Datapath | undefined;
  private addedVips: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;
  mode: 'native' | 'generic' | undefined;

  constructor(private readonly cfg: Config, private readonly opts: RunnerOptions = {}) {
    this.services = desiredState(cfg);
    this.log = opts.log ?? ((l) => process.stdout.write(`xlvs: ${l}\n`));
  }

  private get reals(): RealState[] {
    return this.services.flatMap((s) => s.reals);
  }

  /** Reads the neighbour table once; returns the services whose set of schedulable reals changed. */
  private refreshMacs(): Set<ServiceState> {
    const dump = dumpNeighbours(this.cfg.interface);
    const changed = new Set<ServiceState>();
    for (const s of this.services) {
      for (const r of s.reals) {
        const entry = dump.get(r.address);
        if (needsSolicit(entry)) this.solicitor.solicit(r.address);
        const mac = usableMac(entry);
        if (mac === r.mac) continue;
        const was = schedulable(r);
        this.log(`real ${r.address} of ${serviceName(s)}: MAC ${r.mac ?? 'unresolved'} -> ${mac ?? 'unresolved'}`);
        r.mac = mac;
        this.datapath?.writeReal(r);
        if (was !== schedulable(r) || this.datapath === undefined) changed.add(s);
      }
    }
    return changed;
  }

  private async resolveAll(): Promise<void> {
    const deadline = Date.now() + (this.opts.resolveTimeoutMs ?? 3000);
    for (;;) {
      this.refreshMacs();
      if (this.reals.every((r) => r.mac) || Date.now() >= deadline) return;
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
    if (info.xdp) throw new RuntimeError(`${ifname} already has an XDP program attached (id ${info.xdp.progId}, ${info.xdp.mode}); stop whatever attached it first`);
    removePins(pins); // no program is attached, so any pins there are a crashed run's leftovers

    await this.resolveAll();
    for (const r of this.reals) if (!r.mac) this.log(`warning: real ${r.address} has no MAC yet; it takes no connections until ARP resolves it`);

    const dp = await Datapath.load({ connTableSize: this.cfg.conn_table_size });
    try {
      dp.setDirectorMac(info.mac);
      for (const s of this.services) {
        for (const r of s.reals) dp.writeReal(r);
        dp.writeTable(s.id, serviceTable(s));
        dp.writeService(s);
      }
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
  }

  private addVips(): void {
    const present = new Set(interfaceAddresses(this.cfg.interface));
    for (const vip of new Set(this.services.map((s) => s.vip))) {
      if (present.has(vip)) continue;
      ip(['addr', 'add', `${vip}/32`, 'dev', this.cfg.interface]);
      this.addedVips.push(vip);
    }
  }

  private tick(): void {
    try {
      for (const s of this.refreshMacs()) this.datapath?.writeTable(s.id, serviceTable(s));
    } catch (e) {
      this.log(`warning: neighbour refresh failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  summary(): string {
    const reals = this.reals;
    return `ready on ${this.cfg.interface} (${this.mode} XDP): ${this.services.length} service(s), ${reals.length} real(s), ${reals.filter((r) => r.mac).length} with MAC, ${reals.filter(schedulable).length} schedulable`;
  }

  /** Undoes what start() did, in reverse; each step runs even if an earlier one fails. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const vip of this.addedVips.splice(0)) {
      try { ip(['addr', 'del', `${vip}/32`, 'dev', this.cfg.interface]); } catch (e) { this.log(`warning: ${(e as Error).message}`); }
    }
    try { this.datapath?.close(); } catch (e) { this.log(`warning: detach: ${(e as Error).message}`); }
    this.datapath = undefined;
    this.solicitor.close();
  }
}
