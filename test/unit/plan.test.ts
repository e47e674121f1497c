// SPDX-License-Identifier: Apache-2.0
// plan.test.ts: the reconcile core: minimal operations, their safe order, stable ids, no id reuse within a plan, and what a dry run counts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_F_MAC, REAL_F_SCHED, REAL_NONE } from '../../src/core/abi';
import { validateConfig } from '../../src/core/config';
import { realFlags } from '../../src/core/director';
import { type Op, observedAfter, plan, planSummary } from '../../src/core/plan';

function services(spec: Record<string, Record<string, number>>, size = 251) {
  return validateConfig({
    interface: 'eth0',
    services: Object.entries(spec).map(([k, reals]) => {
      const [vip, port, protocol] = k.split(/[:/]/);
      return { vip, port: Number(port), protocol, maglev_size: size, reals: Object.entries(reals).map(([address, weight]) => ({ address, weight })) };
    }),
  }).services;
}

const MACS = new Map(['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14'].map((a, i) => [a, `02:00:00:00:00:1${i + 1}`]));
const kinds = (ops: Op[]) => ops.map((o) => o.op);

test('from nothing: reals, then table, then the service key last', () => {
  const p = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 2 } }), [], MACS);
  assert.deepEqual(kinds(p.ops), ['putReal', 'putReal', 'putTable', 'putService']);
  assert.deepEqual(
    p.services[0]!.reals.map((r) => r.id),
    [0, 1],
  );
  assert.equal(
    p.ops.every((o) => o.op !== 'putReal' || o.fresh),
    true,
  );
});

test('the same config again is no operation at all', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 2 } });
  const p1 = plan(d, [], MACS);
  const p2 = plan(d, observedAfter(p1), MACS);
  assert.deepEqual(p2.ops, []);
});

test('an empty config is valid and plans nothing', () => {
  assert.deepEqual(plan([], [], MACS).ops, []);
});

test('adding a real: only the new real and one table swap; ids of the others are kept', () => {
  const p1 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } }), [], MACS);
  const p2 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1, '10.0.0.13': 1 } }), observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['putReal', 'putTable']);
  assert.deepEqual(
    p2.services[0]!.reals.map((r) => r.id),
    [0, 1, 2],
  );
  const t = p2.ops[1] as Extract<Op, { op: 'putTable' }>;
  // Maglev: about a third of the buckets move, nearly all of them to the new real.
  assert.ok(t.moved > 251 / 3 - 30 && t.moved < 251 / 3 + 30, `moved ${t.moved}`);
  const old = p1.tables.get(0)!;
  let toNew = 0;
  for (let i = 0; i < t.table.length; i++) if (old[i] !== t.table[i] && t.table[i] === 2) toNew++;
  assert.ok(toNew >= 0.9 * t.moved, `${toNew} of ${t.moved} moved to the new real`);
  assert.equal(planSummary(p2).bucketsMoved, t.moved);
});

test('removing a real: table first, then the real, then its connection entries; freed ids come back last', () => {
  const p1 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } }), [], MACS);
  const p2 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.13': 1 } }), observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['putReal', 'putTable', 'deleteReal', 'purgeConns']);
  const added = p2.ops[0] as Extract<Op, { op: 'putReal' }>;
  assert.equal(added.real.address, '10.0.0.13');
  assert.equal(added.real.id, 2, 'id 1 is being freed by this plan, so the new real gets another');
  assert.deepEqual((p2.ops[3] as Extract<Op, { op: 'purgeConns' }>).realIds, [1]);
  assert.deepEqual((p2.ops[3] as Extract<Op, { op: 'purgeConns' }>).tables, [4], 'an IPv4 real: only the IPv4 table is walked');
  assert.deepEqual(planSummary(p2).removedRealIds, [1]);
  // Later plans keep going upwards (flow caches may still name id 1), wrapping only at the id limit.
  const p3 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.13': 1, '10.0.0.14': 1 } }), observedAfter(p2), MACS);
  assert.equal(p3.services[0]!.reals[2]!.id, 3);
});

test('removing a service: key first, then table, then reals and their connections', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1 }, '10.0.0.100:53/udp': { '10.0.0.12': 1 } });
  const p1 = plan(d, [], MACS);
  const p2 = plan(services({ '10.0.0.100:53/udp': { '10.0.0.12': 1 } }), observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['deleteService', 'deleteTable', 'deleteReal', 'purgeConns']);
  assert.equal(p2.services[0]!.id, 1, 'the surviving service keeps its id');
  assert.equal(p2.services[0]!.reals[0]!.id, 1);
});

