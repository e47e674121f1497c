// SPDX-License-Identifier: Apache-2.0
// neighbours.ts: real-server MACs from the kernel neighbour table (a netlink dump kept current by change notifications), and soliciting resolution for missing or stale entries.

import * as dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { RuntimeError } from '../core/errors';
import { isUnicastNeighbour, type NeighbourEntry, neighbourKey, usableMac } from '../core/neighbours';
import { isIPv6 } from '../core/net/addr';
import { isNativeError, type NeighEvent, type NeighSocket, native } from './native';

/** NUD_* state bits (linux/neighbour.h); a state of 0 is NUD_NONE. */
export const NUD = {
  INCOMPLETE: 0x01,
  REACHABLE: 0x02,
  STALE: 0x04,
  DELAY: 0x08,
  PROBE: 0x10,
  FAILED: 0x20,
  NOARP: 0x40,
  PERMANENT: 0x80,
} as const;

/** A NUD_* number as the names `ip neigh` prints, which core/neighbours decides on: 0x04 -> ['STALE'], 0 -> ['NONE']. */
export function nudNames(state: number): string[] {
  const names = Object.entries(NUD)
    .filter(([, bit]) => (state & bit) !== 0)
    .map(([name]) => name);
  return names.length ? names : ['NONE'];
}

export interface NeighbourTableOptions {
  /** How often pending notifications are drained (the socket is non-blocking and polled); default 100 ms. */
  pollMs?: number;
  /** A full re-dump this often, in case a change was never notified; default 30 s. */
  redumpMs?: number;
  /** Receive buffer for notifications (bytes; capped by net.core.rmem_max); default 1 MiB. An overrun costs a re-dump. */
  rcvbuf?: number;
  /** Each address whose entry changed (MAC or state), with its new entry; undefined when the kernel removed it. */
  onChange?: (address: string, entry: NeighbourEntry | undefined) => void;
  /** A background refresh failed; the table keeps its last view and `failed` turns true. Default: ignored. */
  onError?: (e: Error) => void;
}

const sameEntry = (a: NeighbourEntry, b: NeighbourEntry): boolean => a.mac === b.mac && a.state.join() === b.state.join();

/**
 * The IPv4 (ARP) and IPv6 (NDP) neighbours of one interface, in the network namespace of the process, keyed by
 * canonical address (neighbourKey), multicast mappings left out: a dump at start, then the kernel's notifications, drained every pollMs (and by
 * every refresh()), with a re-dump on overrun and every redumpMs.
 * Its timer is unref'd: an open table never keeps the process alive.
 */
export class NeighbourTable {
  readonly ifindex: number;
  private readonly entries = new Map<string, NeighbourEntry>();
  private sock: NeighSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastDump = 0;
  /** Full dumps so far (the first, overruns, the safety net). */
  dumps = 0;
  /** Set when a background refresh threw; refresh() clears it on success. */
  failed: Error | undefined;

  constructor(
    readonly ifname: string,
    private readonly opts: NeighbourTableOptions = {},
  ) {
    const n = native();
    this.ifindex = n.ifNameToIndex(ifname);
    const sock = new n.NeighSocket({ rcvbuf: opts.rcvbuf ?? 1 << 20 });
    try {
      this.sock = sock;
      this.redump();
    } catch (e) {
      sock.close();
      throw e;
    }
    this.timer = setInterval(() => {
      try {
        this.refresh();
      } catch (e) {
        this.failed = e as Error;
        this.opts.onError?.(e as Error);
      }
    }, opts.pollMs ?? 100);
    this.timer.unref();
  }

  /** Applies every pending notification now; re-dumps after an overrun or when the last dump is redumpMs old. */
  refresh(): void {
    const sock = this.socket();
    let overrun = false;
    // Sixteen full batches pending means a storm: one dump is cheaper than replaying it.
    for (let i = 0; ; i++) {
      if (i === 16) {
        overrun = true;
        break;
      }
      const batch = sock.read();
      if (!batch.length) break;
      for (const ev of batch) {
        if ('overrun' in ev) overrun = true;
        else if (!overrun) this.apply(ev);
      }
    }
    if (overrun || performance.now() - this.lastDump >= (this.opts.redumpMs ?? 30_000)) this.redump();
    this.failed = undefined;
  }

  /** The entry of an address in any spelling ("2001:DB8::0:1" finds 2001:db8::1); undefined when missing or not an address. */
  get(address: string): NeighbourEntry | undefined {
    return this.entries.get(neighbourKey(address));
  }

  /** The MAC the datapath may use: null when missing, FAILED, INCOMPLETE or NONE (as of the last refresh). */
  macOf(address: string): string | null {
    return usableMac(this.get(address));
  }

  /** A copy of the table, keyed by address. */
  snapshot(): Map<string, NeighbourEntry> {
    return new Map([...this.entries].map(([a, e]) => [a, { ...e, state: [...e.state] }]));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sock?.close();
    this.sock = undefined;
  }

  private socket(): NeighSocket {
    if (!this.sock) throw new RuntimeError(`neighbour table of ${this.ifname} is closed`);
    return this.sock;
  }

