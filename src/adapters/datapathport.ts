// SPDX-License-Identifier: Apache-2.0
// datapathport.ts: the loaded datapath as the controller's DatapathPort: applies its plans, reads counters and connections, sweeps.

import * as abi from '../core/abi';
import type { DatapathPort } from '../core/controller';
import { bytesToIp } from '../core/net/addr';
import type { ObservedService } from '../core/plan';
import type { Datapath } from './datapath';
import { native } from './native';

/** The real datapath behind the controller's port. */
export function datapathPort(dp: Datapath, adopted: readonly ObservedService[]): DatapathPort {
  const ncpu = native().numPossibleCpus();
  const read = (map: 'xlvs_st_svc' | 'xlvs_st_real', ids: Iterable<number>) => {
    const out = new Map<number, abi.Counters>();
    for (const id of ids) {
      const buf = dp.maps[map].lookup(abi.u32Key(id));
      if (buf) out.set(id, abi.sumPerCpu(abi.counters, buf, ncpu));
    }
    return out;
  };
  // Ids with counters worth reading: what was adopted, then whatever the ops add or remove.
  const svcIds = new Set(adopted.map((s) => s.id));
  const realIds = new Set(adopted.flatMap((s) => s.reals.map((r) => r.id)));
  let reportedResize = dp.walks.lastResize,
    reportedResize6 = dp.walks.lastResize6;
  return {
    apply(ops) {
      dp.apply(ops);
      for (const op of ops) {
        if (op.op === 'putService') svcIds.add(op.service.id);
        if (op.op === 'deleteService') svcIds.delete(op.svcId);
        if (op.op === 'putReal') realIds.add(op.real.id);
        if (op.op === 'deleteReal') realIds.delete(op.realId);
      }
    },
    connsOf: (ids) => dp.connsOf(ids),
    connections() {
      const out = [];
      for (const { key: k, val: v } of dp.conns.records()) {
        out.push({
          saddr: abi.u32ToIpv4(k.saddr),
          sport: k.sport,
          daddr: abi.u32ToIpv4(k.daddr),
          dport: k.dport,
          proto: k.proto,
          realId: v.real_id,
          state: v.state,
          lastSeen: v.last_seen,
        });
      }
      for (const { key: k, val: v } of dp.conns6.records()) {
        out.push({
          saddr: bytesToIp(k.saddr),
          sport: k.sport,
          daddr: bytesToIp(k.daddr),
          dport: k.dport,
          proto: k.proto,
          realId: v.real_id,
          state: v.state,
          lastSeen: v.last_seen,
        });
      }
      return out;
    },
    realConns: (ids) => dp.realConns(ids),
    setTimeouts: (t) => dp.setTimeouts(t),
    async sweep() {
      const st = await dp.sweep();
      // Resizes since the last report: this sweep's, and a growth sync inserts started between sweeps.
      const r = dp.walks.lastResize,
        r6 = dp.walks.lastResize6;
      const last = reportedResize,
        last6 = reportedResize6;
      reportedResize = r;
      reportedResize6 = r6;
      return {
        conns: Number(st.conns),
        expired: Number(st.expired),
        templates: Number(st.templates),
        templatesExpired: Number(st.templates_expired),
        capacity: dp.connCapacity(),
        ...(r && r !== last ? { resized: { from: r.from * abi.CT_WAYS, to: r.to * abi.CT_WAYS, moved: r.moved, outcome: r.outcome, ms: r.ms } } : {}),
        ...(r6 && r6 !== last6
          ? { resized6: { from: r6.from * abi.CT6_WAYS, to: r6.to * abi.CT6_WAYS, moved: r6.moved, outcome: r6.outcome, ms: r6.ms } }
          : {}),
      };
    },
    counters: () => ({ svc: read('xlvs_st_svc', svcIds), real: read('xlvs_st_real', realIds) }),
    readSyncEvents: (timeoutMs, maxEvents) => dp.readSyncEvents(timeoutMs, maxEvents),
    insertSynced: (entries) => dp.insertSynced(entries),
    syncLosses: () => dp.syncLosses(),
    zero(ids) {
      for (const id of ids.svc) dp.resetCounters('xlvs_st_svc', id);
      for (const id of ids.real) dp.resetCounters('xlvs_st_real', id);
    },
  };
}
