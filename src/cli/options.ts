// SPDX-License-Identifier: Apache-2.0
// options.ts: flag parsers shared by commands; each throws a UsageError naming the flag and the value.

import { readConfigFile } from '../adapters/configfile';
import { UsageError } from '../core/errors';
import { canonicalIp, isIPv4, isIPv6, isUsableUnicast } from '../core/net/addr';
import { isIfName } from '../core/net/ifname';
import { METHODS, type Method } from '../core/realserver-host';

/** The CLI's name for it; the daemon reads the same way. */
export const loadConfigFile = readConfigFile;

/** status and friends accept either the config or the interface it names. */
export function interfaceFrom(opts: { config?: string; interface?: string }): string {
  if (opts.config && opts.interface) throw new UsageError('give --config or --interface, not both');
  if (opts.interface) {
    return parseIfName('--interface', opts.interface);
  }
  if (opts.config) return loadConfigFile(opts.config).interface;
  throw new UsageError('give --config FILE or --interface NAME');
}

/** --vip values: each a unicast IPv4 address; duplicates collapse, order is kept. */
/** VIPs from a repeatable flag, deduplicated; IPv6 too when ipv6 (then in canonical text). */
export function parseVips(values: readonly string[] | undefined, flag = '--vip', ipv6 = false): string[] {
  if (!values || values.length === 0) throw new UsageError(`${flag} is required`);
  const out: string[] = [];
  for (const v of values) {
    const a = parseAddress(flag, v, ipv6);
    if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** One usable unicast address; IPv6 too when ipv6 (returned in canonical text). */
export function parseAddress(flag: string, v: string, ipv6 = false): string {
  if (!(isIPv4(v) || (ipv6 && isIPv6(v)))) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an ${ipv6 ? 'IP' : 'IPv4'} address`);
  if (!isUsableUnicast(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a usable unicast address`);
  return ipv6 ? canonicalIp(v) : v;
}

export function parseMethod(v: string): Method {
  if (!(METHODS as readonly string[]).includes(v)) throw new UsageError(`--method ${JSON.stringify(v)}: not a method (known: ${METHODS.join(', ')})`);
  return v as Method;
}

export function parseIfName(flag: string, v: string): string {
  if (!isIfName(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an interface name`);
  return v;
}

export function parseIntFlag(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an integer in ${min}..${max}`);
  return Number(v);
}
