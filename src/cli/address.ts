// SPDX-License-Identifier: Apache-2.0
// address.ts: one address syntax for every verb: a service as VIP:PORT or [V6]:PORT (or -t/-u), a real as RIP[:PORT] (or -r); old flags as hidden aliases.

import { type Command, Option } from 'commander';
import type { ServiceKey } from '../core/edits';
import { UsageError } from '../core/errors';
import { canonicalIp, familyOf, isIP, isIPv4, isIPv6, splitHostPort } from '../core/net/addr';

/** Where a service can come from on the command line; every field is what commander parsed, unchecked. */
export interface ServiceOpts {
  tcpService?: string;
  udpService?: string;
  protocol?: string;
  /** Deprecated aliases (one release): --vip IP --port N. */
  vip?: string;
  port?: string;
}

export interface RealOpts {
  realServer?: string;
  /** Deprecated alias (one release): --address IP. */
  address?: string;
}

/**
 * "A.B.C.D:PORT" or "[V6]:PORT", port 0..65535 (0: an all-ports service); `name` is the argument or flag the error
 * names. The address comes back in canonical text (RFC 5952 for IPv6), the form the config and the API compare.
 */
export function parseServiceAddress(name: string, v: string): { vip: string; port: number } {
  const hp = splitHostPort(v);
  const what = `${name} ${JSON.stringify(v)}`;
  if (hp && hp.port === undefined && isIPv6(hp.host) && !v.startsWith('['))
    throw new UsageError(`${what}: an IPv6 service is written in brackets with its port, e.g. [${hp.host}]:80`);
  if (!hp || hp.port === undefined) throw new UsageError(`${what}: expected an address and a port, e.g. 10.0.0.100:80 or [2001:db8::100]:80`);
  if (v.startsWith('[') ? !isIPv6(hp.host) : !isIPv4(hp.host))
    throw new UsageError(`${what}: ${JSON.stringify(hp.host)} is not an ${v.startsWith('[') ? 'IPv6' : 'IPv4'} address`);
  const port = Number(hp.port);
  if (!/^\d{1,5}$/.test(hp.port) || port > 65535)
    throw new UsageError(`${what}: port ${JSON.stringify(hp.port)} must be an integer in 0..65535 (0: an all-ports service)`);
  return { vip: canonicalIp(hp.host), port };
}

/**
 * "RIP", "RIP:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address; direct routing cannot change the port, so a port
 * must be the service's (as ipvsadm -g), and a real is of its service's family (given, the service's VIP).
 */
export function parseRealAddress(name: string, v: string, servicePort: number, serviceVip?: string): string {
  const hp = splitHostPort(v);
  const what = `${name} ${JSON.stringify(v)}`;
  const bracketed = v.startsWith('[');
  if (!hp || (bracketed ? !isIPv6(hp.host) : !isIP(hp.host))) throw new UsageError(`${what}: not an IPv4 or IPv6 address`);
  if (hp.port !== undefined) {
    if (!/^\d{1,5}$/.test(hp.port) || Number(hp.port) > 65535) throw new UsageError(`${what}: port ${JSON.stringify(hp.port)} must be an integer in 0..65535`);
    if (Number(hp.port) !== servicePort && servicePort !== 0)
      throw new UsageError(`${what}: port ${hp.port} differs from the service's ${servicePort} (direct routing keeps the port)`);
  }
  if (serviceVip !== undefined && familyOf(hp.host) !== familyOf(serviceVip))
    throw new UsageError(
      `${what}: an IPv${familyOf(hp.host)} real cannot serve the IPv${familyOf(serviceVip)} service ${serviceVip} (direct routing keeps the address family)`,
    );
  return canonicalIp(hp.host);
}

/** The service options every verb takes; `positional` adds the [VIP:PORT] argument (commands with their own arguments leave it out). */
export function withServiceAddress(cmd: Command, positional = true): Command {
  if (positional) cmd.argument('[VIP:PORT]', 'the service, e.g. 10.0.0.100:80 or [2001:db8::100]:80 (TCP unless --protocol udp; or -t/-u)');
  return cmd
    .option('-t, --tcp-service <vip:port>', 'the TCP service VIP:PORT, as ipvsadm -t')
    .option('-u, --udp-service <vip:port>', 'the UDP service VIP:PORT, as ipvsadm -u')
    .option('--protocol <proto>', 'tcp or udp, for a positional VIP:PORT (default tcp)')
    .addOption(new Option('--vip <address>', 'deprecated alias: give VIP:PORT').hideHelp())
    .addOption(new Option('--port <port>', 'deprecated alias: give VIP:PORT').hideHelp());
}

