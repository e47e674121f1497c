// SPDX-License-Identifier: Apache-2.0
// maglev.test.ts: the Maglev table: prime sizes, shares that follow weights, and minimal disruption when reals come and go (from scratch and by rebuild).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_NONE } from '../../src/core/abi';
import { buildMaglev, isPrime, type MaglevBackend, maglevQuotas, movedFraction, rebuildMaglev } from '../../src/core/maglev';

const backends = (n: number, weight = (_i: number) => 1): MaglevBackend[] =>
  Array.from({ length: n }, (_, i) => ({ key: `10.0.${i >> 8}.${i & 255}:80`, weight: weight(i), id: i }));

function shares(t: Uint32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of t) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

test('isPrime', () => {
  assert.deepEqual([2, 3, 251, 65537, 1048573].map(isPrime), [true, true, true, true, true]);
  assert.deepEqual([0, 1, 4, 65535, 65536, 1.5].map(isPrime), [false, false, false, false, false, false]);
});

test('rejects a table size that is not prime', () => {
  assert.throws(() => buildMaglev(backends(2), 65536), /not prime/);
});

test('no live backend fills every bucket with REAL_NONE', () => {
  const t = buildMaglev(
    backends(3, () => 0),
    251,
  );
  assert.ok(t.every((x) => x === REAL_NONE));
});

test('every bucket is owned and shares follow weights 3:2:1 within 0.5%', () => {
  const t = buildMaglev(
    backends(3, (i) => 3 - i),
    65537,
  );
  assert.ok(t.every((x) => x !== REAL_NONE));
  const s = shares(t);
  for (const [id, want] of [
    [0, 3 / 6],
    [1, 2 / 6],
    [2, 1 / 6],
  ] as const) {
    assert.ok(Math.abs(s.get(id)! / 65537 - want) < 0.005, `real ${id}: ${s.get(id)} buckets`);
  }
});

test('weight 0 owns no bucket', () => {
  const t = buildMaglev(
    backends(4, (i) => (i === 2 ? 0 : 1)),
    65537,
  );
  assert.equal(shares(t).get(2), undefined);
});

test('the table does not depend on the order reals are listed in', () => {
  const b = backends(10, (i) => 1 + (i % 3));
  assert.deepEqual(buildMaglev(b, 65537), buildMaglev(b.slice().reverse(), 65537));
});

// Maglev's spill-over grows with N/M: at M = 65537 the 1.1/N bound holds up to about 25 reals.
test('removing one of N reals moves only its buckets plus at most 10% spill-over', () => {
  for (const n of [5, 10, 20]) {
    const before = buildMaglev(backends(n), 65537);
    const after = buildMaglev(
      backends(n).filter((b) => b.id !== 3),
      65537,
    );
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
    assert.ok(moved / before.length <= 1.1 / n, `n=${n}: ${moved} of ${before.length} buckets moved`);
    assert.ok(!after.includes(3), 'the removed real keeps no bucket');
  }
});

test('adding one real to N moves at most 1.1/(N+1) of buckets', () => {
  for (const n of [5, 10, 20]) {
    const before = buildMaglev(backends(n), 65537);
    const after = buildMaglev(backends(n + 1), 65537);
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
    assert.ok(moved / before.length <= 1.1 / (n + 1), `n=${n}: ${moved} moved`);
  }
});

const byKey = (a: MaglevBackend, b: MaglevBackend) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The table the datapath holds once the control plane has rebuilt it: exact quotas from the first change on. */
const steady = (b: readonly MaglevBackend[], size: number) => rebuildMaglev(buildMaglev(b, size), b, size);

/** Buckets whose owner changed, and the owners they came from and went to. */
function changes(before: Uint32Array, after: Uint32Array): { moved: number; from: Set<number>; to: Set<number> } {
  const from = new Set<number>(),
    to = new Set<number>();
  let moved = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    from.add(before[i]!);
    to.add(after[i]!);
  }
  return { moved, from, to };
}

/** The least any exact-quota table can move: each owner keeps at most its new quota. */
function leastMoves(before: Uint32Array, b: readonly MaglevBackend[], size: number): number {
  const held = shares(before),
    q = maglevQuotas(b, size);
  let kept = 0;
  b.forEach((x, i) => (kept += Math.min(held.get(x.id) ?? 0, q[i]!)));
  return size - kept;
}

