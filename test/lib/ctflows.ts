// SPDX-License-Identifier: Apache-2.0
// ctflows.ts: what the connection-table tests of both families share: verdicts summed over CPUs, a frame repeated, flow snapshots compared.

import assert from 'node:assert/strict';
import type { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import * as abi from '../../src/core/abi';
import { XDP_TX } from '../../src/core/verdictmodel';

/** xlvs_verdicts summed over the possible CPUs. */
export const verdictsOf = (d: Datapath): abi.Verdicts => abi.sumPerCpu(abi.verdicts, d.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus());

/** One frame through the datapath n times (the fresh-flow build folds the next flow into each); every one forwarded. */
export async function sendRepeat(d: Datapath, data: Buffer, n: number): Promise<void> {
  const out = await native().testRun(d.programFd(), { data, repeat: n });
  assert.equal(out.retval, XDP_TX, 'XDP_TX');
}

/** Held entries by flow name (client address and port) to their real. */
export function snapshotOf<K extends { sport: number }>(records: Iterable<{ key: K; val: abi.Conn }>, client: (key: K) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) m.set(`${client(r.key)}:${r.key.sport}`, r.val.real_id);
  return m;
}

/** Flows of before (but those in skip) that after lacks or holds on another real. */
export function changed(before: Map<string, number>, after: Map<string, number>, skip = new Set<string>()): number {
  let n = 0;
  for (const [k, real] of before) if (!skip.has(k) && after.get(k) !== real) n++;
  return n;
}
