// SPDX-License-Identifier: Apache-2.0
// ctwalks.ts: the walks over the connection table, one at a time: sweeps, resizes, and the growth between sweeps.

import * as abi from '../core/abi';
import { type CtResizeResult, CtResizer, ipv4Table, ipv6Table } from './ctresize';
import { type BpfMap, describeNativeError, native } from './native';

/** Any frame: BPF_PROG_TEST_RUN needs one, the sweeper ignores it. */
const SWEEP_FRAME = Buffer.alloc(64);

/**
 * How often the growth watch reads the occupancy. At 1,000,000 new connections a second, 50,000 come between two
 * reads: 1.5 to a bucket of the starting size, where nine (an overflow) come one bucket in ~10^5.
 */
export const GROW_CHECK_MS = 50;

/**
 * Sweeps and resizes both walk the table and never run at once: an entry the sweeper expires while a resize moves it
 * would be uncounted by both. Every walk goes through exclusive().
 */
export class CtWalks {
  /** Grows and shrinks xlvs_conn with its flows. */
  readonly resizer: CtResizer;
  /** Grows and shrinks xlvs_conn6 with its flows. */
  readonly resizer6: CtResizer;
  /** The last resize of xlvs_conn a sweep (or a growth between sweeps) made, if any. */
  lastResize: CtResizeResult | null = null;
  /** The same for xlvs_conn6. */
  lastResize6: CtResizeResult | null = null;
  /** Why the last growth started between sweeps failed, if it did (null since one succeeded). */
  growError: string | null = null;
  /** The growth a sync insert or the growth watch started, while it runs. */
  private growing: Promise<void> | undefined;
  private walking: Promise<unknown> = Promise.resolve();

  /** settleTables: after a whole sweep pass, the schedule tables' marks settle (SchedTables.settle). */
  constructor(
    private readonly fds: { sweep: number; ctmove: number },
    private readonly maps: { xlvs_ctgeo: BpfMap; xlvs_ctgeo6: BpfMap; xlvs_cfg: BpfMap; xlvs_verdicts: BpfMap; xlvs_sweepst: BpfMap },
    private readonly settleTables: () => Promise<unknown>,
  ) {
    this.resizer = new CtResizer(fds.ctmove, maps, ipv4Table(maps.xlvs_ctgeo));
    this.resizer6 = new CtResizer(fds.ctmove, maps, ipv6Table(maps.xlvs_ctgeo6));
  }

  /** Both tables resized by their occupancy, one after the other (resizes and sweeps never overlap). */
  private async checkBoth(): Promise<void> {
    this.lastResize = (await this.resizer.check()) ?? this.lastResize;
    this.lastResize6 = (await this.resizer6.check()) ?? this.lastResize6;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.walking.then(fn, fn);
    this.walking = p.catch(() => undefined);
    return p;
  }

  /** Resizes the connection table to live buckets now (tests, benchmarks); sweeps resize it by occupancy on their own. */
  resize(live: number, inet6 = false): Promise<CtResizeResult> {
    return this.exclusive(() => (inet6 ? this.resizer6 : this.resizer).resize(live));
  }

  /** Expires idle connections and persistence templates (the xlvs_sweep program: it runs in the kernel, over the maps). */
  sweep(): Promise<abi.SweepStats> {
    // One run walks XLVS_SWEEP_CHUNK buckets with the CPU held; the runs of a pass are separate syscalls, so
    // packets on that CPU (and this event loop) get their turn in between.
    return this.exclusive(async () => {
      // Growth first: new connections since the last pass may already fill a table past its load factor.
      await this.checkBoth();
      for (;;) {
        await native().testRun(this.fds.sweep, { data: SWEEP_FRAME });
        const st = abi.sweepStats.decode(this.maps.xlvs_sweepst.lookup(abi.u32Key(0))!);
        if (st.cursor === 0n) {
          await this.settleTables();
          this.resizer.passEnded(st);
          this.resizer6.passEnded(st);
          await this.checkBoth();
          return st;
        }
      }
    });
  }

  /**
   * Entries a sync insert put in the table: a backup's table grows with what the master syncs, not only after sweeps
   * (a backup starting beside a loaded master would otherwise fill the starting size's buckets and refuse the rest
   * until the next sweep). Inserts meanwhile go to the new size's buckets.
   */
  noteSynced(inserted: number, inserted6 = 0): void {
    this.resizer.noteSynced(inserted);
    this.resizer6.noteSynced(inserted6);
    this.growSoon();
  }

  /** Starts a growth in the background if the occupancy asks for one: one at a time, never beside a sweep. */
  private growSoon(): void {
    if (this.growing || !(this.resizer.growDue() || this.resizer6.growDue())) return;
    this.growing = this.exclusive(() => this.checkBoth()).then(
      () => {
        this.growError = null;
      },
      (e: unknown) => {
        this.growError = describeNativeError(e);
      },
    );
    void this.growing.finally(() => {
      this.growing = undefined;
    });
  }

  /**
   * Checks the occupancy every ms between sweeps (three map reads) and grows the table in the background when it asks:
   * a burst of new connections (a flood of 1,000,000 a second) would otherwise fill the starting size's buckets within
   * one sweep interval, and each new flow past a full bucket replaces a live one. Returns the function that stops it.
   */
  watchGrowth(ms = GROW_CHECK_MS): () => void {
    const timer = setInterval(() => {
      try {
        this.growSoon();
      } catch (e) {
        this.growError = describeNativeError(e); // a timer's throw would end the process
      }
    }, ms);
    return () => clearInterval(timer);
  }

  /**
   * Waits for the sweep or resize under way and a growth started between sweeps (tests, benchmarks, a daemon stopping:
   * a walk cut off by closed maps would leave a resize pending for the next start). A failed growth is retried, and
   * reported, by the next sweep.
   */
  async settled(): Promise<void> {
    await this.growing;
    await this.walking;
  }
}
