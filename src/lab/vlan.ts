// SPDX-License-Identifier: Apache-2.0
// vlan.ts: 802.1Q VLANs on the lab's switch: the director's eth0 a trunk, the router on every VLAN, each real on one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './run';
import type { Topology } from './topology';

export interface VlanSpec {
  /** VLAN id (1..4094). */
  id: number;
  /** Reals on this VLAN (rsN): each gets eth0.<id> with 10.<id>.0.(10+N), the VLAN's VIP on lo and its default route there. */
  reals: string[];
}

/** A VLAN's addressing: 10.<id>.0.0/24 (ids up to 255 keep that a valid address). */
export function vlanAddr(id: number): { router: string; director: string; vip: string; real: (n: number) => string; prefix: number } {
  return {
    router: `10.${id}.0.1`,
    director: `10.${id}.0.2`,
    vip: `10.${id}.0.100`,
    real: (n) => `10.${id}.0.${10 + n}`,
    prefix: 24,
  };
}

/**
 * VLANs over the lab's switch. The switch (a bridge without VLAN filtering) carries tagged frames as they are; the
 * hosts tag and untag. The kernel this runs on may lack VLAN devices (CONFIG_VLAN_8021Q), so each eth0.<id> is one
 * end of a veth pair with eth0's MAC, and two tc programs (bpf/lab/vlanport.bpf.c, compiled per host with its
 * ifindexes) move frames: eth0's ingress pops a tag of the host's VLAN and hands the frame to eth0.<id>; what eth0.<id>
 * sends gets the tag pushed and leaves by eth0. The director's XDP program on eth0 runs before tc, so it sees every
 * frame as a trunk port delivers it: tagged inline (the switch's port towards it has VLAN transmit offload off, so
 * the bridge writes the tag into the frame rather than beside it).
 */
export class VlanLab {
  private built = false;

  constructor(
    private readonly net: Topology,
    private readonly o: { workDir: string; log: (l: string) => void },
  ) {}

  async build(vlans: VlanSpec[]): Promise<void> {
    if (this.built) throw new Error('the lab has its VLANs already');
    if (!vlans.length || vlans.length > 2 || vlans.some((v) => !Number.isInteger(v.id) || v.id < 1 || v.id > 255))
      throw new Error(`one or two VLANs with ids 1..255: ${JSON.stringify(vlans)}`);
    this.built = true;
    const on = new Map<string, number[]>([
      ['router', vlans.map((v) => v.id)],
      ['dir', vlans.map((v) => v.id)],
    ]);
    for (const v of vlans) for (const r of v.reals) on.set(r, [...(on.get(r) ?? []), v.id]);
    // The trunk towards the director: tags written into the frame, where XDP reads them (veth would carry them beside it).
    await this.net.exec('sw', ['ethtool', '-K', this.net.swPort('dir'), 'txvlan', 'off']);
    for (const [host, ids] of on) await this.hostVlans(host, ids);
    for (const v of vlans) {
      const a = vlanAddr(v.id);
      await this.net.ipn('router', ['addr', 'add', `${a.router}/${a.prefix}`, 'dev', `eth0.${v.id}`]);
      await this.net.exec('router', ['ethtool', '-K', `eth0.${v.id}`, 'tx', 'off']);
      await this.net.ipn('dir', ['addr', 'add', `${a.director}/${a.prefix}`, 'dev', `eth0.${v.id}`]);
      for (const r of v.reals) {
        const n = Number(r.replace(/^rs/, ''));
        await this.net.ipn(r, ['addr', 'add', `${a.real(n)}/${a.prefix}`, 'dev', `eth0.${v.id}`]);
        await this.net.ipn(r, ['addr', 'add', `${a.vip}/32`, 'dev', 'lo']);
        await this.net.ipn(r, ['route', 'replace', 'default', 'via', a.router, 'dev', `eth0.${v.id}`]);
        await this.net.exec(r, ['ethtool', '-K', `eth0.${v.id}`, 'tx', 'off']);
      }
    }
    this.o.log(`VLANs up: ${vlans.map((v) => `${v.id} (${v.reals.join(', ')})`).join('; ')}`);
  }

  /** eth0.<id> for each of a host's VLANs, and the tc programs that tag and untag for them. */
  private async hostVlans(host: string, ids: number[]): Promise<void> {
    const mac = this.net.macs[host];
    if (!mac) throw new Error(`no MAC for ${host}`);
    const defines: string[] = [`-DLAB_TRUNK=${await this.ifindex(host, 'eth0')}`];
    for (const [i, id] of ids.entries()) {
      const dev = `eth0.${id}`;
      const peer = `vq${id}`;
      await this.net.ipn(host, ['link', 'add', dev, 'type', 'veth', 'peer', 'name', peer]);
      await this.net.ipn(host, ['link', 'set', dev, 'address', mac]);
      await this.net.ipn(host, ['link', 'set', dev, 'up']);
      await this.net.ipn(host, ['link', 'set', peer, 'up']);
      defines.push(`-DLAB_V${i + 1}=${id}`, `-DLAB_D${i + 1}=${await this.ifindex(host, dev)}`, `-DLAB_Q${i + 1}=${await this.ifindex(host, peer)}`);
    }
    const obj = await this.compile(host, defines);
    await this.net.exec(host, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'clsact']);
    await this.net.exec(host, ['tc', 'filter', 'add', 'dev', 'eth0', 'ingress', 'bpf', 'direct-action', 'obj', obj, 'sec', 'tc', 'program', 'vlan_down']);
    for (const id of ids) {
      await this.net.exec(host, ['tc', 'qdisc', 'add', 'dev', `vq${id}`, 'clsact']);
      await this.net.exec(host, ['tc', 'filter', 'add', 'dev', `vq${id}`, 'ingress', 'bpf', 'direct-action', 'obj', obj, 'sec', 'tc', 'program', 'vlan_up']);
    }
  }

  private async ifindex(host: string, dev: string): Promise<number> {
    const j = JSON.parse((await this.net.ipn(host, ['-j', 'link', 'show', 'dev', dev])).stdout) as { ifindex: number }[];
    const n = j[0]?.ifindex;
    if (!n) throw new Error(`no ifindex for ${host}/${dev}`);
    return n;
  }

  private async compile(host: string, defines: string[]): Promise<string> {
    const src = path.join(this.net.repoRoot, 'bpf', 'lab', 'vlanport.bpf.c');
    const obj = path.join(this.o.workDir, `vlanport-${host}.o`);
    const arch = (await run('uname', ['-m'])).stdout.trim();
    await run('clang', ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', `-I/usr/include/${arch}-linux-gnu`, ...defines, '-c', src, '-o', obj]);
    if (!fs.existsSync(obj)) throw new Error(`clang made no ${obj}`);
    return obj;
  }
}
