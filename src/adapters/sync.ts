// SPDX-License-Identifier: Apache-2.0
// sync.ts: the connection-sync daemons (IPVS sync v1 over multicast): the master sends the datapath's new connections, the backup inserts a peer's.

import type { Config } from '../core/config';
import type { DatapathPort } from '../core/controller';
import { connsPerMessage, SyncMessageBuilder, syncMaxlen } from '../core/ipvssync';
import { decodeSyncMessage, type SyncSkipped } from '../core/ipvssync-decode';
import type { ObservedService } from '../core/plan';
import type { SyncConfig, SyncDaemonConfig, SyncRole } from '../core/syncconfig';
import type { SyncEvent, SyncInsert } from '../core/syncdp';
import { SyncIndex } from '../core/syncmap';
import type { EventLevel } from './event';
import { type LagFigures, LagWindow } from './synclag';
import { multicastTransport, type SyncTransport } from './synctransport';

/** A started master holds a partly filled message at most this long before sending it (IPVS: 20 ms to 2 s). */
export const FLUSH_MS = 5;
/** Events taken from the datapath per read. */
const READ_BATCH = 4096;

export interface SyncMasterStats {
  mcast_interface: string;
  syncid: number;
  group: string;
  port: number;
  maxlen: number;
  sentMessages: number;
  sentEntries: number;
  sendErrors: number;
  /** Records the datapath dropped because its queue to user space was full. */
  datapathLosses: number;
  /** Entries read from the datapath and not sent yet. */
  entriesBehind: number;
  /** From the datapath's stamp to the send, over the last entries. */
  lagMs: LagFigures;
  error?: string;
}

export interface SyncBackupStats {
  mcast_interface: string;
  syncid: number;
  group: string;
  port: number;
  maxlen: number;
  receivedMessages: number;
  receivedEntries: number;
  inserted: number;
  updated: number;
  /** Entries for a service or real this director does not run, or that the datapath refused (no room). */
  refused: number;
  /** Whole messages dropped as the kernel's backup drops them (bad size, version, entry or option framing). */
  malformed: number;
  /** Well-formed messages of another syncid. */
  ignored: number;
  /** Entries skipped one by one (unknown mandatory option, protocol, state, persistence-engine data). */
  skipped: number;
  /** Entries received and not inserted yet. */
  entriesBehind: number;
  /** From the datagram's arrival to its entries' insert, over the last entries. */
  lagMs: LagFigures;
  error?: string;
}

export interface SyncStats {
  master?: SyncMasterStats;
  backup?: SyncBackupStats;
}

export interface SyncDeps {
  datapath: Pick<DatapathPort, 'readSyncEvents' | 'insertSynced' | 'syncLosses'>;
  /** What entries map through: the services the datapath holds and the running config (Controller.syncView). */
  view(): { observed: readonly ObservedService[]; config: Readonly<Config> };
  /** The interface's MTU (the default maxlen follows it) . */
  mtu(ifname: string): number;
  log(level: EventLevel, msg: string, fields?: Record<string, unknown>): void;
  now(): number;
  /** The sockets (default: multicast on the named interface); tests pass an in-memory pair. */
  transport?: (role: SyncRole, d: SyncDaemonConfig, maxlen: number, onMessage: (buf: Buffer) => void) => Promise<SyncTransport>;
}

