// SPDX-License-Identifier: Apache-2.0
// ownaddr.ts: the rule that keeps a VIP off the director's own addresses, decided over an injected list of host addresses.

import type { Config } from './config';

/** One IPv4 address of the host, as `ip -4 addr` lists it. */
export interface HostAddress {
  ifname: string;
  local: string;
  prefixlen: number;
  /** Another address of a subnet the interface already has (iproute2's "secondary"). */
  secondary?: boolean;
}

/**
 * A VIP must not be one of the director's own addresses: the datapath would take the director's own traffic on that
 * address (SSH, the health checks' source, ARP) and forward it to the reals, and `manage_vips` would treat the address
 * as a VIP it may remove.
 *
 * "Own" means a primary address with a prefix shorter than /32: the address the interface was given for its subnet.
 * A /32 is how a VIP is held (xlvs adds each VIP as /32 under manage_vips, so a VIP it added before a restart or a
 * reload passes), and so is a secondary address in the director's subnet (keepalived's `10.0.0.100/24 dev eth0`);
 * neither is refused. Every interface counts, not only the configured one: a VIP equal to another interface's address
 * would still take that address's packets arriving on the director's interface.
 */
export function vipAddressProblems(cfg: Pick<Config, 'services'>, host: readonly HostAddress[]): string[] {
  const own = new Map<string, HostAddress>();
  for (const a of host) if (a.prefixlen < 32 && !a.secondary && !own.has(a.local)) own.set(a.local, a);
  const problems: string[] = [];
  cfg.services.forEach((s, i) => {
    const a = own.get(s.vip);
    if (!a) return;
    problems.push(
      `services[${i}].vip: ${s.vip} is this director's own address (${a.local}/${a.prefixlen} on ${a.ifname}); the datapath would forward the director's own traffic to the reals: use an address of its own for the VIP`,
    );
  });
  return problems;
}
