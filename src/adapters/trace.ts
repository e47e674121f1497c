// SPDX-License-Identifier: Apache-2.0
// trace.ts (adapter): backs the core trace's lookups with a running director's pinned maps.

import * as abi from '../core/abi';
import { bytesToIp, ipToBytes, isIPv6 } from '../core/net/addr';
import { tblOwner } from '../core/tblmarks';
import type { TraceLookups } from '../core/trace';
import { conn6TableOf, connTableOf } from './conntable';
import { native } from './native';
import type { Maps } from './pinned';

/** The datapath's clock: bpf_ktime_get_coarse_ns() is CLOCK_MONOTONIC_COARSE, which shares hrtime's CLOCK_MONOTONIC base (±1 s once in seconds). */
export function datapathSeconds(): number {
  return abi.monoSeconds(process.hrtime.bigint());
}

/**
 * Reads the live maps (a PinnedDatapath's, or a loaded Datapath's). A schedule table is read whole from the inner map
 * the outer map's value names (BpfMap.fromId), every time: the control plane rewrites a same-size table in place, so
 * an inner map's id does not say its contents are unchanged.
 */
export function pinnedLookups(dp: { maps: Maps }): TraceLookups & { close(): void } {
  const conns = connTableOf(dp.maps);
  const conns6 = conn6TableOf(dp.maps);
  const b6 = (a: string) => Buffer.from(ipToBytes(a));
  return {
    conn(f) {
      const c = isIPv6(f.vip)
        ? conns6.get({ saddr: b6(f.client), daddr: b6(f.vip), sport: f.cport, dport: f.vport, proto: f.proto })
        : conns.get({ saddr: abi.ipv4ToU32(f.client), daddr: abi.ipv4ToU32(f.vip), sport: f.cport, dport: f.vport, proto: f.proto });
      if (!c) return null;
      return { realId: c.real_id, svcId: c.svc_id, state: c.state };
    },
    service(vip, port, proto) {
      const v6 = isIPv6(vip);
      const v = v6
        ? dp.maps.xlvs_svc6.lookup(abi.svc6Key.encode({ vip: b6(vip), port, proto }))
        : dp.maps.xlvs_svc.lookup(abi.svcKey.encode({ vip: abi.ipv4ToU32(vip), port, proto }));
      if (!v) return null;
      const s = abi.svc.decode(v);
      const persistMask = v6 ? String(s.persist_plen6 ?? 128) : abi.u32ToIpv4(s.persist_mask);
      return { id: s.id, sched: s.sched, flags: s.flags, tblSize: s.tbl_size, persistTimeout: s.persist_timeout, persistMask };
    },
    table(svcId) {
      const idBuf = dp.maps.xlvs_tbl.lookup(abi.u32Key(svcId));
      if (!idBuf) return null;
      const m = native().BpfMap.fromId(idBuf.readUInt32LE(0));
      try {
        const all = m.lookupBatch(4096);
        const table = new Uint32Array(m.maxEntries).fill(abi.REAL_NONE);
        for (let i = 0; i < all.count; i++) table[all.keys.readUInt32LE(i * m.keySize)] = tblOwner(all.values.readUInt32LE(i * m.valueSize)); // marks off
        return table;
      } finally {
        m.close();
      }
    },
    tableEntry(svcId, bucket) {
      const idBuf = dp.maps.xlvs_tbl.lookup(abi.u32Key(svcId));
      if (!idBuf) return null;
      const m = native().BpfMap.fromId(idBuf.readUInt32LE(0));
      try {
        return m.lookup(abi.u32Key(bucket))?.readUInt32LE(0) ?? null;
      } finally {
        m.close();
      }
    },
    real(id) {
      const v = dp.maps.xlvs_reals.lookup(abi.u32Key(id));
      if (!v) return null;
      const r = abi.real.decode(v);
      const a6 = r.addr === 0 ? dp.maps.xlvs_raddr6.lookup(abi.u32Key(id)) : null;
      if (r.addr === 0 && !a6?.some((x) => x !== 0)) return null;
      return {
        id,
        address: a6 ? bytesToIp(a6.subarray(0, 16)) : abi.u32ToIpv4(r.addr),
        svcId: r.svc_id,
        flags: r.flags,
        mac: r.mac,
        weight: r.weight,
        uThreshold: r.u_threshold,
        lThreshold: r.l_threshold,
      };
    },
    counts(id) {
      const v = dp.maps.xlvs_rconn.lookup(abi.u32Key(id));
      if (!v) return null;
      const c = abi.realConns.decode(v);
      return { active: Number(c.active), inactive: Number(c.inactive), overloaded: c.overloaded };
    },
    position(svcId) {
      const v = dp.maps.xlvs_pos.lookup(abi.u32Key(svcId));
      return v ? abi.seqPos.decode(v).next : null;
    },
    template(caddr, svcId) {
      const v = isIPv6(caddr)
        ? dp.maps.xlvs_persist6.lookup(abi.persist6Key.encode({ caddr: b6(caddr), svc_id: svcId }))
        : dp.maps.xlvs_persist.lookup(abi.persistKey.encode({ caddr: abi.ipv4ToU32(caddr), svc_id: svcId }));
      if (!v) return null;
      const t = abi.persist.decode(v);
      return { realId: t.real_id, svcId: t.svc_id, lastSeen: t.last_seen, timeout: t.timeout };
    },
    now: datapathSeconds,
    close() {},
  };
}
