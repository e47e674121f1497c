// SPDX-License-Identifier: Apache-2.0
// realserver-ndp.ts: the IPv6 checks of a real server: IPv6 on, silent in neighbour discovery for each VIP (no proxy entry, no anycast), a default route for replies.

import type { CheckResult } from './checkreport';
import { canonicalIp, ipToBytes, isIP, isIPv6 } from './net/addr';
import { type RsHost, type RsHost6, sysctl6Dotted, sysctlKey } from './realserver-host';

/*
 * Why a Linux real needs no sysctl for IPv6 (what arp_ignore/arp_announce do for IPv4):
 * - ndisc_recv_ns (net/ipv6/ndisc.c) looks the target up with ipv6_get_ifaddr(net, target, dev, strict=1), on the
 *   receiving interface only: a VIP held on lo is never answered for on eth0 (checked in the lab: an NS for the VIP
 *   reaches the real and no advertisement comes back).
 * - It answers for an address it does not hold only if the address is an anycast address on that interface (the
 *   subnet-router anycast of each of its prefixes, joined while forwarding) or, with forwarding and proxy_ndp on, has a
 *   proxy entry (`ip -6 neigh add proxy`). Those two are what this check looks for.
 * - The solicitations it sends to resolve its router take their source from the outgoing interface, never from the
 *   packet when the packet's source (the VIP) is not on that interface: the VIP never appears as a sender.
 */

function v6sysctl(h: RsHost6, dev: string, name: string): number | undefined {
  return h.sysctl[sysctlKey(dev, name)];
}

/** The subnet-router anycast address (RFC 4291 2.6.1: the prefix, zeros after) of addr/prefixlen. */
export function subnetRouterAnycast(addr: string, prefixlen: number): string {
  const b = Uint8Array.from(ipToBytes(addr));
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefixlen - 8 * i));
    b[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return canonicalIp(words.join(':'));
}

/**
 * What would make this host answer neighbour solicitations for vip arriving on dev, each as a sentence; [] when
 * nothing does (the VIP on another interface is the vip-on-lo check's business).
 */
export function ndpAnswerers(host: RsHost, h: RsHost6, vip: string, dev: string): string[] {
  const out: string[] = [];
  const forwarding = (v6sysctl(h, dev, 'forwarding') ?? 0) > 0;
  const proxyNdp = (v6sysctl(h, 'all', 'proxy_ndp') ?? 0) > 0 || (v6sysctl(h, dev, 'proxy_ndp') ?? 0) > 0;
  const want = canonicalIp(vip);
  for (const p of h.proxies) {
    if (p.dev !== dev || !isIP(p.address) || canonicalIp(p.address) !== want) continue;
    const when = forwarding && proxyNdp ? 'forwarding and proxy_ndp on: it answers' : 'answered as soon as forwarding and proxy_ndp are on';
    out.push(`a proxy neighbour entry for ${vip} on ${dev} (${when})`);
  }
  if (forwarding) {
    for (const a of host.addrs) {
      if (a.dev !== dev || !isIPv6(a.local) || a.prefixlen >= 127) continue;
      if (subnetRouterAnycast(a.local, a.prefixlen) === want) {
        out.push(`${vip} is the subnet-router anycast address of ${a.local}/${a.prefixlen} on ${dev}, which a forwarding host answers for`);
      }
    }
  }
  return out;
}

/** The IPv6 checks for one VIP: IPv6 enabled on lo and the NIC, and nothing making the host answer solicitations for it. */
export function evaluateNdpVip(host: RsHost, vip: string, dev: string): CheckResult[] {
  const h = host.ipv6;
  if (!h) return [{ check: 'ndp-silent', vip, status: 'skip', detail: 'the IPv6 settings were not read' }];
  const out: CheckResult[] = [];
  const off = ['all', 'lo', dev].filter((d) => v6sysctl(h, d, 'disable_ipv6') !== 0);
  if (off.length) {
    const settings = off.map((d) => `${sysctl6Dotted(sysctlKey(d, 'disable_ipv6'))}=${v6sysctl(h, d, 'disable_ipv6') ?? '?'}`).join(', ');
    out.push({
      check: 'ipv6',
      vip,
      status: 'fail',
      detail: `IPv6 is off or unreadable on ${off.join(', ')} (${settings}): ${vip} cannot be held or reached`,
      hint: `sysctl -w ${off.map((d) => `${sysctl6Dotted(sysctlKey(d, 'disable_ipv6'))}=0`).join(' ')}`,
    });
  } else {
    out.push({ check: 'ipv6', vip, status: 'pass', detail: `IPv6 on for lo and ${dev}` });
  }
  const answerers = ndpAnswerers(host, h, vip, dev);
  if (answerers.length) {
    const proxy = h.proxies.find((p) => p.dev === dev && isIP(p.address) && canonicalIp(p.address) === canonicalIp(vip));
    out.push({
      check: 'ndp-silent',
      vip,
      status: 'fail',
      detail: `${answerers.join('; ')}: the router may send clients here instead of to the director`,
      hint: proxy
        ? `ip -6 neigh del proxy ${vip} dev ${dev}`
        : `give the VIP an address other than a subnet-router anycast, or sysctl -w ${sysctl6Dotted(sysctlKey(dev, 'forwarding'))}=0`,
    });
  } else {
    out.push({
      check: 'ndp-silent',
      vip,
      status: 'pass',
      detail: `does not answer neighbour solicitations for ${vip} on ${dev} (only the receiving interface's addresses are answered; no proxy entry, no anycast)`,
    });
  }
  return out;
}

/** IPv6 replies to clients off the segment need an IPv6 default route, and not one through the director. */
export function evaluateDefaultRoute6(host: RsHost, dev: string, director?: string): CheckResult {
  const defaults = host.ipv6?.defaultRoutes ?? [];
  if (!defaults.length) {
    return {
      check: 'default-route6',
      status: 'fail',
      detail: 'no IPv6 default route: replies to IPv6 clients off the segment have no way out',
      hint: `ip -6 route add default via <router> dev ${dev}`,
    };
  }
  const desc = defaults.map((d) => `${d.gateway ? `via ${d.gateway} ` : ''}dev ${d.dev}`).join(', ');
  const dir = director && isIPv6(director) ? canonicalIp(director) : undefined;
  if (dir && defaults.some((d) => d.gateway && isIP(d.gateway) && canonicalIp(d.gateway) === dir)) {
    return {
      check: 'default-route6',
      status: 'fail',
      detail: `IPv6 default route ${desc} goes through the director: DR replies must go straight to the router`,
      hint: `ip -6 route replace default via <router> dev ${dev}`,
    };
  }
  return { check: 'default-route6', status: 'pass', detail: `IPv6 default route ${desc}` };
}
