// SPDX-License-Identifier: Apache-2.0
// fakedatapath.ts: an in-memory DatapathPort for the API tests: what the maps hold, op by op, with the lookup invariants checked after every op.

import assert from 'node:assert/strict';
import { type Counters, REAL_NONE } from '../../src/core/abi';
import type { DatapathPort } from '../../src/core/controller';
import type { Op } from '../../src/core/plan';
import type { SyncEvent, SyncInsert, SyncInsertResult, SyncSettings } from '../../src/core/syncdp';

/** What the fake datapath holds, op by op, plus a hook to check invariants at every step. */
export class FakeDatapath implements DatapathPort {
  svc = new Map<string, number>();
  tables = new Map<number, Uint32Array>();
  reals = new Map<number, { address: string; flags: number; svcId: number }>();
  conns: { realId: number }[] = [];
  stSvc = new Map<number, Counters>();
  stReal = new Map<number, Counters>();
  applied: Op[][] = [];
  /** The last value written for each service and real id (every field, as the maps would hold it). */
  written = new Map<string, string>();
  failNext = false;
  /** Sync: the settings last applied, events a test queues for readSyncEvents, entries insertSynced took (by key). */
  sync: SyncSettings = { emit: false };
  syncQueue: SyncEvent[] = [];
  synced = new Map<string, SyncInsert>();
  syncLost = 0;
  private syncReading = false;

  apply(ops: readonly Op[]): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('EPERM: the kernel said no');
    }
    for (const op of ops) {
      switch (op.op) {
        case 'putReal':
          this.reals.set(op.real.id, { address: op.real.address, flags: op.real.mac ? 1 | (op.real.weight > 0 ? 2 : 0) : 0, svcId: op.real.svcId });
          this.written.set(`real ${op.real.id}`, JSON.stringify(op.real));
          break;
        case 'putTable':
          this.tables.set(op.svcId, op.table);
          break;
        case 'putService':
          this.svc.set(`${op.service.vip}:${op.service.port}/${op.service.proto}`, op.service.id);
          this.written.set(`svc ${op.service.id}`, JSON.stringify(op.service));
          break;
        case 'deleteService':
          this.svc.delete(`${op.vip}:${op.port}/${op.proto}`);
          break;
        case 'deleteTable':
          this.tables.delete(op.svcId);
          break;
        case 'deleteReal':
          this.reals.delete(op.realId);
          this.written.delete(`real ${op.realId}`);
          break;
        case 'purgeConns':
          this.conns = this.conns.filter((c) => !op.realIds.includes(c.realId));
          break;
        case 'setSync':
          this.sync = { ...op.sync };
          break;
      }
      this.checkInvariants();
    }
    this.applied.push([...ops]);
  }

  /** What a lookup could see after any single op: every service key has a table, every bucket names a written real. */
  checkInvariants(): void {
    for (const [k, id] of this.svc) {
      const t = this.tables.get(id);
      assert.ok(t, `service ${k} visible without a table`);
      for (const b of t) if (b !== REAL_NONE) assert.ok(this.reals.has(b), `table of ${k} names real ${b}, which is not written`);
    }
  }

  /** Queued events (at most maxEvents), else waits up to timeoutMs for some; one reader at a time, as the real one. */
  async readSyncEvents(timeoutMs: number, maxEvents = 4096): Promise<SyncEvent[]> {
    if (this.syncReading) throw new Error('readSyncEvents: another read is in progress');
    this.syncReading = true;
    try {
      const until = Date.now() + timeoutMs;
      while (!this.syncQueue.length && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(5, timeoutMs)));
      return this.syncQueue.splice(0, maxEvents);
    } finally {
      this.syncReading = false;
    }
  }

  /** Refuses a real id the fake does not hold or that belongs to another service, as xlvs_syncin does. */
  insertSynced(entries: readonly SyncInsert[]): SyncInsertResult {
    const out = { inserted: 0, updated: 0, refused: 0 };
    for (const e of entries) {
      const r = this.reals.get(e.realId);
      if (!r || r.svcId !== e.svcId) {
        out.refused++;
        continue;
      }
      const k = `${e.template ? 'T' : 'C'} ${e.proto} ${e.caddr}:${e.cport} ${e.vaddr}:${e.vport}`;
      if (this.synced.has(k)) out.updated++;
      else out.inserted++;
      this.synced.set(k, { ...e });
    }
    return out;
  }

  syncLosses(): number {
    return this.syncLost;
  }

  connsOf(ids: ReadonlySet<number>): number {
    return this.conns.filter((c) => ids.has(c.realId)).length;
  }
  counters() {
    return { svc: new Map(this.stSvc), real: new Map(this.stReal) };
  }
  zero(ids: { svc: number[]; real: number[] }): void {
    for (const id of ids.svc) this.stSvc.delete(id);
    for (const id of ids.real) this.stReal.delete(id);
  }

  /** Each visible service's state as a lookup sees it (its id, table and the reals the table names), by service key. */
  snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, id] of this.svc) {
      const t = this.tables.get(id);
      const reals = [...this.reals].filter(([, r]) => r.svcId === id).map(([rid]) => this.written.get(`real ${rid}`));
      out.set(k, JSON.stringify({ service: this.written.get(`svc ${id}`), table: t ? [...t] : null, reals }));
    }
    return out;
  }
}
