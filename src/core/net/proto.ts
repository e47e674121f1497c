// SPDX-License-Identifier: Apache-2.0
// proto.ts: transport protocols as xlvs names them: IP protocol numbers, the config's tcp/udp, and ipvsadm's TCP/UDP.

/** IP protocol numbers (IANA; the kernel's IPPROTO_*), as packets, the ABI's keys and IPVS's sync records carry them. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** The transports a service can have, as the config and the API write them. */
export const PROTOCOLS = ['tcp', 'udp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** The IP protocol number of a service's transport. */
export function protoNumber(p: Protocol): number {
  return p === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
}

/** The transport of a protocol number, or undefined for one a service cannot have (ICMP, SCTP...). */
export function protoOf(n: number): Protocol | undefined {
  return n === IPPROTO_TCP ? 'tcp' : n === IPPROTO_UDP ? 'udp' : undefined;
}

/** A protocol number as a word: tcp, udp, or the number itself for anything else (logs, sync records). */
export function protoText(n: number): string {
  return protoOf(n) ?? String(n);
}

/** Either spelling of a transport (the config's name or the datapath's number) as a word: tcp, udp, or the number. */
export function protoWord(p: Protocol | number): string {
  return typeof p === 'string' ? p : protoText(p);
}

/** ipvsadm's column and prefix word: TCP or UDP (any other number as itself). */
export function ipvsadmProto(p: Protocol | number): string {
  return protoWord(p).toUpperCase();
}