function assertExactShares(t: Uint32Array, b: readonly MaglevBackend[], size: number, what: string): void {
  const s = shares(t),
    q = maglevQuotas(b, size);
  b.forEach((x, i) => assert.equal(s.get(x.id) ?? 0, q[i], `${what}: real ${x.id} (weight ${x.weight})`));
  for (const id of s.keys())
    assert.ok(
      b.some((x) => x.id === id && x.weight > 0),
      `${what}: bucket owned by ${id}, not a live real`,
    );
}

test('movedFraction counts buckets whose owner differs', () => {
  assert.equal(movedFraction(Uint32Array.of(1, 2, 3, 4), Uint32Array.of(1, 5, 3, 6)), 0.5);
  assert.throws(() => movedFraction(new Uint32Array(2), new Uint32Array(3)), RangeError);
});

test('quotas are floor(size*w/W) plus the remainder by largest fraction, ties by key', () => {
  // 251/3 = 83.67: the two extra buckets go to the first two keys.
  assert.deepEqual(maglevQuotas(backends(3), 251), [84, 84, 83]);
  // 251 * (3, 2, 1) / 6 = 125.5, 83.67, 41.83: the two left over go to the largest fractions, .83 and .67.
  assert.deepEqual(
    maglevQuotas(
      backends(4, (i) => [3, 2, 1, 0][i]!),
      251,
    ),
    [125, 84, 42, 0],
  );
  const q = maglevQuotas(
    backends(1000, (i) => 1 + (i % 5)),
    65537,
  );
  assert.equal(
    q.reduce((a, x) => a + x, 0),
    65537,
  );
  assert.deepEqual(maglevQuotas([], 251), []);
});

test('rebuildMaglev falls back to buildMaglev when there is nothing to keep', () => {
  const b = backends(10, (i) => 1 + (i % 3));
  const built = buildMaglev(b, 65537);
  assert.deepEqual(rebuildMaglev(undefined, b, 65537), built);
  assert.deepEqual(rebuildMaglev(buildMaglev(b, 251), b, 65537), built, 'a table of another size');
  assert.deepEqual(rebuildMaglev(new Uint32Array(65537).fill(REAL_NONE), b, 65537), built, 'a table of REAL_NONE');
  assert.deepEqual(
    rebuildMaglev(
      buildMaglev(
        backends(3).map((x) => ({ ...x, id: x.id + 100 })),
        65537,
      ),
      b,
      65537,
    ),
    built,
    'only gone ids',
  );
  assert.throws(() => rebuildMaglev(built, b, 65536), /not prime/);
});

test('rebuildMaglev with no live backend fills every bucket with REAL_NONE', () => {
  const t = rebuildMaglev(
    steady(backends(3), 251),
    backends(3, () => 0),
    251,
  );
  assert.ok(t.every((x) => x === REAL_NONE));
});

test('rebuildMaglev refuses two live backends with one id', () => {
  const b = [...backends(3), { key: 'other:80', weight: 1, id: 1 }];
  assert.throws(() => rebuildMaglev(steady(backends(3), 251), b, 251), /id 1/);
});

test('rebuildMaglev gives every live real exactly its quota', () => {
  for (const size of [251, 65537]) {
    const b = backends(7, (i) => [3, 2, 1, 0, 5, 1, 1][i]!);
    assertExactShares(steady(b, size), b, size, `size ${size}`);
  }
});

test('rebuildMaglev is deterministic and ignores the order reals are listed in', () => {
  const b = backends(50, (i) => 1 + (i % 4));
  const prev = buildMaglev(backends(40), 65537);
  const t = rebuildMaglev(prev, b, 65537);
  assert.deepEqual(rebuildMaglev(prev, b, 65537), t);
  assert.deepEqual(rebuildMaglev(prev, b.slice().reverse(), 65537), t);
  assert.deepEqual(rebuildMaglev(t, b, 65537), t, 'a table already at its quotas stays as it is');
});

