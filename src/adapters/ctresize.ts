// SPDX-License-Identifier: Apache-2.0
// ctresize.ts: grows and shrinks the growable connection table through the xlvs_ctmove program, as ctgrow.ts decides.

import * as abi from '../core/abi';
import { type CtLoads, type CtOccupancy, ctMaxLive, ctResizeTo, LOADS4, LOADS6 } from '../core/ctgrow';
import { type BpfMap, native } from './native';
import { rcuBarrier } from './rcu';

/** What one resize did. */
export interface CtResizeResult {
  from: number;
  to: number;
  /** Entries moved to another bucket, over every walk. */
  moved: number;
  /** Walks over the buckets of both sizes (the last one found nothing to move). */
  walks: number;
  /**
   * done: every entry lies in its live bucket; reverted: a shrink found no room and went back; pending: entries still
   * wait for room (lookups keep trying both sizes).
   */
  outcome: 'done' | 'reverted' | 'pending';
  ms: number;
}

/** One family's growable table, as the resizer sees it. */
export interface CtFamily {
  /** 0 for xlvs_conn, XLVS_CTMOVE_F_INET6 for xlvs_conn6: ORed into each xlvs_ctmove op. */
  flag: number;
  ways: number;
  loads: CtLoads;
  /** Its xlvs_ctgeo (xlvs_ctgeo, xlvs_ctgeo6). */
  geoMap: BpfMap;
  /** Its buckets per slice (xlvs_cfg.ct_buckets, ct6_buckets). */
  buckets(cfg: abi.Cfg): number;
  /** Its entries a whole sweep pass counted. */
  conns(st: abi.SweepStats): number;
  /** Its new connections so far (xlvs_verdicts, summed over CPUs): entries the next sweep will count. */
  newConns(v: abi.Verdicts): bigint;
}

export const ipv4Table = (geoMap: BpfMap): CtFamily => ({
  flag: 0,
  ways: abi.CT_WAYS,
  loads: LOADS4,
  geoMap,
  buckets: (c) => c.ct_buckets,
  conns: (st) => Number(st.conns - st.conns6),
  newConns: (v) => v.tx_new - v.tx_new6,
});

export const ipv6Table = (geoMap: BpfMap): CtFamily => ({
  flag: abi.CTMOVE_F_INET6,
  ways: abi.CT6_WAYS,
  loads: LOADS6,
  geoMap,
  buckets: (c) => c.ct6_buckets,
  conns: (st) => Number(st.conns6),
  newConns: (v) => v.tx_new6,
});

/** Walks a resize gets before it is reverted (a shrink) or left pending (a growth): the second walk normally finds nothing. */
const MAX_WALKS = 4;

function frame(op: number, arg: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(op, 0);
  b.writeUInt32LE(arg >>> 0, 4);
  return b;
}

/**
 * The one writer of a family's xlvs_ctgeo. The caller serialises it with the sweeper (both walk the table, and an
 * entry the sweeper expires while this moves it would be uncounted by both). Each table grows by its own family's
 * new connections (xlvs_verdicts.tx_new6 is the IPv6 share of tx_new).
 */
export class CtResizer {
  /** The family's new connections when the last whole sweep ended: new connections since then are entries the sweep did not count. */
  private newAtPass: bigint;
  /** Entries the last whole sweep counted (an adopted table's last count until this process's first pass). */
  private conns: number;
  /** A whole sweep has counted the table since the last resize ended: its count may shrink it. */
  private settled = false;
  /** Entries synced in (a backup's inserts) since the last whole sweep: entries too, though no packet made them. */
  private synced = 0;

  constructor(
    private readonly progFd: number,
    private readonly maps: { xlvs_cfg: BpfMap; xlvs_verdicts: BpfMap; xlvs_sweepst: BpfMap },
    private readonly fam: CtFamily,
  ) {
    this.newAtPass = this.txNew();
    this.conns = fam.conns(abi.sweepStats.decode(maps.xlvs_sweepst.lookup(abi.u32Key(0))!));
  }

  geo(): abi.CtGeo {
    return abi.ctGeo.decode(this.fam.geoMap.lookup(abi.u32Key(0))!);
  }

  /** The largest size the table grows to (the largest power of two within ct_buckets). */
  maxLive(): number {
    return ctMaxLive(this.buckets());
  }

  private buckets(): number {
    return this.fam.buckets(abi.cfg.decode(this.maps.xlvs_cfg.lookup(abi.u32Key(0))!));
  }

  private txNew(): bigint {
    const b = this.maps.xlvs_verdicts.lookup(abi.u32Key(0));
    return b ? this.fam.newConns(abi.sumPerCpu(abi.verdicts, b, native().numPossibleCpus())) : 0n;
  }

  /** After a whole sweep pass: its count is the table's occupancy. */
  passEnded(st: abi.SweepStats): void {
    this.conns = this.fam.conns(st);
    this.newAtPass = this.txNew();
    this.synced = 0;
    if (this.geo().prev === 0) this.settled = true;
  }

