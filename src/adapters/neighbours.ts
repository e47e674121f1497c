// neighbours.ts: real-server MACs from the kernel neighbour table, and soliciting resolution for missing or stale entries.

import * as dgram from 'node:dgram';
import { NeighbourEntry } from '../core/neighbours';
import { ipJson } from './host';

/** One dump of the interface's IPv4 neighbours, keyed by address. */
export function dumpNeighbours(ifname: string): Map<string, NeighbourEntry> {
  const rows = ipJson<any[]>(['-4', 'neigh', 'show', 'dev', ifname]);
  const out = new Map<string, NeighbourEntry>();
  for (const r of rows) out.set(String(r.dst), { address: String(r.dst), mac: r.lladdr ? String(r.lladdr) : null, state: (r.state ?? []).map(String) });
  return out;
}

/**
 * Makes the kernel resolve (or re-confirm) an address: any datagram to it needs its MAC.
 * Port 9 is discard; the real answers with at most an ICMP port-unreachable.
 */
export class Solicitor {
  private sock: dgram.Socket | undefined;

  solicit(address: string): void {
    if (!this.sock) {
      this.sock = dgram.createSocket('udp4');
      this.sock.on('error', () => {}); // EHOSTUNREACH while unresolved is expected
      this.sock.unref();
    }
    this.sock.send(Buffer.alloc(0), 9, address, () => {});
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
