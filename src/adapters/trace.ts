// trace.ts (adapter): backs the core trace's lookups with a running director's pinned maps.

import * as abi from '../core/abi';
import type { TraceLookups } from '../core/trace';
import type { PinnedDatapath } from './datapath';
import { native } from './native';

/** Reads the live maps; the Maglev inner map comes from the outer map's value, an inner-map id (BpfMap.fromId). */
export function pinnedLookups(dp: PinnedDatapath): TraceLookups & { close(): void } {
  const inners = new Map<number, ReturnType<ReturnType<typeof native>['BpfMap']['fromId']>>();
  return {
    conn(f) {
      const v = dp.maps.xlvs_conn.lookup(abi.connKey.encode({ saddr: abi.ipv4ToU32(f.client), daddr: abi.ipv4ToU32(f.vip), sport: f.cport, dport: f.vport, proto: f.proto }));
      if (!v) return null;
      const c = abi.conn.decode(v);
      return { realId: c.real_id, svcId: c.svc_id };
    },
    service(vip, port, proto) {
      const v = dp.maps.xlvs_svc.lookup(abi.svcKey.encode({ vip: abi.ipv4ToU32(vip), port, proto }));
      if (!v) return null;
      const s = abi.svc.decode(v);
      return { id: s.id, mhSize: s.tbl_size };
    },
    bucket(svcId, bucket) {
      let m = inners.get(svcId);
      if (!m) {
        const id = dp.maps.xlvs_tbl.lookup(abi.u32Key(svcId));
        if (!id) return null;
        m = native().BpfMap.fromId(id.readUInt32LE(0));
        inners.set(svcId, m);
      }
      const v = m.lookup(abi.u32Key(bucket));
      return v ? v.readUInt32LE(0) : null;
    },
    real(id) {
      const v = dp.maps.xlvs_reals.lookup(abi.u32Key(id));
      if (!v) return null;
      const r = abi.real.decode(v);
      if (r.addr === 0) return null;
      return { id, address: abi.u32ToIpv4(r.addr), svcId: r.svc_id, flags: r.flags, mac: r.mac };
    },
    close() {
      for (const m of inners.values()) m.close();
    },
  };
}