test("a purge walks the tables of the removed reals' families only", () => {
  const cfg = (svcs: { vip: string; reals: string[] }[]) =>
    validateConfig({
      interface: 'eth0',
      services: svcs.map((v) => ({ vip: v.vip, port: 80, protocol: 'tcp', maglev_size: 251, reals: v.reals.map((address) => ({ address, weight: 1 })) })),
    }).services;
  const both = [
    { vip: '10.0.0.100', reals: ['10.0.0.11', '10.0.0.12'] },
    { vip: '2001:db8::100', reals: ['2001:db8::11', '2001:db8::12'] },
  ];
  const p1 = plan(cfg(both), [], MACS);
  const purge = (p: ReturnType<typeof plan>) => p.ops.filter((o): o is Extract<Op, { op: 'purgeConns' }> => o.op === 'purgeConns');
  const v6Gone = plan(cfg([both[0]!, { vip: '2001:db8::100', reals: ['2001:db8::11'] }]), observedAfter(p1), MACS);
  assert.deepEqual(
    purge(v6Gone).map((o) => o.tables),
    [[6]],
  );
  const svc6Gone = plan(cfg([both[0]!]), observedAfter(p1), MACS);
  assert.deepEqual(
    purge(svc6Gone).map((o) => o.tables),
    [[6]],
  );
  const bothGone = plan(
    cfg([
      { vip: '10.0.0.100', reals: ['10.0.0.11'] },
      { vip: '2001:db8::100', reals: ['2001:db8::11'] },
    ]),
    observedAfter(p1),
    MACS,
  );
  assert.deepEqual(
    purge(bothGone).map((o) => o.tables),
    [[4, 6]],
  );
});

test('a weight change rewrites the real before its table; weight 0 leaves the table', () => {
  const p1 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } }), [], MACS);
  const p2 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 0 } }), observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['putReal', 'putTable']);
  const t = (p2.ops[1] as Extract<Op, { op: 'putTable' }>).table;
  assert.ok(t.every((x) => x === 0));
});

test('a real whose MAC is unresolved is written but takes no buckets; resolving it later swaps the table', () => {
  const noMac = new Map([
    ['10.0.0.11', '02:00:00:00:00:11'],
    ['10.0.0.12', null],
  ]);
  const p1 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } }), [], noMac);
  assert.ok(p1.tables.get(0)!.every((x) => x === 0));
  const p2 = plan(services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } }), observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['putReal', 'putTable']);
  assert.ok(p2.tables.get(0)!.some((x) => x === 1));
});

test('a real whose neighbour entry goes away keeps its MAC for its connections, takes no new ones, and is scheduled again once resolved', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } });
  const p1 = plan(d, [], MACS);
  // Flushed (ip neigh flush, link down) or FAILED: the kernel no longer holds 10.0.0.12's MAC.
  const gone = new Map([
    ['10.0.0.11', '02:00:00:00:00:11'],
    ['10.0.0.12', null],
  ]);
  const p2 = plan(d, observedAfter(p1), gone);
  const r = p2.services[0]!.reals[1]!;
  assert.deepEqual([r.mac, r.macStale], ['02:00:00:00:00:12', true], 'the last known MAC is kept');
  const put = p2.ops.find((o): o is Extract<Op, { op: 'putReal' }> => o.op === 'putReal')!;
  assert.equal(put.real.address, '10.0.0.12');
  assert.equal(realFlags(put.real), REAL_F_MAC, 'existing connections are forwarded (F_MAC), new ones are not (no F_SCHED)');
  assert.ok(
    p2.tables.get(0)!.every((x) => x === 0),
    'its Maglev buckets go to the resolved real',
  );
  // Still gone on the next re-plan: nothing to do; then resolved again (at a new MAC): schedulable at once.
  assert.deepEqual(kinds(plan(d, observedAfter(p2), gone).ops), []);
  const back = new Map([
    ['10.0.0.11', '02:00:00:00:00:11'],
    ['10.0.0.12', '02:00:00:00:00:99'],
  ]);
  const p3 = plan(d, observedAfter(p2), back);
  assert.deepEqual([p3.services[0]!.reals[1]!.mac, p3.services[0]!.reals[1]!.macStale], ['02:00:00:00:00:99', undefined]);
  assert.equal(realFlags(p3.services[0]!.reals[1]!), REAL_F_MAC | REAL_F_SCHED);
});

