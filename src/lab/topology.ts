// SPDX-License-Identifier: Apache-2.0
// topology.ts: the lab's network (a namespace per host, the switch bridge, addresses and routes, the shared bpffs) and running commands inside it.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDR, realAddress, realAddress6 } from './addr';
import { type LabRecord, writeRecord } from './claims';
import { killGroup, type RunOptions, type RunResult, run } from './run';

// The bpffs path is passed as $1 rather than spliced into the script, so the wrapper stays a fixed string.
const DIRECTOR_WRAPPER = 'mount --bind "$1" /sys/fs/bpf && shift && exec "$@"';

const SW_BRIDGE = 'br0';

export interface TopologyOptions {
  repoRoot: string;
  workDir: string;
  bpffsDir: string;
  realCount: number;
  /** Put the VIP on the director's eth0 (normally xlvs does this). */
  addVipToDirector: boolean;
  realSetup: 'full' | 'bare';
  /** Dual stack: IPv6 addresses and routes beside the IPv4 ones (ADDR.*6), the VIP6 on every full real's lo. */
  ipv6: boolean;
  log: (l: string) => void;
}

export class Topology {
  readonly prefix: string;
  readonly repoRoot: string;
  readonly bpffsDir: string;
  readonly realCount: number;
  /** MAC addresses of every host's eth0 (and the router's eth1), filled in by build(). */
  readonly macs: Record<string, string> = {};
  /** Every command and process started in the lab that is still running: teardown kills what is left. */
  private readonly children = new Set<ChildProcess>();

