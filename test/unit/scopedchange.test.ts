// SPDX-License-Identifier: Apache-2.0
// scopedchange.test.ts: a change to one service at 10,000 services plans and writes that service alone; a rejected one writes nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/core/config';
import { Controller, type DatapathPort } from '../../src/core/controller';
import { edits } from '../../src/core/edits';
import type { Op } from '../../src/core/plan';

const N = 10_000;
const raw = {
  interface: 'eth0',
  conn_table_size: 65536,
  services: Array.from({ length: N }, (_, i) => ({
    vip: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    port: 80,
    protocol: 'tcp' as const,
    maglev_size: 251,
    reals: Array.from({ length: 3 }, (_, j) => ({ address: `10.0.1.${11 + j}`, weight: 1 + j })),
  })),
};

async function running(): Promise<{ ctl: Controller; writes: Op[][] }> {
  const writes: Op[][] = [];
  const dp: DatapathPort = {
    apply: (ops) => void writes.push([...ops]),
    connsOf: () => 0,
    counters: () => ({ svc: new Map(), real: new Map() }),
    zero: () => undefined,
  };
  const ctl = new Controller(validateConfig({ interface: 'eth0', conn_table_size: 65536 }), [], {
    datapath: dp,
    resolve: (a) => new Map(a.map((x) => [x, '02:00:00:00:01:01'])),
    check: () => undefined,
    persist: () => undefined,
    log: () => undefined,
    now: () => 0,
  });
  await ctl.apply(raw, { persist: false });
  writes.length = 0;
  return { ctl, writes };
}

test('a weight edit at 10,000 services writes one real and one table of that service', async () => {
  const { ctl, writes } = await running();
  const s = raw.services[4321]!;
  await ctl.change(edits.editReal({ vip: s.vip, port: 80, protocol: 'tcp' }, { address: '10.0.1.11', weight: 7 }));
  assert.equal(writes.length, 1);
  const ops = writes[0]!;
  assert.deepEqual(
    ops.map((o) => o.op),
    ['putReal', 'putTable'],
  );
  const real = ops[0] as Extract<Op, { op: 'putReal' }>;
  assert.equal(real.real.address, '10.0.1.11');
  assert.equal(real.real.weight, 7);
  const svcId = ctl.syncView().observed.find((o) => o.vip === s.vip)!.id;
  assert.equal(real.real.svcId, svcId);
  assert.equal((ops[1] as Extract<Op, { op: 'putTable' }>).svcId, svcId);
  // A full re-sync afterwards finds nothing left to do: the scoped plan left the model as a full plan would.
  await ctl.sync();
  assert.equal(writes.length, 1);
});

test('a rejected edit (a real at the VIP) writes nothing and leaves the running config', async () => {
  const { ctl, writes } = await running();
  const s = raw.services[9]!;
  await assert.rejects(ctl.change(edits.addReal({ vip: s.vip, port: 80, protocol: 'tcp' }, { address: s.vip })), /own VIP/);
  assert.equal(writes.length, 0);
  assert.equal(ctl.config().services[9]!.reals.length, 3);
  // A new real in one service gets an id no other service holds.
  await ctl.change(edits.addReal({ vip: s.vip, port: 80, protocol: 'tcp' }, { address: '10.0.1.20' }));
  const ids = ctl.syncView().observed.flatMap((o) => o.reals.map((r) => r.id));
  assert.equal(new Set(ids).size, ids.length);
});
