// SPDX-License-Identifier: Apache-2.0
// synctransport.ts: the sync daemons' UDP multicast sockets, set up as IPVS sets up its own (bound to the interface, TTL, no loopback).

import * as dgram from 'node:dgram';
import { RuntimeError } from '../core/errors';
import type { SyncDaemonConfig, SyncRole } from '../core/syncconfig';
import { interfaceAddresses } from './host';

export interface SyncTransport {
  send(buf: Buffer): void;
  close(): void;
}

/**
 * Master: a socket bound to the interface's first IPv4 address, multicast out of that interface with the TTL asked
 * for and loopback off (this host's own backup must not take its own connections back). Backup: bound to the group's
 * port and joined on the interface. A datagram longer than the backup's maxlen is dropped as the kernel's backup,
 * which reads maxlen bytes, would find it truncated. `loopback` is for benchmarks that run both ends on one host.
 */
export async function multicastTransport(
  role: SyncRole,
  d: SyncDaemonConfig,
  maxlen: number,
  onMessage: (buf: Buffer) => void,
  opts: { loopback?: boolean } = {},
): Promise<SyncTransport> {
  const addr = interfaceAddresses(d.mcast_interface)[0];
  if (!addr) throw new RuntimeError(`sync ${role}: ${d.mcast_interface} has no IPv4 address to send or join the group from`);
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: role === 'backup' ? 4 << 20 : undefined, sendBufferSize: 4 << 20 });
  const bound = (port: number, address?: string) =>
    new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port, ...(address ? { address } : {}), exclusive: false }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
  try {
    if (role === 'master') {
      await bound(0, addr);
      sock.setMulticastInterface(addr);
      sock.setMulticastTTL(d.ttl);
      sock.setMulticastLoopback(!!opts.loopback);
    } else {
      await bound(d.port);
      sock.addMembership(d.group, addr);
      sock.setMulticastLoopback(!!opts.loopback);
      sock.on('message', (buf) => {
        if (buf.length <= maxlen) onMessage(buf);
      });
    }
  } catch (e) {
    sock.close();
    throw new RuntimeError(`sync ${role} on ${d.mcast_interface} (${d.group}:${d.port}): ${(e as Error).message}`, { cause: e });
  }
  sock.on('error', () => undefined);
  return {
    send: (buf) => sock.send(buf, d.port, d.group),
    close: () => {
      try {
        sock.close();
      } catch {
        /* already closed */
      }
    },
  };
}
