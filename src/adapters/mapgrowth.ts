// SPDX-License-Identifier: Apache-2.0
// mapgrowth.ts: an upgrade's maps whose values grew (fields appended): finding the older, shorter pins and copying them into the new maps.

import * as fs from 'node:fs';
import * as abi from '../core/abi';
import { type BpfMap, native } from './native';
import type { MapName } from './pinned';

/** The maps an upgrade may grow by appending fields to their value (a pinned one of an older build is a prefix). */
const GROWABLE: Partial<Record<MapName, abi.StructSpec<unknown>>> = { xlvs_cfg: abi.cfg, xlvs_verdicts: abi.verdicts, xlvs_sweepst: abi.sweepStats };

export interface GrownPin {
  name: MapName;
  old: BpfMap;
}

/** Pinned growable maps whose values are shorter than this build's: they cannot be adopted as they are. */
export function grownPins(pins: Record<string, string>): GrownPin[] {
  const out: GrownPin[] = [];
  for (const [name, spec] of Object.entries(GROWABLE) as [MapName, abi.StructSpec<unknown>][]) {
    if (!pins[name] || !fs.existsSync(pins[name]!)) continue;
    const old = native().BpfMap.openPinned(pins[name]!);
    if (old.valueSize < spec.size) out.push({ name, old });
    else old.close();
  }
  return out;
}

/** Copies every value of an older, shorter map into its new map (zero-extended; per CPU for per-CPU maps), then closes it. */
export function copyGrown(g: GrownPin, to: BpfMap): void {
  try {
    const ncpu = to.percpu ? native().numPossibleCpus() : 1;
    const oldStride = to.percpu ? Math.ceil(g.old.valueSize / 8) * 8 : g.old.valueSize;
    const newStride = to.percpu ? Math.ceil(to.valueSize / 8) * 8 : to.valueSize;
    for (let k = 0; k < Math.min(g.old.maxEntries, to.maxEntries); k++) {
      const v = g.old.lookup(abi.u32Key(k));
      if (!v) continue;
      const out = Buffer.alloc(to.valueBufSize);
      for (let c = 0; c < ncpu; c++) v.copy(out, c * newStride, c * oldStride, c * oldStride + g.old.valueSize);
      to.update(abi.u32Key(k), out);
    }
  } finally {
    g.old.close();
  }
}