  /** record: what this run claimed; every namespace and mount is added to it once it exists, so teardown removes exactly those. */
  constructor(
    private readonly record: LabRecord,
    private readonly o: TopologyOptions,
  ) {
    this.prefix = record.prefix;
    this.repoRoot = o.repoRoot;
    this.bpffsDir = o.bpffsDir;
    this.realCount = o.realCount;
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

  /** argv behind the bpffs bind mount, for `ip netns exec` into a director's namespace. */
  directorArgv(argv: string[]): string[] {
    return ['sh', '-c', DIRECTOR_WRAPPER, 'sh', this.bpffsDir, ...argv];
  }

  /** `ip -n NS ARGS` for a role. */
  ipn(role: string, args: string[]): Promise<RunResult> {
    return run('ip', ['-n', this.ns(role), ...args], { timeoutMs: 30000 }, this.children);
  }

  sysctl(role: string, settings: Record<string, string | number>): Promise<RunResult> {
    const kv = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return this.exec(role, ['sysctl', '-q', '-w', ...kv]);
  }

  /** Starts a long-lived process (detached: its own process group, so teardown can end all it started). */
  spawnTracked(argv: string[], detached = true): ChildProcess {
    const child = spawn(argv[0], argv.slice(1), { cwd: this.repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGKILL to everything still running (the last step of teardown, after the processes had their chance to stop). */
  killAll(): void {
    for (const c of [...this.children]) killGroup(c, 'SIGKILL');
  }

  /** A namespace for a role, recorded once it exists: a name someone else took in the meantime fails the add and is never ours to delete. */
  private async addNamespace(role: string): Promise<void> {
    await run('ip', ['netns', 'add', this.ns(role)]);
    this.record.namespaces.push(this.ns(role));
    writeRecord(this.record);
    // IPv6 off before any link exists: no link-local addresses, DAD or router solicitations to muddy captures. A
    // dual-stack lab keeps it on, but without DAD (addresses usable at once instead of after ~1-2 s), router
    // solicitations or router advertisements: every address and route is set by hand.
    const quiet6 = { accept_dad: 0, router_solicitations: 0, accept_ra: 0 };
    await this.sysctl(
      role,
      this.o.ipv6
        ? Object.fromEntries(['all', 'default'].flatMap((d) => Object.entries(quiet6).map(([k, v]) => [`net.ipv6.conf.${d}.${k}`, v])))
        : { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 },
    );
    await this.ipn(role, ['link', 'set', 'lo', 'up']);
  }

  /** Builds the whole network: bpffs, namespaces, the switch, addresses, routes and sysctls; then reads every MAC. */
  async build(): Promise<void> {
    const xdpPass = path.join(this.repoRoot, 'build', 'bpf', 'xdp_pass.o');
    if (!fs.existsSync(xdpPass)) throw new Error(`${xdpPass} is missing: run bash scripts/build.sh first`);
    this.o.log(`building DR lab ${this.prefix}* (${this.realCount} reals), work dir ${this.o.workDir}`);

    fs.mkdirSync(this.bpffsDir, { recursive: true });
    this.record.bpffs = this.bpffsDir;
    writeRecord(this.record);
    await run('mount', ['-t', 'bpf', 'bpf', this.bpffsDir]);

    const reals = this.realNames();
    for (const role of ['client', 'router', 'sw', 'dir', ...reals]) await this.addNamespace(role);

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
    if (this.o.addVipToDirector) await this.ipn('dir', ['addr', 'add', `${ADDR.vip}/32`, 'dev', 'eth0']);

    // Reals: VIP on lo, never answer or announce it on the LAN, reply straight to the router.
    for (let i = 1; i <= this.realCount; i++) {
      const rs = `rs${i}`;
      const full = this.o.realSetup === 'full';
      await this.sysctl(rs, {
        ...(full
          ? {
              'net.ipv4.conf.all.arp_ignore': 1,
              'net.ipv4.conf.all.arp_announce': 2,
              'net.ipv4.conf.eth0.arp_ignore': 1,
              'net.ipv4.conf.eth0.arp_announce': 2,
            }
          : {}),
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
    // After every link is up: an IPv6 default route needs its gateway's /64 on a running link.
    if (this.o.ipv6) await this.addIpv6();

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
    this.o.log(`lab up: director ${this.macs.dir}, ${reals.map((r) => `${r} ${this.macs[r]}`).join(', ')}`);
  }

  /**
   * The IPv6 half of the network: the LAN /64 (router, director, reals), the client's /64 routed by the router, and
   * the VIP6 on each full real's lo as /128 (as `xlvs realserver setup` does: nothing else is needed for a real to
   * stay silent in neighbour discovery). The director learns the reals' MACs by NDP.
   */
  private async addIpv6(): Promise<void> {
    const a6 = (role: string, addr: string, plen: number, dev = 'eth0') => this.ipn(role, ['-6', 'addr', 'add', `${addr}/${plen}`, 'dev', dev, 'nodad']);
    await a6('router', ADDR.router6, ADDR.lan6Prefix);
    await a6('router', ADDR.routerOutside6, ADDR.outside6Prefix, 'eth1');
    await this.sysctl('router', { 'net.ipv6.conf.all.forwarding': 1 });
    await a6('client', ADDR.client6, ADDR.outside6Prefix);
    await this.ipn('client', ['-6', 'route', 'add', 'default', 'via', ADDR.routerOutside6]);
    await a6('dir', ADDR.director6, ADDR.lan6Prefix);
    await this.ipn('dir', ['-6', 'route', 'add', 'default', 'via', ADDR.router6]);
    if (this.o.addVipToDirector) await a6('dir', ADDR.vip6, 128);
    for (let i = 1; i <= this.realCount; i++) {
      const rs = `rs${i}`;
      if (this.o.realSetup === 'full') await a6(rs, ADDR.vip6, 128, 'lo');
      await a6(rs, realAddress6(i), ADDR.lan6Prefix);
      await this.ipn(rs, ['-6', 'route', 'add', 'default', 'via', ADDR.router6]);
    }
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

  /**
   * A second director on the switch, as a keepalived VRRP backup sits beside the master: namespace dir2, NIC lan0
   * (so its pins, under the lab's one bpffs, do not meet the first director's), address ADDR.director2 (and
   * ADDR.director2_6 in a dual-stack lab), no VIP.
   */
  async addSecondDirector(): Promise<void> {
    const role = 'dir2';
    await this.addNamespace(role);
    const port = this.swPort(role);
    await this.ipn('sw', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', this.ns(role)]);
    await this.ipn('sw', ['link', 'set', port, 'master', SW_BRIDGE]);
    await this.ipn('sw', ['link', 'set', port, 'up']);
    // veth drops frames sent with XDP_TX unless the receiving peer has an XDP program of its own.
    await this.ipn('sw', ['link', 'set', 'dev', port, 'xdpdrv', 'obj', path.join(this.repoRoot, 'build', 'bpf', 'xdp_pass.o'), 'sec', 'xdp']);
    await this.ipn(role, ['addr', 'add', `${ADDR.director2}/${ADDR.lanPrefix}`, 'dev', 'lan0']);
    await this.ipn(role, ['link', 'set', 'lan0', 'up']);
    await this.ipn(role, ['route', 'add', 'default', 'via', ADDR.router]);
    // A dual-stack backup learns the reals' IPv6 MACs by NDP from its own address in the LAN /64.
    if (this.o.ipv6) {
      await this.ipn(role, ['-6', 'addr', 'add', `${ADDR.director2_6}/${ADDR.lan6Prefix}`, 'dev', 'lan0', 'nodad']);
      await this.ipn(role, ['-6', 'route', 'add', 'default', 'via', ADDR.router6]);
    }
    this.macs[role] = await this.macOf(role, 'lan0');
  }

  /**
   * One more director on the switch (for active/active labs): namespace `role`, NIC `ifname` (its own name, so its
   * pins under the lab's one bpffs meet no other director's), `address` on the LAN, default route via the router,
   * and an XDP program on its switch port (veth drops XDP_TX frames otherwise).
   */
  async addDirectorHost(role: string, ifname: string, address: string): Promise<void> {
    await this.addNamespace(role);
    const port = this.swPort(role);
    await this.ipn('sw', ['link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', this.ns(role)]);
    await this.ipn('sw', ['link', 'set', port, 'master', SW_BRIDGE]);
    await this.ipn('sw', ['link', 'set', port, 'up']);
    await this.ipn('sw', ['link', 'set', 'dev', port, 'xdpdrv', 'obj', path.join(this.repoRoot, 'build', 'bpf', 'xdp_pass.o'), 'sec', 'xdp']);
    await this.ipn(role, ['addr', 'add', `${address}/${ADDR.lanPrefix}`, 'dev', ifname]);
    await this.ipn(role, ['link', 'set', ifname, 'up']);
    await this.ipn(role, ['route', 'add', 'default', 'via', ADDR.router]);
    this.macs[role] = await this.macOf(role, ifname);
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

  /**
   * Gives the client a second address in another /24 (ADDR.client2) and the router a leg in it, so a test can open
   * connections from two client networks (runClient's localAddress). Lives until teardown.
   */
  async addSecondClientNetwork(): Promise<void> {
    await this.ipn('router', ['addr', 'add', `${ADDR.routerOutside2}/${ADDR.outsidePrefix}`, 'dev', 'eth1']);
    await this.ipn('client', ['addr', 'add', `${ADDR.client2}/${ADDR.outsidePrefix}`, 'dev', 'eth0']);
  }
}