  private redump(): void {
    const fresh = new Map<string, NeighbourEntry>();
    for (const ev of this.socket().dump(this.ifindex)) {
      if (!isUnicastNeighbour(ev.address)) continue;
      const e = toEntry(ev);
      fresh.set(e.address, e);
    }
    this.lastDump = performance.now();
    this.dumps++;
    const old = new Map(this.entries);
    this.entries.clear();
    for (const [a, e] of fresh) this.entries.set(a, e);
    if (!this.opts.onChange) return;
    for (const [a, e] of fresh) {
      const was = old.get(a);
      if (!was || !sameEntry(was, e)) this.opts.onChange(a, e);
    }
    for (const a of old.keys()) if (!fresh.has(a)) this.opts.onChange(a, undefined);
  }

  private apply(ev: NeighEvent): void {
    if (ev.ifindex !== this.ifindex || !isUnicastNeighbour(ev.address)) return;
    const e = toEntry(ev);
    const was = this.entries.get(e.address);
    if (ev.type === 'del') {
      if (!was) return;
      this.entries.delete(e.address);
      this.opts.onChange?.(e.address, undefined);
      return;
    }
    if (was && sameEntry(was, e)) return;
    this.entries.set(e.address, e);
    this.opts.onChange?.(e.address, e);
  }
}

function toEntry(ev: NeighEvent): NeighbourEntry {
  return { address: neighbourKey(ev.address), mac: ev.mac, state: nudNames(ev.state) };
}

/** One table per interface name for dumpNeighbours, replaced when the name comes to mean another interface. */
const shared = new Map<string, NeighbourTable>();
/** watchNeighbours listeners per interface name, and the addresses changed since they were last called. */
const watchers = new Map<string, { listeners: Set<(addresses: string[]) => void>; changed: Set<string>; scheduled: boolean }>();

function changed(ifname: string, address: string): void {
  const w = watchers.get(ifname);
  if (!w || !w.listeners.size) return;
  w.changed.add(address);
  if (w.scheduled) return;
  w.scheduled = true;
  // Once per drained batch, and never from inside refresh(): a listener may well call dumpNeighbours.
  setImmediate(() => {
    w.scheduled = false;
    const addresses = [...w.changed];
    w.changed.clear();
    for (const l of w.listeners) l(addresses);
  });
}

/**
 * Calls listener with the addresses whose entry on ifname changed (MAC, state, added, removed), within pollMs of the
 * kernel's notification; keeps the interface's shared table open meanwhile. Returns the function that stops it.
 */
export function watchNeighbours(ifname: string, listener: (addresses: string[]) => void): () => void {
  let w = watchers.get(ifname);
  if (!w) watchers.set(ifname, (w = { listeners: new Set(), changed: new Set(), scheduled: false }));
  w.listeners.add(listener);
  try {
    neighbourTable(ifname);
  } catch (e) {
    w.listeners.delete(listener);
    throw e;
  }
  return () => void w.listeners.delete(listener);
}

/** The process's table for ifname, brought up to date (pending notifications applied); opened on first use. */
export function neighbourTable(ifname: string): NeighbourTable {
  try {
    const ifindex = native().ifNameToIndex(ifname);
    let t = shared.get(ifname);
    if (t && (t.ifindex !== ifindex || t.failed)) {
      t.close();
      shared.delete(ifname);
      t = undefined;
    }
    if (t) {
      t.refresh();
      return t;
    }
    t = new NeighbourTable(ifname, { onChange: (address) => changed(ifname, address) });
    shared.set(ifname, t);
    return t;
  } catch (e) {
    if (isNativeError(e)) throw new RuntimeError(`neighbour table of ${ifname}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * The interface's IPv4 and IPv6 neighbours, keyed by canonical address: a snapshot of neighbourTable(ifname), so
 * current as of this call without a dump per call.
 */
export function dumpNeighbours(ifname: string): Map<string, NeighbourEntry> {
  return neighbourTable(ifname).snapshot();
}

/** Closes the tables dumpNeighbours opened (their sockets would otherwise live as long as the process). */
export function closeNeighbourTables(): void {
  for (const t of shared.values()) t.close();
  shared.clear();
}

/**
 * Makes the kernel resolve (or re-confirm) an address: any datagram to it needs its MAC, so an IPv4 one starts ARP
 * and an IPv6 one neighbour discovery (a solicitation, multicast while unresolved, unicast to re-confirm STALE).
 * Port 9 is discard; the real answers with at most an ICMP port-unreachable.
 */
export class Solicitor {
  private readonly socks = new Map<'udp4' | 'udp6', dgram.Socket>();

  solicit(address: string): void {
    const type = isIPv6(address) ? 'udp6' : 'udp4';
    let sock = this.socks.get(type);
    if (!sock) {
      sock = dgram.createSocket(type);
      sock.on('error', () => {}); // EHOSTUNREACH while unresolved is expected
      sock.unref();
      this.socks.set(type, sock);
    }
    sock.send(Buffer.alloc(0), 9, address, () => {});
  }

  close(): void {
    for (const s of this.socks.values()) s.close();
    this.socks.clear();
  }
}
