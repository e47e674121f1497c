// SPDX-License-Identifier: Apache-2.0
// httphost.ts: which Host headers the metrics listener answers, so a DNS-rebound name cannot read it from a browser.

import { isIPv4 } from './net/addr';

/** Names that always mean this host, whatever metrics.listen is (an SSH tunnel or curl on the director itself). */
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** The name part of a Host header, lower-cased and without a port or a trailing dot; null when malformed. */
export function hostName(header: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return null;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return null;
  return m[1]!.toLowerCase().replace(/\.$/, '');
}

/**
 * A DNS-rebinding page reaches the listener under the attacker's own name, so only names the operator expects are
 * answered: the listen address, loopback names, and metrics.allowed_hosts. The port is not compared: it says nothing
 * about rebinding (the attacker's page uses the listener's port too), and a tunnel or proxy may change it. A listener
 * on 0.0.0.0 is reached at any of the host's addresses, so it takes any IPv4 literal: a literal is never a rebound
 * name. No Host header at all (HTTP/1.0) is refused: nothing says which name the client used.
 */
export function hostAllowed(header: string | undefined, listen: string, allowed: readonly string[]): boolean {
  if (header === undefined) return false;
  const name = hostName(header);
  if (name === null) return false;
  const listenHost = listen.slice(0, listen.lastIndexOf(':'));
  if (name === listenHost || LOOPBACK.includes(name)) return true;
  if (listenHost === '0.0.0.0' && isIPv4(name)) return true;
  return allowed.some((a) => a.toLowerCase().replace(/\.$/, '') === name);
}
