// SPDX-License-Identifier: Apache-2.0
// datapath.ts: the loaded XDP object: applies plan() ops to its maps (services, reals, schedule tables), attaches and pins it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../core/abi';
import { stateTimeouts } from '../core/config';
import { RuntimeError } from '../core/errors';
import type { Op } from '../core/plan';
import type { SyncEvent, SyncInsert, SyncInsertResult, SyncSettings } from '../core/syncdp';
import { type ConnTable, conn6TableOf, connTableOf } from './conntable';
import { CtWalks } from './ctwalks';
import { deleteReal, deleteService, resetRealConns, writeReals, writeServices } from './mapwrites';
import { type BpfMap, type BpfObject, describeNativeError, isNativeError, native, type XdpLink, type XdpMode } from './native';
import { acceptSlots, type LoadOptions, nextSvcGen, openObject, type Timeouts } from './objectload';
import { LINK_PIN, type MapName, type Maps, pinName, pinPaths, removePins, syncPins } from './pinned';
import { rcuBarrier } from './rcu';
import { SchedTables } from './schedtables';
import { insertSynced, SyncReader } from './syncqueue';

export { DEFAULT_TIMEOUTS, objectPath, type Timeouts } from './objectload';

export class Datapath {
  private link: XdpLink | undefined;
  private pinnedAt: string | undefined;
  private syncReader: SyncReader | undefined;
  /** The schedule tables (xlvs_tbl's inner maps) and their marks. */
  readonly tables: SchedTables;
  /** The connection table, as user space sees it (listing, purge, tests). */
  readonly conns: ConnTable;
  /** The IPv6 connection table (xlvs_conn6). */
  readonly conns6: ConnTable<abi.Conn6Key>;
  /** Sweeps and resizes of the connection table, one at a time, and its growth between sweeps. */
  readonly walks: CtWalks;

  /**
   * @param kernelNotes one line per optional kernel feature this kernel lacks, with what xlvs does instead (to log at start)
   */
  private constructor(
    private readonly obj: BpfObject,
    readonly maps: Maps,
    private cfgValue: abi.Cfg,
    readonly kernelNotes: readonly string[],
  ) {
    this.tables = new SchedTables(obj, maps.xlvs_tbl, maps.xlvs_pos);
    this.conns = connTableOf(maps);
    this.conns6 = conn6TableOf(maps);
    this.walks = new CtWalks({ sweep: obj.programFd('xlvs_sweep'), ctmove: obj.programFd('xlvs_ctmove') }, maps, () => this.tables.settle());
  }

  /** Entries the IPv4 connection table holds at its size now (a growable table's live buckets, else all of them). */
  connCapacity(): number {
    const { live } = this.walks.resizer.geo();
    return (live || this.conns.geometry.buckets * this.conns.geometry.slices) * abi.CT_WAYS;
  }

  /** The IPv6 table's entries at its size now (xlvs_ctgeo6), or all of them for a fixed table. */
  conn6Capacity(): number {
    const { live } = this.walks.resizer6.geo();
    return (live || this.conns6.geometry.buckets * this.conns6.geometry.slices) * abi.CT6_WAYS;
  }

  /** Opens and loads the object (objectload.ts), adopting the pins at opts.reuseFrom if given. */
  static async load(opts: LoadOptions): Promise<Datapath> {
    const o = await openObject(opts);
    const dp = new Datapath(o.obj, o.maps, o.cfgValue, o.kernelNotes);
    // Adopted tables: an older build's carry no marks though their buckets' connections may name other reals (and
    // xlvs_tblmarked is this load's own), so every bucket is marked; two sweep passes clear what no entry holds.
    if (o.reused) await dp.markAllTables();
    return dp;
  }

  programFd(): number {
    return this.obj.programFd('xlvs_xdp');
  }

  /** What each program of the loaded object cost the verifier (null before 5.16). */
  programCosts(): { program: string; verifiedInsns: number | null }[] {
    return this.obj.programNames().map((program) => ({ program, verifiedInsns: this.obj.programInfo(program).verifiedInsns }));
  }