/** The real's options: -r as ipvsadm, and the deprecated --address. */
export function withRealAddress(cmd: Command): Command {
  return cmd
    .option('-r, --real-server <rip[:port]>', "the real server's address (IPv6 as [ADDR] or bare), as ipvsadm -r")
    .addOption(new Option('--address <ip>', 'deprecated alias: give RIP').hideHelp());
}

function protocolOf(o: ServiceOpts, implied?: 'tcp' | 'udp', by?: string): 'tcp' | 'udp' {
  const p = o.protocol;
  if (p !== undefined && p !== 'tcp' && p !== 'udp') throw new UsageError(`--protocol ${JSON.stringify(p)}: must be tcp or udp`);
  if (implied && p !== undefined && p !== implied) throw new UsageError(`--protocol ${p}: ${by} names a ${implied} service`);
  return implied ?? (p as 'tcp' | 'udp' | undefined) ?? 'tcp';
}

/**
 * The one service named by the positional VIP:PORT, -t, -u or the deprecated --vip/--port; undefined when none is
 * given (zero: every service). Two forms at once are refused rather than one silently winning.
 */
export function optionalServiceFrom(positional: string | undefined, o: ServiceOpts): ServiceKey | undefined {
  const given = [
    positional !== undefined && 'VIP:PORT',
    o.tcpService !== undefined && '-t',
    o.udpService !== undefined && '-u',
    (o.vip !== undefined || o.port !== undefined) && '--vip/--port',
  ].filter((x): x is string => !!x);
  if (given.length > 1) throw new UsageError(`the service is given twice (${given.join(' and ')}): give it once, as VIP:PORT`);
  if (positional !== undefined) return { ...parseServiceAddress('VIP:PORT', positional), protocol: protocolOf(o) };
  if (o.tcpService !== undefined) return { ...parseServiceAddress('-t', o.tcpService), protocol: protocolOf(o, 'tcp', '-t') };
  if (o.udpService !== undefined) return { ...parseServiceAddress('-u', o.udpService), protocol: protocolOf(o, 'udp', '-u') };
  if (o.vip === undefined && o.port === undefined) return undefined;
  // The deprecated pair: each half missing is named, never reported as the other one's bad value.
  if (o.vip === undefined) throw new UsageError(`--port ${JSON.stringify(o.port)}: no --vip given; name the service as VIP:PORT (e.g. 10.0.0.100:${o.port})`);
  if (!isIP(o.vip)) throw new UsageError(`--vip ${JSON.stringify(o.vip)}: not an IPv4 or IPv6 address`);
  if (o.port === undefined) throw new UsageError(`--vip ${o.vip}: no port given; name the service as VIP:PORT (e.g. ${o.vip}:80)`);
  const port = Number(o.port);
  if (!/^\d{1,5}$/.test(o.port) || port > 65535) throw new UsageError(`--port ${JSON.stringify(o.port)}: must be an integer in 0..65535`);
  return { vip: canonicalIp(o.vip), port, protocol: protocolOf(o) };
}

export function serviceFrom(positional: string | undefined, o: ServiceOpts): ServiceKey {
  const k = optionalServiceFrom(positional, o);
  if (!k) throw new UsageError('no service given: name it as VIP:PORT (e.g. 10.0.0.100:80), or with -t/-u VIP:PORT');
  return k;
}

/** The real named by the positional RIP[:PORT], -r or the deprecated --address, checked against the service's port. */
export function realFrom(positional: string | undefined, o: RealOpts, service: ServiceKey): string {
  const given = [positional !== undefined && 'RIP', o.realServer !== undefined && '-r', o.address !== undefined && '--address'].filter((x): x is string => !!x);
  if (given.length > 1) throw new UsageError(`the real server is given twice (${given.join(' and ')}): give it once, as RIP[:PORT]`);
  if (positional !== undefined) return parseRealAddress('RIP', positional, service.port, service.vip);
  if (o.realServer !== undefined) return parseRealAddress('-r', o.realServer, service.port, service.vip);
  if (o.address !== undefined) return parseRealAddress('--address', o.address, service.port, service.vip);
  throw new UsageError('no real server given: name it as RIP[:PORT] after the service (e.g. 10.0.0.100:80 10.0.0.11), or with -r');
}

/**
 * The positional arguments of a real verb: [VIP:PORT] [RIP]. When the service came as an option (-t/-u/--vip), a
 * single positional is the real (`real add -t 10.0.0.100:80 10.0.0.11`).
 */
export function realArgs(a: string | undefined, b: string | undefined, o: ServiceOpts & RealOpts): { service: ServiceKey; address: string } {
  const byOption = o.tcpService !== undefined || o.udpService !== undefined || o.vip !== undefined || o.port !== undefined;
  if (byOption && b === undefined) {
    const service = serviceFrom(undefined, o);
    return { service, address: realFrom(a, o, service) };
  }
  const service = serviceFrom(a, o);
  return { service, address: realFrom(b, o, service) };
}
