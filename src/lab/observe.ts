// SPDX-License-Identifier: Apache-2.0
// observe.ts: what a test reads off the lab: packet captures, reply-path counters, ARP replies, neighbour entries and addresses, and the director's status.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StatusJson } from '../cli/commands/status';
import { type NdpFrame, parseNdp } from '../core/ndp';
import { canonicalIp } from '../core/net/addr';
import { ADDR } from './addr';
import { parsePcap } from './pcap';
import type { Processes } from './processes';
import { sleep } from './run';
import type { Topology } from './topology';

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
    'pass_not_ipv4' | 'pass_malformed' | 'pass_fragment' | 'pass_no_service' | 'tx_existing' | 'tx_stateless' | 'tx_new' | 'drop_no_real' | 'aborted',
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

export class Observer {
  constructor(
    private readonly net: Topology,
    private readonly procs: Processes,
    private readonly workDir: string,
  ) {}

  /** `xlvs status --interface eth0 --json`, parsed. */
  async directorStatus(iface = 'eth0'): Promise<DirectorStatus> {
    const r = await this.procs.xlvs(['status', '--interface', iface, '--json'], { timeoutMs: 20000 });
    try {
      return JSON.parse(r.stdout) as DirectorStatus;
    } catch {
      throw new Error(`xlvs status printed no JSON:\n${r.stdout}\n${r.stderr}`);
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
    const child = this.net.spawnTracked([
      'ip',
      'netns',
      'exec',
      this.net.ns(role),
      'tcpdump',
      '-i',
      ifname,
      '-Q',
      direction,
      '-n',
      '-U',
      '-B',
      '32768',
      '-s',
      '0',
      '-Z',
      'root',
      '-w',
      file,
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
    const port = this.net.swPort('dir');
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
    const reals = this.net.realNames();
    const macs = reals.map((r) => this.net.macs[r]);
    const router = [
      'table netdev xlvslab {',
      ...reals.map((r) => `  counter from_${r} { }`),
      '  counter from_other { }',
      '  chain ingress {',
      '    type filter hook ingress device "eth0" priority 0; policy accept;',
      ...reals.map((r) => `    ip saddr ${ADDR.vip} ether saddr ${this.net.macs[r]} counter name "from_${r}"`),
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
    await this.net.exec('router', ['nft', '-f', '-'], { input: router });
    await this.net.exec('dir', ['nft', '-f', '-'], { input: director });
  }

  async readReplyPathCounters(): Promise<ReplyPathCounters> {
    const read = async (role: string): Promise<Map<string, number>> => {
      const r = await this.net.exec(role, ['nft', '-j', 'list', 'counters', 'table', 'netdev', 'xlvslab']);
      const j = JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number } }[] };
      const m = new Map<string, number>();
      for (const e of j.nftables) if (e.counter) m.set(e.counter.name, e.counter.packets);
      return m;
    };
    const router = await read('router');
    const dir = await read('dir');
    const routerFromReal: Record<string, number> = {};
    for (const r of this.net.realNames()) routerFromReal[r] = router.get(`from_${r}`) ?? NaN;
    return { routerFromReal, routerFromOther: router.get('from_other') ?? NaN, directorIngress: dir.get('vip_ingress') ?? NaN };
  }

  /**
   * Broadcast ARP requests for ip from a role's interface (arping -b, so every request is broadcast and any host
   * may answer). Returns the MAC of every reply.
   */
  /** `xlvs status --json` inside a director's namespace with the run's bpffs, asking the daemon on `socket` if given. */
  async statusJson(role: string, ifname: string, socket?: string): Promise<StatusJson> {
    const argv = [this.procs.xlvsBin(), 'status', '--interface', ifname, ...(socket ? ['--socket', socket] : []), '--json'];
    return JSON.parse((await this.net.exec(role, this.net.directorArgv(argv))).stdout) as StatusJson;
  }

  async arping(role: string, ifname: string, ip: string, count = 5): Promise<{ replies: string[]; output: string }> {
    const r = await this.net.exec(role, ['arping', '-b', '-c', String(count), '-w', String(count + 2), '-I', ifname, ip], { allowFail: true });
    const replies: string[] = [];
    for (const m of r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)) replies.push(m[1].toLowerCase());
    return { replies, output: r.stdout + r.stderr };
  }

  /** The lladdr of a role's neighbour entry for ip on dev, or null. */
  async neighbourMac(role: string, ip: string, dev: string): Promise<string | null> {
    const r = await this.net.ipn(role, ['-j', 'neigh', 'show', ip, 'dev', dev]);
    const j = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
    return j[0]?.lladdr?.toLowerCase() ?? null;
  }

  /**
   * Makes role resolve target by neighbour discovery (its entry flushed, then one ping: a multicast solicitation
   * every host on the LAN hears) and returns the neighbour advertisements for target that came back to it.
   */
  async solicit6(role: string, ifname: string, target: string): Promise<NdpFrame[]> {
    await this.net.ipn(role, ['-6', 'neigh', 'flush', 'to', target, 'dev', ifname]);
    const cap = await this.startCapture(role, ifname, `ndp-${role}-${target.replace(/:/g, '_')}-${Date.now()}.pcap`, 'in');
    await this.net.exec(role, ['ping', '-6', '-n', '-c', '1', '-W', '1', '-I', ifname, target], { allowFail: true });
    const res = await cap.stop();
    const want = canonicalIp(target);
    return parsePcap(fs.readFileSync(res.file))
      .records.map((r) => parseNdp(r.data))
      .filter((f): f is NdpFrame => f?.type === 'na' && canonicalIp(f.target) === want);
  }

  /** IPv4 addresses on a role's interface. */
  async addresses(role: string, ifname: string): Promise<string[]> {
    const r = await this.net.ipn(role, ['-j', '-4', 'addr', 'show', 'dev', ifname]);
    const j = JSON.parse(r.stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    return (j[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  }
}
