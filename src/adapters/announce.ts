// SPDX-License-Identifier: Apache-2.0
// announce.ts: BGP announcements through BIRD's own means: a VIP/32 route per served VIP in a dedicated kernel table (BIRD learns it), and the drain flag file.

import * as fs from 'node:fs';
import { type AnnounceInput, announceDiff, decideAnnouncements, drainProgress, type VipAnnouncement } from '../core/announce';
import { parseBody } from '../core/apibody';
import { RuntimeError, UsageError } from '../core/errors';
import type { EventSink } from './event';
import { ip, ipJson } from './host';

/**
 * Kernel route protocol number xlvs marks its routes with (unassigned in iproute2's rt_protos): `xlvs down` and a
 * restarted daemon find exactly these, and BIRD's `learn` takes them as routes another program made.
 */
export const ROUTE_PROTO = 245;

/** The announcement routes present for an interface (empty when the table was never created). */
export function announcedRoutes(ifname: string, table: number | 'all'): string[] {
  try {
    return ipJson<{ dst: string }[]>(['-4', 'route', 'show', 'table', String(table), 'proto', String(ROUTE_PROTO), 'dev', ifname]).map((r) =>
      r.dst.replace(/\/32$/, ''),
    );
  } catch (e) {
    if (/does not exist/.test((e as Error).message)) return [];
    throw e;
  }
}

/** Announcement routes of the interface in tables other than `table` (ip -j names a route's table unless it is main). */
function staleRoutes(ifname: string, table: number): { vip: string; table: string }[] {
  let all: { dst: string; table?: string }[];
  try {
    all = ipJson<{ dst: string; table?: string }[]>(['-4', 'route', 'show', 'table', 'all', 'proto', String(ROUTE_PROTO), 'dev', ifname]);
  } catch {
    return [];
  }
  return all.map((r) => ({ vip: r.dst.replace(/\/32$/, ''), table: r.table ?? 'main' })).filter((r) => r.table !== String(table));
}

/** `xlvs down`: withdraws every VIP this director announced on the interface, whatever table the config named. */
export function withdrawAll(ifname: string): string[] {
  const vips = announcedRoutes(ifname, 'all');
  if (vips.length) ip(['-4', 'route', 'flush', 'table', 'all', 'proto', String(ROUTE_PROTO), 'dev', ifname]);
  return vips;
}

/** Where the drain flag lives: beside the daemon's socket, so it survives a daemon restart (not a reboot: /run is tmpfs). */
export function drainFile(socket: string): string {
  return `${socket}.drained`;
}

export interface AnnouncerStatus {
  table: number;
  drained: boolean;
  /** ms since the epoch the drain began (null when not drained). */
  drainedSince: number | null;
  vips: (VipAnnouncement & { since: number })[];
}

export interface AnnouncerOptions {
  ifname: string;
  table: number;
  socket: string;
  /** The datapath and services as they are now. */
  inputs: () => Omit<AnnounceInput, 'drained'>;
  event: EventSink;
}

/** Keeps the routes in the table equal to the verdicts; every change is one log event. */
export class Announcer {
  private verdicts: (VipAnnouncement & { since: number })[] = [];
  private lastError: string | undefined;

  constructor(private readonly o: AnnouncerOptions) {}

  drainedSince(): number | null {
    try {
      return fs.statSync(drainFile(this.o.socket)).mtimeMs;
    } catch {
      return null;
    }
  }

  /** Drain on (withdraw every VIP) or off (announce again what can be served); applied at once. */
  setDrained(on: boolean): AnnouncerStatus {
    const f = drainFile(this.o.socket);
    if (on && this.drainedSince() === null) fs.writeFileSync(f, `${new Date().toISOString()}\n`, { mode: 0o600 });
    if (!on) fs.rmSync(f, { force: true });
    this.o.event('info', on ? 'director drained: withdrawing every VIP' : 'director undrained', {});
    this.reconcile();
    return this.status();
  }

