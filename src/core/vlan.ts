// SPDX-License-Identifier: Apache-2.0
// vlan.ts: which device each VIP and real is on when services name a VLAN of the XDP interface (a trunk): the VLAN device is <interface>.<id>.

import type { Config } from './config-schema';

/**
 * The device a service's VIP and reals are on: the interface itself, or its VLAN device named as iproute2's
 * examples and Debian's ifupdown name them (eth0.10). The datapath needs no VLAN state (a frame leaves tagged as it
 * came); the kernel's VLAN device is where the reals' MACs are resolved and the VIP answers ARP on that VLAN.
 */
export function vlanDevice(iface: string, vlan: number | undefined): string {
  return vlan ? `${iface}.${vlan}` : iface;
}

type VlanConfig = Pick<Config, 'interface' | 'services'>;

/** Each real's (and sorry server's) address -> the device its MAC is resolved on. */
export function realDevices(cfg: VlanConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of cfg.services) {
    const dev = vlanDevice(cfg.interface, s.vlan);
    for (const r of s.reals) if (!out.has(r.address)) out.set(r.address, dev);
    if (s.sorry_server && !out.has(s.sorry_server)) out.set(s.sorry_server, dev);
  }
  return out;
}

/** Each VIP -> the device it is added to (and answers ARP on). */
export function vipDevices(cfg: VlanConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of cfg.services) if (!out.has(s.vip)) out.set(s.vip, vlanDevice(cfg.interface, s.vlan));
  return out;
}

/** Every device the config's services use: the interface first, then VLAN devices in order of first use. */
export function configDevices(cfg: VlanConfig): string[] {
  return [...new Set([cfg.interface, ...cfg.services.map((s) => vlanDevice(cfg.interface, s.vlan))])];
}

/** Groups addresses by the device they are resolved on (addresses no service names go to the interface). */
export function byDevice(devices: ReadonlyMap<string, string>, iface: string, addresses: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of addresses) {
    const d = devices.get(a) ?? iface;
    const list = out.get(d);
    if (list) list.push(a);
    else out.set(d, [a]);
  }
  return out;
}

/**
 * A VIP or real on two VLANs is two hosts the datapath cannot tell apart (it keys flows and reals by address alone),
 * and a VLAN device name must fit the kernel's 15 bytes.
 */
export function vlanProblems(cfg: VlanConfig): string[] {
  const problems: string[] = [];
  const vipAt = new Map<string, { i: number; vlan: number }>();
  const realAt = new Map<string, { i: number; vlan: number }>();
  cfg.services.forEach((s, i) => {
    const vlan = s.vlan ?? 0;
    const dev = vlanDevice(cfg.interface, s.vlan);
    if (dev.length > 15) problems.push(`services[${i}].vlan: ${vlan}: the VLAN device name ${JSON.stringify(dev)} is longer than 15 bytes`);
    const v = vipAt.get(s.vip);
    if (v && v.vlan !== vlan) problems.push(`services[${i}].vlan: ${vlan || 'none'}: VIP ${s.vip} is on ${onVlan(v.vlan)} in services[${v.i}]`);
    else if (!v) vipAt.set(s.vip, { i, vlan });
    s.reals.forEach((r, j) => {
      const p = realAt.get(r.address);
      if (p && p.vlan !== vlan)
        problems.push(`services[${i}].reals[${j}].address: ${r.address} is on ${onVlan(vlan)} here and on ${onVlan(p.vlan)} in services[${p.i}]`);
      else if (!p) realAt.set(r.address, { i, vlan });
    });
  });
  return problems;
}

const onVlan = (vlan: number): string => (vlan ? `VLAN ${vlan}` : 'no VLAN');