  /** A map of the loaded object outside MAP_NAMES (the benchmark build has one); the caller closes it. */
  objectMap(name: string): BpfMap {
    return this.obj.map(name);
  }

  /**
   * The NIC's MAC (the rewritten source) and the other destination MACs frames are forwarded for (keepalived
   * use_vmac); frames to any other MAC are passed. Unused slots repeat the NIC's MAC.
   */
  setDirectorMac(mac: string, acceptMacs: readonly string[] = this.acceptMacs()): void {
    if (acceptMacs.length > abi.ACCEPT_MACS) throw new RuntimeError(`at most ${abi.ACCEPT_MACS} accept_macs, not ${acceptMacs.length}`);
    this.cfgValue = { ...this.cfgValue, mac, accept_mac: acceptSlots(mac, acceptMacs) };
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(this.cfgValue));
  }

  /** The destination MACs besides the NIC's that frames are forwarded for. */
  acceptMacs(): string[] {
    return [...new Set(this.cfgValue.accept_mac.filter((m) => m !== this.cfgValue.mac))];
  }

  /** New connections per second per CPU that mh, sh and dh services record (0: every one); past it theirs go unrecorded. */
  setNewConnBudget(perCpu: number): void {
    this.cfgValue = { ...this.cfgValue, nc_budget: perCpu };
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(this.cfgValue));
  }

  /** Idle timeouts (seconds) the sweeper applies; the other states keep IPVS's defaults. */
  setTimeouts(t: Timeouts): void {
    this.cfgValue = { ...this.cfgValue, timeout: stateTimeouts(t) };
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(this.cfgValue));
  }

  /** Expires idle connections and persistence templates (CtWalks.sweep). */
  sweep(): Promise<abi.SweepStats> {
    return this.walks.sweep();
  }

  /**
   * Marks every bucket of every table MOVED | HELD: established packets take the connection table until two sweep
   * passes have shown which buckets hold no other real's connection (adopted pins, tests writing entries behind it).
   */
  markAllTables(): Promise<void> {
    return this.tables.markAll();
  }

  /** Connection sync settings (xlvs_cfg.sync_emit); a plan op, so only apply() calls it. */
  private setSync(sync: SyncSettings): void {
    this.cfgValue = { ...this.cfgValue, sync_emit: sync.emit ? 1 : 0 };
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(this.cfgValue));
  }

  /**
   * Connection sync (master): the new and changed connections and templates the datapath recorded since the last read,
   * at most maxEvents (default 4096); [] when none came within timeoutMs. One reader at a time.
   */
  readSyncEvents(timeoutMs: number, maxEvents?: number): Promise<SyncEvent[]> {
    if (!this.syncReader) {
      const m = this.obj.map('xlvs_syncq');
      try {
        this.syncReader = new SyncReader(m);
      } finally {
        m.close(); // the reader holds its own fd
      }
    }
    return this.syncReader.read(timeoutMs, maxEvents);
  }

  /**
   * Connection sync (backup): inserts or updates entries (this director's ids) through the xlvs_syncin program; an
   * invalid entry fails the call before any is inserted (UsageError naming it).
   */
  insertSynced(entries: readonly SyncInsert[]): SyncInsertResult & { results: number[] } {
    const r = insertSynced(this.obj.programFd('xlvs_syncin'), this.obj.programFd('xlvs_syncin6'), entries);
    // Connections count toward their family's table (templates have maps of their own).
    const inserted = entries.filter((e, i) => r.results[i] === abi.SYNC_R.INSERTED && !e.template);
    const six = inserted.filter((e) => e.caddr.includes(':')).length;
    if (inserted.length) this.walks.noteSynced(inserted.length - six, six);
    return r;
  }

  /** Sync records dropped because the queue to user space was full (xlvs_verdicts.sync_lost, summed over CPUs). */
  syncLosses(): number {
    const b = this.maps.xlvs_verdicts.lookup(abi.u32Key(0));
    return b ? Number(abi.sumPerCpu(abi.verdicts, b, native().numPossibleCpus()).sync_lost) : 0;
  }

  /** Tracked connections per real (shared counters the datapath keeps with atomic adds). */
  realConns(ids: Iterable<number>): Map<number, abi.RealConns> {
    const out = new Map<number, abi.RealConns>();
    for (const id of ids) {
      const b = this.maps.xlvs_rconn.lookup(abi.u32Key(id));
      if (b) out.set(id, abi.realConns.decode(b));
    }
    return out;
  }

  attach(ifname: string, mode: XdpMode): 'native' | 'generic' {
    try {
      this.link = native().XdpLink.attach(this.programFd(), ifname, mode);
    } catch (e) {
      const hint = isNativeError(e) && e.code === 'EBUSY' ? ' (another XDP program is attached to it)' : '';
      throw new RuntimeError(`cannot attach XDP to ${ifname} in ${mode} mode${hint}: ${describeNativeError(e)}`, { cause: e });
    }
    return this.link.mode;
  }

  pin(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    this.pinnedAt = dir;
    for (const [name, p] of Object.entries(pinPaths(dir)) as [MapName, string][]) this.maps[name].pin(p);
  }

  /**
   * Long-running mode: the link is pinned next to the maps, so the program stays attached when this process exits
   * or crashes. An existing pinned link gets this program swapped in (bpf_link_update), never a detach/attach gap.
   */
  attachPinned(ifname: string, mode: XdpMode, dir: string): { mode: 'native' | 'generic'; adopted: boolean } {
    const linkPin = path.join(dir, LINK_PIN);
    syncPins(this.maps, dir);
    if (fs.existsSync(linkPin)) {
      try {
        this.link = native().XdpLink.openPinned(linkPin);
        this.link.update(this.programFd());
      } catch (e) {
        throw new RuntimeError(`cannot take over the XDP link pinned at ${linkPin}: ${describeNativeError(e)}`, { cause: e });
      }
      return { mode: this.link.mode, adopted: true };
    }
    const got = this.attach(ifname, mode);
    this.link!.pin(linkPin);
    return { mode: got, adopted: false };
  }

  /**
   * Pins again whatever is missing under dir (bpffs unmounted, or the pins removed, while this process holds the
   * objects): without them the next daemon could not adopt the datapath, and this one's exit would detach it.
   * Returns the pins it made.
   */
  repin(dir: string): string[] {
    const linkPin = path.join(dir, LINK_PIN);
    const missing = Object.entries(pinPaths(dir))
      .filter(([, p]) => !fs.existsSync(p))
      .map(([n]) => pinName(n));
    const linkMissing = !!this.link && !fs.existsSync(linkPin);
    if (!missing.length && !linkMissing) return [];
    syncPins(this.maps, dir);
    if (linkMissing) this.link!.pin(linkPin);
    return [...missing, ...(linkMissing ? [LINK_PIN] : [])];
  }

  /** Daemon exit: drop this process's fds only; the pinned link and maps keep forwarding. */
  release(): void {
    this.syncReader?.close();
    this.syncReader = undefined;
    this.link?.close();
    this.link = undefined;
    for (const m of Object.values(this.maps)) m.close();
    this.obj.close();
  }

  /** Zeroes a per-CPU counter slot (a reused or fresh id starts from 0, as IPVS does for a new destination). */
  resetCounters(map: 'xlvs_st_svc' | 'xlvs_st_real', id: number): void {
    const m = this.maps[map];
    m.update(abi.u32Key(id), Buffer.alloc(m.valueBufSize));
  }

  /** After a write to xlvs_svc: the per-CPU copies (xlvs_svcc) go stale, and the next packet of each refills its slot. */
  private servicesWritten(): void {
    this.cfgValue = { ...this.cfgValue, svc_gen: nextSvcGen(this.cfgValue.svc_gen) };
    this.maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(this.cfgValue));
  }

  /** Connection entries whose real is one of ids (a walk of the whole table). */
  connsOf(ids: ReadonlySet<number>): number {
    let n = 0;
    for (const r of this.conns.records()) if (ids.has(r.val.real_id)) n++;
    for (const r of this.conns6.records()) if (ids.has(r.val.real_id)) n++;
    return n;
  }

  /** Deleted from here, the entries are never uncounted by the datapath: the reals' counts restart from zero. */
  private purgeConns(ids: ReadonlySet<number>, tables: readonly (4 | 6)[] = [4, 6]): number {
    // Only the tables of the reals' families: an empty IPv6 table still took ~60 ms to walk.
    const n = (tables.includes(4) ? this.conns.removeByReal(ids) : 0) + (tables.includes(6) ? this.conns6.removeByReal(ids) : 0);
    for (const id of ids) resetRealConns(this.maps, id);
    return n;
  }

  /**
   * Applies a plan's ops in the order plan() put them (see src/core/plan.ts for why that order is safe). plan() keeps
   * ops of one kind together, so each run of reals, tables or service keys is written in one batch: one syscall per
   * map instead of several per object, and one map-of-maps RCU wait for all the tables instead of one per service.
   */
  apply(ops: readonly Op[]): void {
    // A service whose table was last written in place (or deleted in a batch): until a grace period passes, a program
    // may still schedule by an entry it read before, so reals are deleted or purged (ids freed for reuse) only after one.
    let unsettled = false;
    for (let i = 0; i < ops.length; ) {
      const op = ops[i]!;
      if (unsettled && (op.op === 'deleteReal' || op.op === 'purgeConns')) {
        rcuBarrier();
        unsettled = false;
      }
      let j = i + 1;
      const batched = op.op === 'putReal' || op.op === 'putTable' || op.op === 'putService' || op.op === 'deleteService' || op.op === 'deleteTable';
      while (j < ops.length && ops[j]!.op === op.op && batched) j++;
      const run = ops.slice(i, j);
      i = j;
      switch (op.op) {
        case 'putReal': {
          const rs = run as Extract<Op, { op: 'putReal' }>[];
          writeReals(
            this.maps,
            rs.map((r) => r.real),
            rs.filter((r) => r.fresh).map((r) => r.real.id),
          );
          break;
        }
        case 'putTable': {
          const ts = run as Extract<Op, { op: 'putTable' }>[];
          if (this.tables.write(new Map(ts.map((t) => [t.svcId, t.table])))) unsettled = true;
          break;
        }
        case 'putService': {
          const ss = run as Extract<Op, { op: 'putService' }>[];
          writeServices(
            this.maps,
            ss.map((o) => o.service),
            ss.filter((o) => o.fresh).map((o) => o.service.id),
          );
          this.servicesWritten();
          break;
        }
        case 'deleteService':
          for (const d of run as Extract<Op, { op: 'deleteService' }>[]) deleteService(this.maps, d.vip, d.port, d.proto);
          this.servicesWritten();
          break;
        case 'deleteTable':
          this.tables.delete((run as Extract<Op, { op: 'deleteTable' }>[]).map((d) => d.svcId));
          // The batch may not wait for a grace period (kernels before 6.7 do not after a batch): the reals these
          // services scheduled to are deleted, and their ids freed, only after one.
          unsettled = true;
          break;
        case 'deleteReal':
          deleteReal(this.maps, op.realId);
          break;
        case 'purgeConns':
          this.purgeConns(new Set(op.realIds), op.tables);
          break;
        case 'setSync':
          this.setSync(op.sync);
          break;
      }
    }
  }

  /** Detaches and removes the pins this process made; safe to call twice. */
  close(): void {
    this.syncReader?.close();
    this.syncReader = undefined;
    this.link?.detach();
    this.link = undefined;
    if (this.pinnedAt) removePins(this.pinnedAt);
    this.pinnedAt = undefined;
    for (const m of Object.values(this.maps)) m.close();
    this.obj.close();
  }
}