  /** Brings the routes to the verdicts; a failure is logged once and retried on the next call. */
  reconcile(): void {
    const now = Date.now();
    const next = decideAnnouncements({ ...this.o.inputs(), drained: this.drainedSince() !== null });
    const old = new Map(this.verdicts.map((v) => [v.vip, v]));
    this.verdicts = next.map((v) => {
      const o = old.get(v.vip);
      return { ...v, since: o && o.announced === v.announced && o.reason === v.reason ? o.since : now };
    });
    try {
      // A table the config named before (bgp.table changed across a restart) holds announcements no longer ours to keep.
      for (const r of staleRoutes(this.o.ifname, this.o.table)) {
        ip(['-4', 'route', 'del', `${r.vip}/32`, 'dev', this.o.ifname, 'table', r.table, 'proto', String(ROUTE_PROTO)]);
        this.o.event('info', 'VIP withdrawn from a table bgp.table no longer names', { vip: r.vip, table: r.table });
      }
      const { add, remove } = announceDiff(next, announcedRoutes(this.o.ifname, this.o.table));
      for (const vip of add) {
        ip(['-4', 'route', 'replace', `${vip}/32`, 'dev', this.o.ifname, 'table', String(this.o.table), 'proto', String(ROUTE_PROTO), 'scope', 'link']);
        this.o.event('info', 'VIP announced', { vip, table: this.o.table });
      }
      for (const vip of remove) {
        ip(['-4', 'route', 'del', `${vip}/32`, 'dev', this.o.ifname, 'table', String(this.o.table), 'proto', String(ROUTE_PROTO)]);
        this.o.event('info', 'VIP withdrawn', { vip, reason: next.find((v) => v.vip === vip)?.reason ?? 'no service', table: this.o.table });
      }
      this.lastError = undefined;
    } catch (e) {
      const err = (e as Error).message;
      if (err !== this.lastError) this.o.event('error', 'cannot update the BGP announcement routes', { err, table: this.o.table });
      this.lastError = err;
      if (!(e instanceof RuntimeError)) throw e;
    }
  }

  status(): AnnouncerStatus {
    return { table: this.o.table, drained: this.drainedSince() !== null, drainedSince: this.drainedSince(), vips: this.verdicts.map((v) => ({ ...v })) };
  }
}

/** What `GET /v1/director/bgp` answers: the announcements, and while drained, how many connections still send. */
export interface BgpStatus extends AnnouncerStatus {
  /** Present while drained: tracked connections, and those that saw a packet within the last quietS seconds. */
  drain?: { active: number; tracked: number; done: boolean; quietS: number };
}

/**
 * The director's API calls (`xlvs director drain|undrain`, status); without a bgp section drain is refused, since
 * nothing would withdraw the VIPs and waiting for connections to end would wait for nothing.
 */
export function directorRoutes(announcer: Announcer | undefined, lastSeen: () => number[], quietS: number): Record<string, (body: unknown) => unknown> {
  const need = (): Announcer => {
    if (!announcer) throw new UsageError('this daemon announces nothing: drain needs a bgp section in its config (bgp.table)');
    return announcer;
  };
  const status = (): BgpStatus | null => {
    if (!announcer) return null;
    const st: BgpStatus = announcer.status();
    // Only while drained: counting active connections walks the whole connection table.
    if (st.drained) st.drain = { ...drainProgress(lastSeen(), monotonicS(), quietS), quietS };
    return st;
  };
  return {
    'GET /v1/director/bgp': () => status(),
    'POST /v1/director/drain': (b) => (parseBody('POST /v1/director/drain', b), need().setDrained(true), status()),
    'POST /v1/director/undrain': (b) => (parseBody('POST /v1/director/undrain', b), need().setDrained(false), status()),
  };
}

/** Seconds of CLOCK_MONOTONIC, the clock bpf_ktime_get_coarse_ns() reads, so connection entries' last_seen compare with it. */
export function monotonicS(): number {
  return Number(process.hrtime.bigint() / 1_000_000_000n);
}