test('adopted state (tables unknown) rewrites every table once, keeps every id, and touches nothing else', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 1 } });
  const adopted = observedAfter(plan(d, [], MACS)).map((s) => ({ ...s, table: undefined }));
  const p = plan(d, adopted, MACS);
  assert.deepEqual(kinds(p.ops), ['putTable']);
  assert.deepEqual(
    p.services[0]!.reals.map((r) => r.id),
    [0, 1],
  );
});

test('a service with no reals gets an empty table', () => {
  const p = plan(services({ '10.0.0.100:80/tcp': {} }), [], MACS);
  assert.deepEqual(kinds(p.ops), ['putTable', 'putService']);
  assert.ok(p.tables.get(0)!.every((x) => x === REAL_NONE));
});

test('a Maglev size change never lets hash % size index past the live table: grow = table first, shrink = size first', () => {
  const d = (size: number) => services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1 } }, size);
  const p1 = plan(d(251), [], MACS);
  const grow = plan(d(257), observedAfter(p1), MACS);
  assert.deepEqual(kinds(grow.ops), ['putTable', 'putService']);
  const shrink = plan(d(251), observedAfter(grow), MACS);
  assert.deepEqual(kinds(shrink.ops), ['putService', 'putTable']);
});

// The table is a function of the config (never of the previous table), so an edit moves its share plus Maglev's
// spill-over: under 0.6 % of the table up to 100 reals at size 65537 (bench/maglevmoves.ts).
test('mh change impact through plan(): adding or removing one of N reals moves at most 1/N + 1 % of buckets', () => {
  for (const n of [5, 20, 60]) {
    const addrs = Array.from({ length: n + 1 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const macs = new Map(addrs.map((a, i) => [a, `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`]));
    const spec = (k: number) => ({ '10.0.0.100:80/tcp': Object.fromEntries(addrs.slice(0, k).map((a) => [a, 1])) });
    const base = plan(services(spec(n), 65537), [], macs);
    const grown = plan(services(spec(n + 1), 65537), observedAfter(base), macs);
    const added = grown.ops.find((o) => o.op === 'putTable') as Extract<Op, { op: 'putTable' }>;
    assert.ok(added.moved / 65537 <= 1 / (n + 1) + 0.01, `add to ${n}: ${added.moved} buckets moved`);
    const shrunk = plan(services(spec(n), 65537), observedAfter(grown), macs);
    const removed = shrunk.ops.find((o) => o.op === 'putTable') as Extract<Op, { op: 'putTable' }>;
    assert.ok(removed.moved / 65537 <= 1 / (n + 1) + 0.01, `remove from ${n + 1}: ${removed.moved} buckets moved`);
  }
});

test('a scheduler change rewrites the table and the service entry; a threshold change only the real', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1, '10.0.0.12': 2 } });
  const p1 = plan(d, [], MACS);
  const wrr = d.map((s) => ({ ...s, scheduler: 'wrr' as const }));
  const p2 = plan(wrr, observedAfter(p1), MACS);
  assert.deepEqual(kinds(p2.ops), ['putService', 'putTable']); // the 3-entry cycle is smaller: the size goes in first
  assert.deepEqual([...(p2.ops[1] as Extract<Op, { op: 'putTable' }>).table], [1, 0, 1]);
  const capped = wrr.map((s) => ({ ...s, reals: s.reals.map((r) => ({ ...r, upper_threshold: 10 })) }));
  const p3 = plan(capped, observedAfter(p2), MACS);
  assert.deepEqual(kinds(p3.ops), ['putReal', 'putReal']);
});

test('sync emission: a setSync op after everything else, only when it changes; no sync input, no op', () => {
  const d = services({ '10.0.0.100:80/tcp': { '10.0.0.11': 1 } });
  const on = plan(d, [], MACS, new Set(), { want: { emit: true }, have: { emit: false } });
  assert.deepEqual(kinds(on.ops), ['putReal', 'putTable', 'putService', 'setSync']);
  assert.deepEqual(on.ops.at(-1), { op: 'setSync', sync: { emit: true } });
  assert.deepEqual(on.sync, { emit: true });
  assert.deepEqual(kinds(plan(d, observedAfter(on), MACS, new Set(), { want: { emit: true }, have: on.sync }).ops), []);
  assert.deepEqual(kinds(plan(d, observedAfter(on), MACS, new Set(), { want: { emit: false }, have: on.sync }).ops), ['setSync']);
  assert.deepEqual(kinds(plan(d, observedAfter(on), MACS, new Set(), { want: { emit: false }, have: undefined }).ops), ['setSync']);
  assert.equal(plan(d, observedAfter(on), MACS).sync, undefined);
});
