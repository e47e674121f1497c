// SPDX-License-Identifier: Apache-2.0
// router-arp.ts: `xlvs router-arp`: the static ARP entry that pins each VIP to the director's MAC on a router you control, and when that cannot work.

import type { Command } from 'commander';
import { interfaceExists, interfaceInfo } from '../../adapters/host';
import { UsageError } from '../../core/errors';
import { isMac } from '../../core/packets';
import { loadConfigFile, parseIfName, parseVips } from '../options';

interface Opts {
  vip?: string[];
  interface?: string;
  config?: string;
  mac?: string;
  routerDev: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Cisco writes MACs as three dot-separated groups of four hex digits. */
export function ciscoMac(mac: string): string {
  const h = mac.replace(/:/g, '').toLowerCase();
  return `${h.slice(0, 4)}.${h.slice(4, 8)}.${h.slice(8, 12)}`;
}

export function routerArpText(vips: string[], mac: string, source: string, routerDev: string): string {
  const lines = [
    `# Static ARP on a router you control: each VIP pinned to the director's MAC ${mac} (${source}).`,
    '# The router then never asks who has a VIP, so no real server can answer for it, whatever its own ARP settings.',
    '',
    `# Linux (iproute2), on the router; ${routerDev} is its interface on the director's segment:`,
    ...vips.map((v) => `ip neigh replace ${v} lladdr ${mac} dev ${routerDev} nud permanent`),
    '',
    '# Cisco IOS (global configuration):',
    ...vips.map((v) => `arp ${v} ${ciscoMac(mac)} ARPA`),
    '',
    "# Juniper Junos (on the unit that holds the router's address on the segment):",
    ...vips.map((v) => `set interfaces ${routerDev} unit 0 family inet address <router-address/prefix> arp ${v} mac ${mac}`),
    '',
    '# When this cannot be used:',
    "#  - the router is not yours (a hosting provider's or ISP's gateway): you cannot add entries to its ARP table;",
    '#  - the VIP is a public address your provider delivers by ARP from their router: the same, it is their table;',
    '#  - the director fails over to a standby (keepalived/VRRP): a static entry pins one MAC, so the standby would',
    '#    get nothing until the entry is changed (or both directors share a virtual MAC);',
    "#  - the director's MAC changes (new NIC, a VM moved to another host): the entry must be updated by hand.",
    '# Otherwise keep the real servers quiet instead, on each of them:',
    ...vips.map((v) => `#   xlvs realserver setup --vip ${v}`),
    '',
  ];
  return lines.join('\n');
}

export function registerRouterArp(program: Command): void {
  program
    .command('router-arp')
    .description("print the static ARP entry that pins each VIP to the director's MAC on a router you control")
    .option('--vip <ip>', 'a VIP (repeatable; default: every VIP of --config)', collect)
    .option('-i, --interface <name>', "the director's interface whose MAC the VIPs go to")
    .option('-c, --config <file>', "the director's config (its interface, and its VIPs unless --vip)")
    .option('--mac <mac>', "the director's MAC, when running elsewhere")
    .option('--router-dev <name>', "the router's interface on the director's segment", '<router-if>')
    .option('--json', 'machine-readable output')
    .action((o: Opts) => {
      if (o.interface !== undefined && o.config !== undefined) throw new UsageError('give --config or --interface, not both');
      const cfg = o.config !== undefined ? loadConfigFile(o.config) : undefined;
      const vips = o.vip?.length ? parseVips(o.vip) : cfg ? [...new Set(cfg.services.map((s) => s.vip))] : parseVips(o.vip);
      if (vips.length === 0) throw new UsageError(`--config ${JSON.stringify(o.config)}: has no services; give --vip`);
      let mac: string;
      let source: string;
      if (o.mac !== undefined) {
        if (!isMac(o.mac)) throw new UsageError(`--mac ${JSON.stringify(o.mac)}: not a MAC address (aa:bb:cc:dd:ee:ff)`);
        mac = o.mac.toLowerCase();
        source = 'given with --mac';
      } else {
        const dev = o.interface !== undefined ? parseIfName('--interface', o.interface) : cfg?.interface;
        if (dev === undefined) throw new UsageError("give --interface, --config or --mac for the director's MAC");
        if (!interfaceExists(dev))
          throw new UsageError(`${o.interface !== undefined ? '--interface' : 'interface'} ${JSON.stringify(dev)}: no such interface on this host`);
        mac = interfaceInfo(dev).mac.toLowerCase();
        source = `${dev} on this host`;
      }
      const routerDev = o.routerDev;
      // Not the kernel's interface-name rule (net/ifname.ts): the router may be a Junos box with names like ge-0/0/0.
      if (!/^\S{1,64}$/.test(routerDev)) throw new UsageError(`--router-dev ${JSON.stringify(routerDev)}: not an interface name`);
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify(
            {
              vips,
              mac,
              linux: vips.map((v) => `ip neigh replace ${v} lladdr ${mac} dev ${routerDev} nud permanent`),
              cisco: vips.map((v) => `arp ${v} ${ciscoMac(mac)} ARPA`),
            },
            null,
            2,
          )}\n`,
        );
      } else {
        process.stdout.write(routerArpText(vips, mac, source, routerDev));
      }
    });
}
