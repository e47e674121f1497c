// SPDX-License-Identifier: Apache-2.0
// mapwrites.ts: reals and services as map entries: encoded, written in batches, and deleted, for Datapath.apply().

import * as abi from '../core/abi';
import { type RealState, realFlags, type ServiceState, schedNumber } from '../core/director';
import { ipToBytes, isIPv6 } from '../core/net/addr';
import { BPF_ANY } from './native';
import type { Maps } from './pinned';

/** Writes many reals; `fresh` ids (new or reused) get zeroed counters and connection counts first, in the same batch style. */
export function writeReals(maps: Maps, reals: readonly RealState[], fresh: readonly number[]): void {
  if (fresh.length) {
    const keys = Buffer.alloc(fresh.length * 4);
    fresh.forEach((id, i) => keys.writeUInt32LE(id, i * 4));
    const st = maps.xlvs_st_real,
      rc = maps.xlvs_rconn,
      a6 = maps.xlvs_raddr6;
    st.updateBatch(keys, Buffer.alloc(fresh.length * st.valueBufSize), fresh.length, BPF_ANY);
    rc.updateBatch(keys, Buffer.alloc(fresh.length * rc.valueBufSize), fresh.length, BPF_ANY);
    a6.updateBatch(keys, Buffer.alloc(fresh.length * a6.valueBufSize), fresh.length, BPF_ANY);
  }
  // An IPv6 real's address lives in xlvs_raddr6 (xlvs_real.addr is an IPv4 field, 0 for it).
  const v6 = reals.filter((r) => isIPv6(r.address));
  if (v6.length) {
    const keys = Buffer.alloc(v6.length * 4);
    const values = Buffer.alloc(v6.length * abi.real6.size);
    v6.forEach((r, i) => {
      keys.writeUInt32LE(r.id, i * 4);
      values.set(ipToBytes(r.address), i * abi.real6.size);
    });
    maps.xlvs_raddr6.updateBatch(keys, values, v6.length, BPF_ANY);
  }
  if (!reals.length) return;
  const keys = Buffer.alloc(reals.length * 4);
  const values = Buffer.alloc(reals.length * abi.real.size);
  reals.forEach((r, i) => {
    keys.writeUInt32LE(r.id, i * 4);
    abi.real.encode(
      {
        mac: r.mac ?? '00:00:00:00:00:00',
        flags: realFlags(r),
        addr: isIPv6(r.address) ? 0 : abi.ipv4ToU32(r.address),
        svc_id: r.svcId,
        weight: r.weight,
        u_threshold: r.uThreshold ?? 0,
        l_threshold: r.lThreshold ?? 0,
      },
      values,
      i * abi.real.size,
    );
  });
  maps.xlvs_reals.updateBatch(keys, values, reals.length, BPF_ANY);
}

/** Service keys in one batch; `fresh` ids get zeroed counters first (a new or reused id starts from 0). */
export function writeServices(maps: Maps, services: readonly ServiceState[], fresh: readonly number[]): void {
  if (fresh.length) {
    const keys = Buffer.alloc(fresh.length * 4);
    fresh.forEach((id, i) => keys.writeUInt32LE(id, i * 4));
    const st = maps.xlvs_st_svc;
    st.updateBatch(keys, Buffer.alloc(fresh.length * st.valueBufSize), fresh.length, BPF_ANY);
  }
  // One batch per family: IPv6 services have their own map (xlvs_svc6), values alike, ids from one space.
  for (const [map, spec, group] of [
    [maps.xlvs_svc, abi.svcKey, services.filter((s) => !isIPv6(s.vip))],
    [maps.xlvs_svc6, abi.svc6Key, services.filter((s) => isIPv6(s.vip))],
  ] as const) {
    if (!group.length) continue;
    const keys = Buffer.alloc(group.length * spec.size);
    const values = Buffer.alloc(group.length * abi.svc.size);
    group.forEach((s, i) => {
      serviceKey(s.vip, s.port, s.proto).copy(keys, i * spec.size);
      abi.svc.encode(serviceValue(s), values, i * abi.svc.size);
    });
    if (group.length === 1) map.update(keys, values);
    else map.updateBatch(keys, values, group.length, BPF_ANY);
  }
}

export function deleteService(maps: Maps, vip: string, port: number, proto: number): void {
  (isIPv6(vip) ? maps.xlvs_svc6 : maps.xlvs_svc).delete(serviceKey(vip, port, proto));
}

/** A fresh or reused real id starts with no tracked connections and not overloaded. */
export function resetRealConns(maps: Maps, id: number): void {
  maps.xlvs_rconn.update(abi.u32Key(id), Buffer.alloc(abi.realConns.size));
}

/** An all-zero entry has no flags: connections still naming it are rescheduled, not blackholed. */
export function deleteReal(maps: Maps, id: number): void {
  maps.xlvs_reals.update(abi.u32Key(id), Buffer.alloc(abi.real.size));
}

/** A service's key in its family's map: xlvs_svc (struct xlvs_svc_key) or xlvs_svc6 (struct xlvs_svc6_key). */
function serviceKey(vip: string, port: number, proto: number): Buffer {
  return isIPv6(vip) ? abi.svc6Key.encode({ vip: Buffer.from(ipToBytes(vip)), port, proto }) : abi.svcKey.encode({ vip: abi.ipv4ToU32(vip), port, proto });
}

/** A service's struct xlvs_svc: the persistence mask is a dotted netmask for IPv4, a prefix length (persist_plen6) for IPv6. */
function serviceValue(s: ServiceState): abi.Svc {
  const v6 = isIPv6(s.vip);
  return {
    id: s.id,
    flags: s.flags ?? 0,
    tbl_size: s.tblSize ?? s.mhSize,
    sched: schedNumber(s.scheduler),
    persist_plen6: v6 ? Number(s.persistMask ?? 128) : 0,
    persist_timeout: s.persistTimeout ?? 0,
    persist_mask: v6 ? 0 : abi.ipv4ToU32(s.persistMask ?? '255.255.255.255'),
  };
}