  /** Entries a sync insert added: counted as new connections are, so a backup's table grows with the master's. */
  noteSynced(inserted: number): void {
    this.synced += inserted;
  }

  /** Whether the occupancy asks the table to grow now (a cheap check: no walk). */
  growDue(): boolean {
    const { live, prev } = this.geo();
    if (!live || prev) return false;
    const to = ctResizeTo(live, this.buckets(), { ...this.occupancy(), settled: null }, this.fam.ways, abi.CT_MIN_LIVE, this.fam.loads);
    return to !== null && to > live;
  }

  /** The occupancy ctgrow.ts decides by: upper counts every new connection since the last pass as an entry. */
  occupancy(): CtOccupancy {
    const since = Number(this.txNew() - this.newAtPass);
    return { upper: this.conns + Math.max(0, since) + this.synced, settled: this.settled ? this.conns : null };
  }

  private async run(op: number, arg = 0): Promise<number> {
    return (await native().testRun(this.progFd, { data: frame(op | this.fam.flag, arg) })).retval;
  }

  /**
   * Changes where entries lie (BEGIN, REVERT), then waits out every packet that read the placement before: such a
   * packet looks only where its entry lay then, and an entry moved under it would be missed and the flow scheduled
   * afresh (maybe to another real). No entry moves until the wait is over. Returns the program's verdict (0: done).
   */
  private async setGeo(op: number, arg = 0): Promise<number> {
    const r = await this.run(op, arg);
    if (r === 0) rcuBarrier();
    return r;
  }

  /** One step of a walk: entries moved, and entries left where they were for want of a free way. */
  private async step(first: number): Promise<{ moved: number; left: number }> {
    const out = (await native().testRun(this.progFd, { data: frame(abi.CTMOVE.STEP | this.fam.flag, first) })).dataOut;
    return { moved: out.readUInt32LE(8), left: out.readUInt32LE(12) };
  }

  /** One walk over every bucket of both sizes. */
  private async walk(): Promise<{ moved: number; left: number }> {
    const { live, prev } = this.geo();
    const span = Math.max(live, prev);
    let moved = 0,
      left = 0;
    for (let first = 0; first < span; first += abi.SWEEP_CHUNK) {
      const r = await this.step(first);
      moved += r.moved;
      left += r.left;
    }
    return { moved, left };
  }

  /** Walks until a walk moves nothing and leaves nothing, then ends the resize; false if walks ran out. */
  private async settle(acc: { moved: number; walks: number }): Promise<boolean> {
    for (let i = 0; i < MAX_WALKS; i++) {
      const w = await this.walk();
      acc.moved += w.moved;
      acc.walks++;
      if (w.moved === 0 && w.left === 0) {
        await this.run(abi.CTMOVE.END);
        this.settled = false;
        return true;
      }
    }
    return false;
  }

  /** Resizes to live buckets (a power of two within ct_buckets); finishes a resize left pending first. */
  async resize(live: number): Promise<CtResizeResult> {
    const t0 = performance.now();
    const acc = { moved: 0, walks: 0 };
    let from = this.geo().live;
    if (this.geo().prev) {
      const r = await this.finish();
      if (r.outcome !== 'done') return r;
      from = this.geo().live;
    }
    if ((await this.setGeo(abi.CTMOVE.BEGIN, live)) !== 0)
      throw new Error(
        `${this.fam.flag ? 'IPv6 ' : ''}connection table: cannot resize from ${from} to ${live} buckets ` +
          `(a power of two up to ${this.buckets()}, growable tables only)`,
      );
    let outcome: CtResizeResult['outcome'] = 'done';
    if (!(await this.settle(acc))) {
      if (live < from) {
        await this.setGeo(abi.CTMOVE.REVERT);
        outcome = (await this.settle(acc)) ? 'reverted' : 'pending';
      } else outcome = 'pending';
    }
    return { from, to: live, moved: acc.moved, walks: acc.walks, outcome, ms: performance.now() - t0 };
  }

  /** A resize left pending (entries waited for room, or a process stopped mid-resize): walked again. */
  async finish(): Promise<CtResizeResult> {
    const t0 = performance.now();
    const { live, prev } = this.geo();
    const acc = { moved: 0, walks: 0 };
    const outcome = prev === 0 || (await this.settle(acc)) ? 'done' : 'pending';
    return { from: prev, to: live, moved: acc.moved, walks: acc.walks, outcome, ms: performance.now() - t0 };
  }

  /** Resizes if the occupancy asks for it (ctgrow.ts); null when the table stays as it is or does not grow. */
  async check(): Promise<CtResizeResult | null> {
    const { live, prev } = this.geo();
    if (!live) return null;
    if (prev) return this.finish();
    const to = ctResizeTo(live, this.buckets(), this.occupancy(), this.fam.ways, abi.CT_MIN_LIVE, this.fam.loads);
    return to === null ? null : this.resize(to);
  }
}
