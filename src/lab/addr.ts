// SPDX-License-Identifier: Apache-2.0
// addr.ts: the lab's fixed addressing (LAN, VIP, reals, client networks; IPv6 beside IPv4), shared by the topology, the processes and the tests.

/** Fixed addressing of the lab; tests refer to these rather than repeating literals. */
export const ADDR = {
  lanPrefix: 24,
  router: '10.0.0.1',
  director: '10.0.0.2',
  /** A second director (a VRRP backup), added on demand by addSecondDirector(); its NIC is lan0. */
  director2: '10.0.0.3',
  vip: '10.0.0.100',
  realBase: 11, // rsN is 10.0.0.(10+N)
  client: '203.0.113.10',
  routerOutside: '203.0.113.1',
  outsidePrefix: 24,
  /** A second client network (another /24), added on demand by addSecondClientNetwork(). */
  client2: '198.51.100.10',
  routerOutside2: '198.51.100.1',
  /** IPv6 (a lab built with ipv6: true): the LAN is one /64, the client has a /64 of its own behind the router. */
  lan6Prefix: 64,
  router6: '2001:db8::1',
  director6: '2001:db8::2',
  /** The second director's IPv6 address (addSecondDirector in a dual-stack lab). */
  director2_6: '2001:db8::3',
  vip6: '2001:db8::100',
  client6: '2001:db8:c::10',
  routerOutside6: '2001:db8:c::1',
  outside6Prefix: 64,
} as const;

export function realAddress(n: number): string {
  return `10.0.0.${ADDR.realBase + n - 1}`;
}

/** rsN's IPv6 address: 2001:db8::(10+N), the same digits as its IPv4 address ends in. */
export function realAddress6(n: number): string {
  return `2001:db8::${ADDR.realBase + n - 1}`;
}
