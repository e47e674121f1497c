// SPDX-License-Identifier: Apache-2.0
// socket.ts: what the verbs that talk to the daemon share: the --socket option, service/real flags parsed into API bodies.

import type { Command } from 'commander';
import { call, DEFAULT_SOCKET } from '../adapters/api';
import { isIPv4 } from '../core/config';
import type { ServiceKey } from '../core/edits';
import { UsageError } from '../core/errors';

export function withSocket(cmd: Command): Command {
  return cmd.option('--socket <path>', "the daemon's API socket", DEFAULT_SOCKET);
}

export function api<T = any>(opts: { socket?: string }, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  return call<T>(opts.socket ?? DEFAULT_SOCKET, method, route, body);
}

export function intFlag(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`${flag} ${JSON.stringify(v)}: must be an integer in ${min}..${max}`);
  return n;
}

export function withServiceFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--vip <address>', 'virtual IPv4 address')
    .requiredOption('--port <port>', 'service port 1..65535')
    .option('--protocol <proto>', 'tcp or udp', 'tcp');
}

export function serviceKey(o: { vip: string; port: string; protocol?: string }): ServiceKey {
  if (!isIPv4(o.vip)) throw new UsageError(`--vip ${JSON.stringify(o.vip)}: not an IPv4 address`);
  const protocol = o.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`--protocol ${JSON.stringify(protocol)}: must be tcp or udp`);
  return { vip: o.vip, port: intFlag('--port', o.port, 1, 65535)!, protocol };
}
