// SPDX-License-Identifier: Apache-2.0
// socket.ts: what the verbs that talk to the daemon share: the --socket option, the API call, integer flags (addresses: address.ts).

import type { Command } from 'commander';
import { call, DEFAULT_SOCKET } from '../adapters/api';
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
