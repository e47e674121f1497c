// SPDX-License-Identifier: Apache-2.0
// objectload.ts: opens and loads the XDP object: map sizes from the config, pins adopted (or grown by an upgrade), xlvs_cfg's first value.

import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as abi from '../core/abi';
import { stateTimeouts } from '../core/config';
import { ctGeometry } from '../core/conntable';
import { ctInitialLive } from '../core/ctgrow';
import { RuntimeError } from '../core/errors';
import { loadFailureMessage } from '../core/loadfailure';
import { requireKernel } from './kernelprobe';
import { copyGrown, grownPins } from './mapgrowth';
import { type BpfObject, isNativeError, native, repoRoot } from './native';
import { ADDED_MAPS, MAP_NAMES, type Maps, pinPaths } from './pinned';

export function objectPath(name = 'xlvs'): string {
  return path.join(repoRoot(), 'build', 'bpf', `${name}.o`);
}

export interface Timeouts {
  tcp: number;
  tcp_fin: number;
  udp: number;
}
/** IPVS's defaults (ipvsadm -L --timeout: 900 120 300). */
export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcp_fin: 120, udp: 300 };

/** What Datapath.load takes. */
export interface LoadOptions {
  connTableSize: number;
  /** Entries of the IPv6 connection table (xlvs_conn6); default conn6TableSize(connTableSize), a quarter. */
  connTable6Size?: number;
  connTablePerCpu?: boolean;
  objPath?: string;
  /** A pin directory whose maps the new program adopts (a restart or an upgrade keeps every flow). */
  reuseFrom?: string;
  /** xlvs_syncq's size (a power of two of pages; default XLVS_SYNCQ_BYTES). */
  syncQueueBytes?: number;
}

/** The loaded object, its maps, and the xlvs_cfg value written; reused: pins were adopted (a restart or an upgrade). */
export interface OpenedObject {
  obj: BpfObject;
  maps: Maps;
  cfgValue: abi.Cfg;
  kernelNotes: readonly string[];
  reused: boolean;
}

export async function openObject(opts: LoadOptions): Promise<OpenedObject> {
  let obj: BpfObject;
  const reuseMaps = opts.reuseFrom ? pinPaths(opts.reuseFrom) : undefined;
  // Maps an upgrade grew by appended fields are created anew and their old values copied in (after the load).
  const grown = reuseMaps ? grownPins(reuseMaps) : [];
  for (const g of grown) delete reuseMaps![g.name];
  // Maps an older build did not have (the IPv6 ones) are made afresh beside the adopted ones.
  for (const name of ADDED_MAPS) if (reuseMaps?.[name] && !fs.existsSync(reuseMaps[name]!)) delete reuseMaps[name];
  const geo = ctGeometry(opts.connTableSize, opts.connTablePerCpu ?? false, native().numPossibleCpus());
  const conn6Size = opts.connTable6Size ?? abi.conn6TableSize(opts.connTableSize);
  const geo6 = ctGeometry(conn6Size, opts.connTablePerCpu ?? false, native().numPossibleCpus(), abi.CT6_WAYS);
  const objPath = opts.objPath ?? objectPath();
  const kernelNotes = await requireKernel();
  try {
    obj = await native().BpfObject.open(objPath, {
      mapMaxEntries: {
        xlvs_conn: geo.buckets * geo.slices,
        xlvs_persist: abi.persistTableSize(opts.connTableSize),
        xlvs_conn6: geo6.buckets * geo6.slices,
        xlvs_persist6: abi.persistTableSize(conn6Size),
        xlvs_seen: Math.max(1, Math.ceil(geo.buckets / abi.SEEN_PER_WORD)),
        xlvs_seen6: Math.max(1, Math.ceil(geo6.buckets / abi.SEEN_PER_WORD)),
        ...(opts.syncQueueBytes ? { xlvs_syncq: opts.syncQueueBytes } : {}),
      },
      ...(reuseMaps ? { reuseMaps } : {}),
    });
  } catch (e) {
    if (isNativeError(e)) throw new RuntimeError(loadFailureMessage(e, os.release(), path.basename(objPath)), { cause: e });
    throw e;
  }
  const maps = {} as Maps;
  for (const name of MAP_NAMES) maps[name] = obj.map(name);
  for (const g of grown) copyGrown(g, maps[g.name]);
  // An adopted table keeps its hash seed (its flows are where that seed put them); a new one gets a fresh seed.
  const prior = abi.cfg.decode(maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const adopt = prior.ct_buckets === geo.buckets && prior.ct_per_cpu === (opts.connTablePerCpu ? 1 : 0);
  const cfgValue: abi.Cfg = {
    mac: '00:00:00:00:00:00',
    timeout: stateTimeouts(DEFAULT_TIMEOUTS),
    ...(adopt ? { mac: prior.mac, timeout: prior.timeout } : {}),
    ct_buckets: geo.buckets,
    ct_per_cpu: opts.connTablePerCpu ? 1 : 0,
    ct_seed: adopt ? prior.ct_seed : randomInt(2 ** 32 - 1) >>> 0,
    ct_total: geo.buckets * geo.slices,
    accept_mac: [],
    sync_emit: 0, // a load never emits until a plan turns it on (the controller starts from SYNC_OFF)
    ct6_buckets: geo6.buckets,
    ct6_total: geo6.buckets * geo6.slices,
    nc_budget: 0, // the controller writes the config's new_conn_budget
    // Onward from the pinned value, never back: the program this load replaces reads the same xlvs_cfg until it is.
    svc_gen: nextSvcGen(prior.svc_gen),
  };
  cfgValue.accept_mac = acceptSlots(cfgValue.mac, adopt ? prior.accept_mac.filter((m) => m !== prior.mac && m !== '00:00:00:00:00:00') : []);
  maps.xlvs_cfg.update(abi.u32Key(0), abi.cfg.encode(cfgValue));
  // A new table (each family's) grows from small (its working set follows its flows); per-CPU slices stay fixed.
  // Adopted pins keep their size, and an older build's table (no xlvs_ctgeo or xlvs_ctgeo6 pinned for it) stays fixed:
  // its entries lie by multiply-shift.
  if (!reuseMaps) {
    const live = opts.connTablePerCpu ? 0 : ctInitialLive(geo.buckets);
    maps.xlvs_ctgeo.update(abi.u32Key(0), abi.ctGeo.encode({ live, prev: 0 }));
    const live6 = opts.connTablePerCpu ? 0 : ctInitialLive(geo6.buckets);
    maps.xlvs_ctgeo6.update(abi.u32Key(0), abi.ctGeo.encode({ live: live6, prev: 0 }));
  }
  return { obj, maps, cfgValue, kernelNotes, reused: !!reuseMaps };
}

/** xlvs_cfg.svc_gen's next value: any other than the last, never 0 (an empty xlvs_svcc slot's). */
export function nextSvcGen(gen: number): number {
  return (gen % 0xffffffff) + 1;
}

/** The ACCEPT_MACS slots of xlvs_cfg: the extra MACs, then the NIC's own repeated (the datapath compares every slot). */
export function acceptSlots(mac: string, extra: readonly string[]): string[] {
  return Array.from({ length: abi.ACCEPT_MACS }, (_, i) => extra[i] ?? mac);
}
