// SPDX-License-Identifier: Apache-2.0
// options.ts: flag parsers shared by commands; each throws a UsageError naming the flag and the value.

import { readConfigFile } from '../adapters/configfile';
import { isIPv4 } from '../core/config';
import { UsageError } from '../core/errors';
import { METHODS, type Method } from '../core/realserver-host';

/** The CLI's name for it; the daemon reads the same way. */
export const loadConfigFile = readConfigFile;

/** status and friends accept either the config or the interface it names. */
export function interfaceFrom(opts: { config?: string; interface?: string }): string {
  if (opts.config && opts.interface) throw new UsageError('give --config or --interface, not both');
  if (opts.interface) {
    if (!/^[^\s/:]{1,15}$/.test(opts.interface)) throw new UsageError(`--interface ${JSON.stringify(opts.interface)}: not an interface name`);
    return opts.interface;
  }
  if (opts.config) return loadConfigFile(opts.config).interface;
  throw new UsageError('give --config FILE or --interface NAME');
}

/** Not 0/8, loopback, multicast or broadcast: an address a VIP or a director can be. */
function isUsableUnicast(s: string): boolean {
  if (!isIPv4(s)) return false;
  const first = Number(s.split('.')[0]);
  return s !== '255.255.255.255' && first !== 0 && first !== 127 && first < 224;
}

/** --vip values: each a unicast IPv4 address; duplicates collapse, order is kept. */
export function parseVips(values: readonly string[] | undefined, flag = '--vip'): string[] {
  if (!values || values.length === 0) throw new UsageError(`${flag} is required`);
  const out: string[] = [];
  for (const v of values) {
    if (!isIPv4(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an IPv4 address`);
    if (!isUsableUnicast(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a usable unicast address`);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

export function parseAddress(flag: string, v: string): string {
  if (!isIPv4(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an IPv4 address`);
  if (!isUsableUnicast(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not a usable unicast address`);
  return v;
}

export function parseMethod(v: string): Method {
  if (!(METHODS as readonly string[]).includes(v)) throw new UsageError(`--method ${JSON.stringify(v)}: not a method (known: ${METHODS.join(', ')})`);
  return v as Method;
}

export function parseIfName(flag: string, v: string): string {
  if (!/^[^\s/:]{1,15}$/.test(v) || v === '.' || v === '..') throw new UsageError(`${flag} ${JSON.stringify(v)}: not an interface name`);
  return v;
}

export function parseIntFlag(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an integer in ${min}..${max}`);
  return Number(v);
}