// The bound: adding or removing one of N reals moves at most 1.1/N of the buckets, for any N.
for (const [n, size] of [
  [2, 65537],
  [10, 65537],
  [25, 65537],
  [100, 65537],
  [1000, 65537],
  [10, 251],
] as const) {
  test(`rebuildMaglev, ${n} reals, size ${size}: adding or removing one moves only its buckets`, () => {
    const b = backends(n);
    const before = steady(b, size);

    const grown = backends(n + 1);
    const added = rebuildMaglev(before, grown, size);
    const a = changes(before, added);
    assert.ok(a.moved / size <= 1.1 / (n + 1), `add: ${a.moved} of ${size} moved`);
    assert.deepEqual([...a.to], [n], 'every moved bucket goes to the new real');
    assert.equal(a.moved, shares(added).get(n), 'the new real gets no bucket that did not move');
    assertExactShares(added, grown, size, 'add');

    const sorted = b.slice().sort(byKey);
    for (const [where, gone] of [
      ['first', sorted[0]!],
      ['middle', sorted[n >> 1]!],
      ['last', sorted[n - 1]!],
    ] as const) {
      const rest = b.filter((x) => x !== gone);
      const after = rebuildMaglev(before, rest, size);
      const r = changes(before, after);
      assert.ok(r.moved / size <= 1.1 / n, `remove ${where}: ${r.moved} of ${size} moved`);
      assert.deepEqual([...r.from], [gone.id], `remove ${where}: only the removed real's buckets move`);
      assert.equal(r.moved, shares(before).get(gone.id), `remove ${where}: all of them`);
      assertExactShares(after, rest, size, `remove ${where}`);
    }
  });
}

test('rebuildMaglev: a weight going from 1 to 2 moves only the share it gains', () => {
  for (const [n, size] of [
    [10, 65537],
    [100, 65537],
    [10, 251],
  ] as const) {
    const b = backends(n);
    const before = steady(b, size);
    const heavier = backends(n, (i) => (i === 3 ? 2 : 1));
    const after = rebuildMaglev(before, heavier, size);
    const gained = maglevQuotas(heavier, size)[3]! - maglevQuotas(b, size)[3]!;
    const c = changes(before, after);
    assert.ok(c.moved <= gained + 1, `n=${n}: ${c.moved} moved, real 3 gained ${gained}`);
    assert.deepEqual([...c.to], [3]);
    assertExactShares(after, heavier, size, `n=${n}`);
  }
});

test('rebuildMaglev moves the least any exact-share table can, step after step', () => {
  // A fixed sequence of adds, removals, weight changes and health flaps over 60 candidate reals.
  let seed = 12345;
  const rand = (k: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % k;
  const size = 8191;
  const weight = Array.from({ length: 60 }, (_, i) => (i < 20 ? 1 + (i % 3) : -1));
  const current = () => weight.flatMap((w, i) => (w < 0 ? [] : [{ key: `10.1.0.${i}:443`, weight: w, id: 1000 + i }]));
  let t = steady(current(), size);
  for (let step = 0; step < 200; step++) {
    const i = rand(60);
    weight[i] = [-1, 0, 1, 2, 3, 10][rand(6)]!;
    if (!current().some((x) => x.weight > 0)) weight[i] = 1;
    const b = current();
    const next = rebuildMaglev(t, b, size);
    assert.equal(changes(t, next).moved, leastMoves(t, b, size), `step ${step}`);
    assertExactShares(next, b, size, `step ${step}`);
    t = next;
  }
});

test('rebuildMaglev spreads the buckets it moves over the whole table', () => {
  const size = 65537,
    stripes = 16;
  const perStripe = (t: Uint32Array, pick: (i: number) => boolean) => {
    const c = new Array<number>(stripes).fill(0);
    for (let i = 0; i < t.length; i++) if (pick(i)) c[Math.floor((i * stripes) / t.length)]!++;
    return c;
  };
  const spread = (c: number[], what: string) => {
    const mean = c.reduce((a, x) => a + x, 0) / c.length;
    for (const x of c) assert.ok(Math.abs(x - mean) <= mean * 0.25, `${what}: ${c.join(' ')} per 1/${stripes} of the table`);
  };
  const before = steady(backends(10), size);
  const added = rebuildMaglev(before, backends(11), size);
  spread(
    perStripe(added, (i) => added[i] === 10),
    'the new real',
  );
  // Real 3 going from weight 1 to 2 and back: the buckets it gives up are not its highest ones.
  const heavy = rebuildMaglev(
    before,
    backends(10, (i) => (i === 3 ? 2 : 1)),
    size,
  );
  const light = rebuildMaglev(heavy, backends(10), size);
  spread(
    perStripe(light, (i) => heavy[i] === 3 && light[i] !== 3),
    'the released excess',
  );
});
