// SPDX-License-Identifier: Apache-2.0
// ipvsadm-values.ts: the values ipvsadm's options carry (addresses, ports, numbers, -b flags) read as ipvsadm reads them, and IpvsadmError.

import { SCHED_FLAGS } from './config';
import type { ServiceKey } from './edits';
import { canonicalIp, isIPv4, isIPv6, splitHostPort } from './net/addr';

/** A refusal carrying ipvsadm's exit code: 2 for what ipvsadm rejects while parsing, 255 (its -1) for what the kernel refuses. */
export class IpvsadmError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'IpvsadmError';
  }
}

export const usage = (msg: string) => new IpvsadmError(msg, 2);

export type SchedFlag = (typeof SCHED_FLAGS)[number];

/** Port numbers or /etc/services names, as ipvsadm accepts them. */
export type ServiceLookup = (name: string, proto: 'tcp' | 'udp') => number | undefined;

/** A port as ipvsadm's parse_service takes it: 0..65535 (0: every port) or a service name; undefined if neither. */
export function parsePort(s: string, proto: 'tcp' | 'udp', lookup: ServiceLookup): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) <= 65535 ? Number(s) : undefined;
  return lookup(s, proto) ?? undefined;
}

/**
 * host[:port] or [v6][:port] as ipvsadm's parse_service takes them (an IPv6 address in brackets, since its colons
 * would read as the port's); no port means port 0, as in ipvsadm (which then wants -p for -A/-E). The address
 * comes back canonical (RFC 5952), the form the daemon compares.
 */
export function parseService(v: string, proto: 'tcp' | 'udp', lookup: ServiceLookup): ServiceKey {
  const bad = () => usage('illegal virtual server address[:port] specified');
  const hp = hostPortOf(v);
  if (!hp) throw bad();
  const port = hp.port === undefined ? 0 : parsePort(hp.port, proto, lookup);
  if (port === undefined) throw bad();
  return { vip: hp.host, port, protocol: proto };
}

/** "A.B.C.D[:port]", "[V6][:port]", or (a real only) a bare IPv6 address; the host canonical, null when it is no address. */
export function hostPortOf(v: string, bareV6 = false): { host: string; port?: string } | null {
  const hp = splitHostPort(v);
  if (!hp) return null;
  const ok = v.startsWith('[') ? isIPv6(hp.host) : isIPv4(hp.host) || (bareV6 && hp.port === undefined && isIPv6(hp.host));
  return ok ? { host: canonicalIp(hp.host), ...(hp.port !== undefined ? { port: hp.port } : {}) } : null;
}

/** A whole number in lo..hi written in decimal, or undefined (ipvsadm's string_to_number). */
export function number(s: string, lo: number, hi: number): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= lo && n <= hi ? n : undefined;
}

/**
 * -b as ipvsadm 1.31's parse_sched_flags reads it (names checked against the scheduler whatever the option order).
 * flag-1 and flag-2 are IPVS's generic names of the fallback and port flags of sh and mh; anywhere else (and flag-3
 * always) they would mean nothing to xlvs, so they are refused rather than silently dropped.
 */
export function parseSchedFlags(arg: string, scheduler: string): SchedFlag[] {
  const tokens = arg.split(',').filter(Boolean);
  if (!tokens.length) throw usage(`invalid scheduler flag \`${arg}'`);
  const got = new Set<string>();
  for (const f of tokens) {
    if (f === 'flag-1' || f === 'flag-2' || f === 'flag-3') {
      if (f === 'flag-3' || (scheduler !== 'sh' && scheduler !== 'mh'))
        throw usage(`scheduler flag ${f} means nothing to scheduler ${scheduler} in xlvs (flag-1 and flag-2 are the fallback and port flags of sh and mh)`);
      got.add(`${scheduler}-${f === 'flag-1' ? 'fallback' : 'port'}`);
    } else if ((SCHED_FLAGS as readonly string[]).includes(f)) {
      if (!f.startsWith(`${scheduler}-`)) throw usage(`incompatible scheduler flag \`${f}'`);
      got.add(f);
    } else throw usage(`invalid scheduler flag \`${f}'`);
  }
  return SCHED_FLAGS.filter((f) => got.has(f));
}
