// SPDX-License-Identifier: Apache-2.0
// pinned.ts: where a director pins its maps and link, and reading what a running director left there (status, trace, tests).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as abi from '../core/abi';
import { tableKind } from '../core/director';
import { RuntimeError } from '../core/errors';
import { bytesToIp } from '../core/net/addr';
import type { ObservedService } from '../core/plan';
import { tblOwner } from '../core/tblmarks';
import { type BpfMap, describeNativeError, native } from './native';

/** The maps of the XDP object that a director pins (and a restart or an upgrade adopts). */
export const MAP_NAMES = [
  'xlvs_svc',
  'xlvs_conn',
  'xlvs_reals',
  'xlvs_rconn',
  'xlvs_tbl',
  'xlvs_pos',
  'xlvs_persist',
  'xlvs_cfg',
  'xlvs_st_svc',
  'xlvs_st_real',
  'xlvs_verdicts',
  'xlvs_sweepst',
  'xlvs_svc6',
  'xlvs_conn6',
  'xlvs_persist6',
  'xlvs_raddr6',
  'xlvs_ctgeo',
  'xlvs_ctgeo6',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/**
 * Maps added after the first pinned release (the IPv6 ones, xlvs_ctgeo, xlvs_ctgeo6): a pin directory of an older build lacks them,
 * and a load adopting it makes them afresh (there were no IPv6 services to keep; a zero xlvs_ctgeo or xlvs_ctgeo6 keeps the adopted
 * table's fixed placement).
 */
export const ADDED_MAPS: readonly MapName[] = ['xlvs_svc6', 'xlvs_conn6', 'xlvs_persist6', 'xlvs_raddr6', 'xlvs_ctgeo', 'xlvs_ctgeo6'];

/**
 * Maps of the object that are never pinned nor adopted: each load makes its own. xlvs_syncq (the sync records' ring
 * buffer), xlvs_scratch6 (the IPv6 path's per-packet scratch) xlvs_ncb (the new-connection budget's count) and
 * xlvs_svcc and xlvs_svcc6 (the service caches) hold nothing a restart must keep, and an upgrade from a build without it must still
 * adopt every other map.
 * xlvs_seen and xlvs_seen6 (established flows' activity bits) lose one sweep pass of bits; xlvs_tblmarked (which tables hold marks)
 * is set again for every table the new load writes.
 */
export const UNPINNED_MAPS = ['xlvs_syncq', 'xlvs_scratch6', 'xlvs_ncb', 'xlvs_svcc', 'xlvs_svcc6', 'xlvs_seen', 'xlvs_seen6', 'xlvs_tblmarked'] as const;
export type Maps = Record<MapName, BpfMap>;

/** The pinned XDP link of a long-running director, next to its maps. */
export const LINK_PIN = 'link';

/** A map's pin name: its name without the xlvs_ prefix (the directory says whose it is). */
export function pinName(map: string): string {
  return map.replace(/^xlvs_/, '');
}

/** Map name -> where it is pinned under dir. */
export function pinPaths(dir: string): Record<string, string> {
  return Object.fromEntries(MAP_NAMES.map((n) => [n, path.join(dir, pinName(n))]));
}

/** Whether dir holds a complete set of map pins a new load can adopt (an older build's set lacks ADDED_MAPS). */
export function hasPinnedMaps(dir: string): boolean {
  return Object.entries(pinPaths(dir)).every(([n, p]) => ADDED_MAPS.includes(n as MapName) || fs.existsSync(p));
}

/** Removes a director's pins and their directory, then the directory above it once no other interface's pins are there. */
export function removePins(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmdirSync(dir);
  const parent = path.dirname(dir);
  if (fs.existsSync(parent) && fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
}

export interface RealSnapshot {
  id: number;
  address: string;
  mac: string | null;
  weight: number;
  flags: number;
  uThreshold: number;
  lThreshold: number;
  stats: abi.Counters;
  conns: abi.RealConns;
}

export interface ServiceSnapshot {
  id: number;
  vip: string;
  port: number;
  proto: number;
  scheduler: string;
  flags: number;
  persistTimeout: number;
  persistMask: string;
  /** Entries of the schedule table in use (the Maglev size for mh, sh, dh). */
  tblSize: number;
  stats: abi.Counters;
  reals: RealSnapshot[];
}

export interface Snapshot {
  services: ServiceSnapshot[];
  verdicts: abi.Verdicts;
}

function schedName(n: number): string {
  return Object.entries(abi.SCHED).find(([, v]) => v === n)?.[0] ?? 'mh';
}

/** Reads what a running director left in its pinned maps; everything status and tests need, nothing the datapath does not hold. */
export class PinnedDatapath {
  readonly maps: Maps;
  private readonly ncpu: number;

  constructor(readonly dir: string) {
    if (!fs.existsSync(dir)) throw new RuntimeError(`no xlvs datapath pinned at ${dir}: is "xlvs up" running on that interface?`);
    const n = native();
    this.ncpu = n.numPossibleCpus();
    const maps = {} as Maps;
    try {
      for (const [name, p] of Object.entries(pinPaths(dir)) as [MapName, string][]) maps[name] = n.BpfMap.openPinned(p);
    } catch (e) {
      for (const m of Object.values(maps)) m.close();
      throw new RuntimeError(`cannot open the pinned maps in ${dir}: ${describeNativeError(e)}`, { cause: e });
    }
    this.maps = maps;
  }

  private perCpu<T extends object>(spec: abi.StructSpec<T>, map: BpfMap, key: number): T {
    const buf = map.lookup(abi.u32Key(key));
    return buf ? abi.sumPerCpu(spec, buf, this.ncpu) : (spec.decode(Buffer.alloc(spec.size)) as T);
  }

  /** The loaded programs that use these maps (the attached datapath, its sweeper), as the kernel reports them. */
  programs(): { name: string; id: number; verifiedInsns: number | null }[] {
    const cfgId = this.maps.xlvs_cfg.id;
    return native()
      .probe.programs()
      .filter((p) => p.mapIds.includes(cfgId))
      .map((p) => ({ name: p.name, id: p.id, verifiedInsns: p.verifiedInsns }));
  }

  snapshot(): Snapshot {
    const services: ServiceSnapshot[] = [];
    for (const v6 of [false, true]) {
      const map = v6 ? this.maps.xlvs_svc6 : this.maps.xlvs_svc;
      for (let k = map.nextKey(null); k; k = map.nextKey(k)) {
        const v = map.lookup(k);
        if (!v) continue; // deleted between the two calls
        const key = v6 ? abi.svc6Key.decode(k) : abi.svcKey.decode(k);
        const s = abi.svc.decode(v);
        services.push({
          id: s.id,
          vip: v6 ? bytesToIp((key as abi.Svc6Key).vip) : abi.u32ToIpv4((key as abi.SvcKey).vip),
          port: key.port,
          proto: key.proto,
          scheduler: schedName(s.sched),
          flags: s.flags,
          persistTimeout: s.persist_timeout,
          // An IPv6 service's mask is its prefix length, as ServiceState.persistMask holds it.
          persistMask: v6 ? String(s.persist_plen6 ?? 128) : abi.u32ToIpv4(s.persist_mask),
          tblSize: s.tbl_size,
          stats: this.perCpu(abi.counters, this.maps.xlvs_st_svc, s.id),
          reals: [],
        });
      }
    }
    const byId = new Map(services.map((s) => [s.id, s]));
    const all = this.maps.xlvs_reals.lookupBatch(4096);
    // An IPv6 real has addr 0 and its address in xlvs_raddr6 (read whole, only when an IPv6 service exists).
    const v6 = services.some((s) => s.vip.includes(':')) ? this.maps.xlvs_raddr6.lookupBatch(4096) : null;
    const stride6 = this.maps.xlvs_raddr6.valueSize;
    for (let i = 0; i < all.count; i++) {
      const r = abi.real.decode(all.values, i * this.maps.xlvs_reals.valueSize);
      const id = all.keys.readUInt32LE(i * 4);
      const a6 = r.addr === 0 && v6 && id < v6.count && v6.keys.readUInt32LE(id * 4) === id ? v6.values.subarray(id * stride6, id * stride6 + 16) : null;
      const address = r.addr !== 0 ? abi.u32ToIpv4(r.addr) : a6 && a6.some((b) => b !== 0) ? bytesToIp(a6) : null;
      if (address === null) continue; // never written
      byId.get(r.svc_id)?.reals.push({
        id,
        address,
        mac: r.flags & abi.REAL_F_MAC ? r.mac : null,
        weight: r.weight,
        flags: r.flags,
        uThreshold: r.u_threshold,
        lThreshold: r.l_threshold,
        stats: this.perCpu(abi.counters, this.maps.xlvs_st_real, id),
        conns: abi.realConns.decode(this.maps.xlvs_rconn.lookup(abi.u32Key(id)) ?? Buffer.alloc(abi.realConns.size)),
      });
    }
    services.sort((a, b) => a.id - b.id);
    for (const s of services) s.reals.sort((a, b) => a.id - b.id);
    return { services, verdicts: this.perCpu(abi.verdicts, this.maps.xlvs_verdicts, 0) };
  }

  /** The schedule table a service's lookups use now (an inner map, opened by the id the outer map holds). */
  table(svcId: number, size: number): Uint32Array | undefined {
    const v = this.maps.xlvs_tbl.lookup(abi.u32Key(svcId));
    if (!v) return undefined;
    const m = native().BpfMap.fromId(v.readUInt32LE(0));
    try {
      const out = new Uint32Array(size);
      const got = m.lookupBatch(8192);
      for (let i = 0; i < got.count; i++) {
        const k = got.keys.readUInt32LE(i * 4);
        if (k < size) out[k] = tblOwner(got.values.readUInt32LE(i * m.valueSize)); // without the stateless path's marks
      }
      return out;
    } finally {
      m.close();
    }
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
  }
}

/**
 * The datapath's current services and reals as the planner sees them. Hash tables are read back, marked as such: the
 * first plan after a restart recomputes them and rewrites only one that differs (an older version's, or another
 * history's); other tables are rewritten whole.
 */
export function readObserved(dir: string): ObservedService[] {
  const p = new PinnedDatapath(dir);
  try {
    return p.snapshot().services.map((s) => ({
      id: s.id,
      vip: s.vip,
      port: s.port,
      proto: s.proto,
      mhSize: s.tblSize,
      tblSize: s.tblSize,
      scheduler: s.scheduler,
      flags: s.flags,
      persistTimeout: s.persistTimeout,
      persistMask: s.persistMask,
      ...(tableKind(s.scheduler) === 'hash' ? { table: p.table(s.id, s.tblSize), tableFromPins: true as const } : {}),
      reals: s.reals.map((r) => ({
        id: r.id,
        address: r.address,
        weight: r.weight,
        mac: r.mac,
        flags: r.flags,
        uThreshold: r.uThreshold,
        lThreshold: r.lThreshold,
      })),
    }));
  } finally {
    p.close();
  }
}

/** Pins every map under dir: a missing pin is made, and one naming another map (grown by an upgrade) is replaced in one rename. */
export function syncPins(maps: Maps, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, p] of Object.entries(pinPaths(dir)) as [MapName, string][]) {
    if (!fs.existsSync(p)) {
      maps[name].pin(p);
      continue;
    }
    const pinned = native().BpfMap.openPinned(p);
    const same = pinned.id === maps[name].id;
    pinned.close();
    if (!same) {
      // bpffs refuses names with a dot
      maps[name].pin(`${p}_new`);
      fs.renameSync(`${p}_new`, p);
    }
  }
}
