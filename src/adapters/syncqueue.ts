// SPDX-License-Identifier: Apache-2.0
// syncqueue.ts: connection sync through the datapath: reading xlvs_syncq's records as events, and inserting peers' entries through xlvs_syncin.

import * as abi from '../core/abi';
import { RuntimeError } from '../core/errors';
import {
  checkSyncInserts,
  decodeSyncRecords,
  encodeSyncInserts,
  encodeSyncInserts6,
  type SyncEvent,
  type SyncInsert,
  type SyncInsertResult,
  tallySyncResults,
} from '../core/syncdp';
import { type BpfMap, describeNativeError, native, type RingBuffer } from './native';

/** Events one read returns when the caller names no limit: ~160 KiB of records. */
export const SYNC_READ_DEFAULT = 4096;

/** The reader of one datapath's xlvs_syncq: one read at a time (libbpf's consumer position is not shared). */
export class SyncReader {
  private readonly rb: RingBuffer;
  private reading = false;
  private closed = false;

  constructor(map: BpfMap) {
    this.rb = new (native().RingBuffer)(map.fd);
  }

  /** At most maxEvents events, waiting up to timeoutMs for the first; [] on timeout or once closed. */
  async read(timeoutMs: number, maxEvents = SYNC_READ_DEFAULT): Promise<SyncEvent[]> {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`readSyncEvents: timeoutMs ${timeoutMs} is not a non-negative number`);
    if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new RangeError(`readSyncEvents: maxEvents ${maxEvents} is not a positive integer`);
    if (this.reading) throw new RuntimeError('readSyncEvents: another read of the sync queue is in progress (one reader at a time)');
    if (this.closed) return [];
    this.reading = true;
    try {
      // The addon stops once at least maxBytes are gathered; (max - 1) records + 1 byte stops exactly at max records.
      const buf = await this.rb.poll(Math.ceil(timeoutMs), (maxEvents - 1) * abi.syncRec.size + 1);
      return decodeSyncRecords(buf, process.hrtime.bigint());
    } catch (e) {
      throw new RuntimeError(`cannot read the sync queue: ${describeNativeError(e)}`, { cause: e });
    } finally {
      this.reading = false;
    }
  }

  /** Wakes a pending read (it resolves with []) and frees the ring once it has. */
  close(): void {
    this.closed = true;
    this.rb.close();
  }
}

/** One reusable frame per batch size (a full batch is the common case). */
let frame: Buffer | undefined;

/** Runs one frame through a syncin program, tallying its results. */
function runFrame(progFd: number, data: Buffer, n: number, v6: boolean, total: SyncInsertResult, done: string): number[] {
  let out: Buffer;
  try {
    out = native().testRunSync(progFd, data).dataOut;
  } catch (e) {
    throw new RuntimeError(`cannot insert synced connections (${done}): ${describeNativeError(e)}`, { cause: e });
  }
  return tallySyncResults(out, n, total, v6);
}

/**
 * Inserts or updates entries through xlvs_syncin (IPv4, XLVS_SYNCIN_MAX to a run) and xlvs_syncin6 (IPv6,
 * XLVS_SYNCIN6_MAX to a run), after checking every entry (a bad one fails the call with nothing inserted).
 * results[i]: what became of entries[i] (abi.SYNC_R).
 */
export function insertSynced(progFd: number, prog6Fd: number, entries: readonly SyncInsert[]): SyncInsertResult & { results: number[] } {
  checkSyncInserts(entries);
  const total: SyncInsertResult = { inserted: 0, updated: 0, refused: 0 };
  const v4: SyncInsert[] = [];
  const v6: SyncInsert[] = [];
  const at4: number[] = [];
  const at6: number[] = [];
  entries.forEach((e, i) => {
    if (e.caddr.includes(':')) {
      v6.push(e);
      at6.push(i);
    } else {
      v4.push(e);
      at4.push(i);
    }
  });
  const results: number[] = new Array(entries.length);
  for (let from = 0; from < v4.length; from += abi.SYNCIN_MAX) {
    const n = Math.min(abi.SYNCIN_MAX, v4.length - from);
    const data = encodeSyncInserts(v4, from, n, n === abi.SYNCIN_MAX ? frame : undefined);
    if (n === abi.SYNCIN_MAX) frame = data;
    runFrame(progFd, data, n, false, total, `${from} of ${v4.length} IPv4 entries done`).forEach((r, j) => {
      results[at4[from + j]!] = r;
    });
  }
  for (let from = 0; from < v6.length; from += abi.SYNCIN6_MAX) {
    const n = Math.min(abi.SYNCIN6_MAX, v6.length - from);
    runFrame(prog6Fd, encodeSyncInserts6(v6, from, n), n, true, total, `${from} of ${v6.length} IPv6 entries done`).forEach((r, j) => {
      results[at6[from + j]!] = r;
    });
  }
  return { ...total, results };
}