function sameDaemon(a: SyncDaemonConfig | undefined, b: SyncDaemonConfig | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Maps through a SyncIndex rebuilt only when the controller's services changed. */
class IndexCache {
  private idx: SyncIndex | undefined;
  private cfg: unknown;
  constructor(private readonly view: SyncDeps['view']) {}
  get(): SyncIndex {
    const v = this.view();
    if (!this.idx || this.idx.observed !== v.observed || this.cfg !== v.config) {
      this.idx = new SyncIndex(v.observed, v.config);
      this.cfg = v.config;
    }
    return this.idx;
  }
}

class Master {
  readonly stats: SyncMasterStats;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private tx: SyncTransport | undefined;
  private readonly lag = new LagWindow();
  private readonly builder: SyncMessageBuilder;
  /** Datapath stamps (deps.now() time) of the entries in the message being filled. */
  private stamps: number[] = [];
  private firstAt = 0;
  private lossBase = 0;

  constructor(
    readonly cfg: SyncDaemonConfig,
    private readonly deps: SyncDeps,
    private readonly index: IndexCache,
  ) {
    const maxlen = syncMaxlen('master', deps.mtu(cfg.mcast_interface), cfg.maxlen);
    this.builder = new SyncMessageBuilder(cfg.syncid, maxlen);
    this.stats = {
      mcast_interface: cfg.mcast_interface,
      syncid: cfg.syncid,
      group: cfg.group,
      port: cfg.port,
      maxlen,
      sentMessages: 0,
      sentEntries: 0,
      sendErrors: 0,
      datapathLosses: 0,
      entriesBehind: 0,
      lagMs: this.lag.figures(),
    };
  }

  async start(): Promise<void> {
    const open = this.deps.transport ?? multicastTransport;
    this.tx = await open('master', this.cfg, this.stats.maxlen, () => undefined);
    try {
      this.lossBase = this.deps.datapath.syncLosses?.() ?? 0;
    } catch {
      this.lossBase = 0;
    }
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    if (!this.deps.datapath.readSyncEvents) throw new Error('the datapath cannot report connections for sync');
    while (this.running) {
      let evs: SyncEvent[];
      try {
        evs = await this.deps.datapath.readSyncEvents(FLUSH_MS, READ_BATCH);
      } catch (e) {
        this.stats.error = (e as Error).message;
        this.deps.log('error', 'sync master: reading the datapath failed; retrying in 1 s', { err: this.stats.error });
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!this.running) break;
      const now = this.deps.now();
      if (evs.length) {
        const idx = this.index.get();
        this.stats.entriesBehind += evs.length;
        for (const ev of evs) {
          const c = idx.toConn(ev);
          if (!this.builder.add(c)) {
            this.flush(now);
            this.builder.add(c);
          }
          if (this.builder.count === 1) this.firstAt = now;
          this.stamps.push(now - ev.ageMs);
        }
      }
      // Full messages went out above; a partial one waits at most FLUSH_MS for company.
      if (this.builder.count && (now - this.firstAt >= FLUSH_MS || !evs.length)) this.flush(now);
      this.stats.datapathLosses = Math.max(0, (this.deps.datapath.syncLosses?.() ?? 0) - this.lossBase);
    }
  }

  /** The counters with the lag percentiles worked out now (a sort of the window: per read, not per batch). */
  snapshot(): SyncMasterStats {
    return { ...this.stats, lagMs: this.lag.figures() };
  }

  private flush(now: number): void {
    const n = this.builder.count;
    if (!n) return;
    const msg = this.builder.finish();
    this.builder.reset();
    try {
      this.tx!.send(msg);
      this.stats.sentMessages++;
      this.stats.sentEntries += n;
    } catch (e) {
      this.stats.sendErrors++;
      this.stats.error = (e as Error).message;
    }
    for (const t of this.stamps) this.lag.add(now - t);
    this.stamps = [];
    this.stats.entriesBehind -= n;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop.catch(() => undefined);
    this.tx?.close();
  }
}

class Backup {
  readonly stats: SyncBackupStats;
  private rx: SyncTransport | undefined;
  private readonly lag = new LagWindow();
  private pending: SyncInsert[] = [];
  private arrivals: number[] = [];
  private scheduled = false;

  constructor(
    readonly cfg: SyncDaemonConfig,
    private readonly deps: SyncDeps,
    private readonly index: IndexCache,
  ) {
    const maxlen = syncMaxlen('backup', deps.mtu(cfg.mcast_interface), cfg.maxlen);
    this.stats = {
      mcast_interface: cfg.mcast_interface,
      syncid: cfg.syncid,
      group: cfg.group,
      port: cfg.port,
      maxlen,
      receivedMessages: 0,
      receivedEntries: 0,
      inserted: 0,
      updated: 0,
      refused: 0,
      malformed: 0,
      ignored: 0,
      skipped: 0,
      entriesBehind: 0,
      lagMs: this.lag.figures(),
    };
  }

  async start(): Promise<void> {
    const open = this.deps.transport ?? multicastTransport;
    this.rx = await open('backup', this.cfg, this.stats.maxlen, (buf) => this.receive(buf));
  }

  /** One datagram: decoded, mapped to this director's ids, queued; inserted in one batch once the socket is drained. */
  receive(buf: Buffer): void {
    const at = this.deps.now();
    this.stats.receivedMessages++;
    const d = decodeSyncMessage(buf, this.cfg.syncid);
    if (d.kind === 'malformed') {
      this.stats.malformed++;
      // The first of each kind is worth a line; a flood is in the counter.
      if (this.stats.malformed === 1) this.deps.log('warn', 'sync backup: malformed message dropped', { reason: d.reason, detail: d.detail });
      return;
    }
    if (d.kind === 'ignored') {
      this.stats.ignored++;
      return;
    }
    this.stats.skipped += skippedCount(d.skipped);
    this.stats.receivedEntries += d.conns.length;
    const idx = this.index.get();
    for (const c of d.conns) {
      const ins = idx.toInsert(c);
      if (typeof ins === 'string') {
        this.stats.refused++;
        continue;
      }
      this.pending.push(ins);
      this.arrivals.push(at);
    }
    this.stats.entriesBehind = this.pending.length;
    if (!this.scheduled && this.pending.length) {
      this.scheduled = true;
      setImmediate(() => this.insert());
    }
  }

  private insert(): void {
    this.scheduled = false;
    const batch = this.pending;
    const arrivals = this.arrivals;
    this.pending = [];
    this.arrivals = [];
    if (!batch.length) return;
    try {
      const r = this.deps.datapath.insertSynced!(batch);
      this.stats.inserted += r.inserted;
      this.stats.updated += r.updated;
      this.stats.refused += r.refused;
    } catch (e) {
      this.stats.refused += batch.length;
      this.stats.error = (e as Error).message;
      this.deps.log('error', 'sync backup: inserting into the datapath failed', { err: this.stats.error, entries: batch.length });
    }
    const now = this.deps.now();
    for (const t of arrivals) this.lag.add(now - t);
    this.stats.entriesBehind = this.pending.length;
  }

  snapshot(): SyncBackupStats {
    return { ...this.stats, lagMs: this.lag.figures() };
  }

  async stop(): Promise<void> {
    this.rx?.close();
    if (this.pending.length) this.insert();
  }
}

function skippedCount(s: SyncSkipped): number {
  return s.mandatoryOption + s.protocol + s.state + s.peData;
}

/**
 * The sync daemons the config asks for, started, stopped or restarted as the config changes (configure() after each
 * applied change). Counters survive only as long as their daemon's settings stay the same.
 */
export class SyncService {
  private master: Master | undefined;
  private backup: Backup | undefined;
  private readonly index: IndexCache;
  /** Changes run one at a time, in order (start and stop are async: sockets, the master's read loop). */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SyncDeps) {
    this.index = new IndexCache(deps.view);
  }

  configure(sync: SyncConfig | undefined): Promise<void> {
    const run = this.queue.then(() => this.reconcile(sync));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcile(sync: SyncConfig | undefined): Promise<void> {
    if (!sameDaemon(this.master?.cfg, sync?.master)) {
      await this.master?.stop();
      this.master = undefined;
      if (sync?.master) {
        const m = new Master(sync.master, this.deps, this.index);
        this.master = m;
        try {
          await m.start();
          this.deps.log('info', 'sync master started', { ...m.stats, lagMs: undefined, entries_per_message: connsPerMessage(m.stats.maxlen) });
        } catch (e) {
          // Kept with its error, so status says why; a changed setting tries again.
          m.stats.error = (e as Error).message;
          this.deps.log('error', 'sync master could not start', { err: m.stats.error, mcast_interface: sync.master.mcast_interface });
        }
      }
    }
    if (!sameDaemon(this.backup?.cfg, sync?.backup)) {
      await this.backup?.stop();
      this.backup = undefined;
      if (sync?.backup) {
        const b = new Backup(sync.backup, this.deps, this.index);
        this.backup = b;
        try {
          await b.start();
          this.deps.log('info', 'sync backup started', {
            mcast_interface: b.stats.mcast_interface,
            syncid: b.stats.syncid,
            group: b.stats.group,
            port: b.stats.port,
          });
        } catch (e) {
          b.stats.error = (e as Error).message;
          this.deps.log('error', 'sync backup could not start', { err: b.stats.error, mcast_interface: sync.backup.mcast_interface });
        }
      }
    }
  }

  stats(): SyncStats {
    return { ...(this.master ? { master: this.master.snapshot() } : {}), ...(this.backup ? { backup: this.backup.snapshot() } : {}) };
  }

  stop(): Promise<void> {
    return this.configure(undefined);
  }
}
