// maglev.test.ts: the Maglev table: prime sizes, shares that follow weights, and minimal disruption when reals come and go.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_NONE } from '../../src/core/abi';
import { MaglevBackend, buildMaglev, isPrime } from '../../src/core/maglev';

const backends = (n: number, weight = (i: number) => 1): MaglevBackend[] =>
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
  const t = buildMaglev(backends(3, () => 0), 251);
  assert.ok(t.every((x) => x === REAL_NONE));
});

test('every bucket is owned and shares follow weights 3:2:1 within 0.5%', () => {
  const t = buildMaglev(backends(3, (i) => 3 - i), 65537);
  assert.ok(t.every((x) => x !== REAL_NONE));
  const s = shares(t);
  for (const [id, want] of [[0, 3 / 6], [1, 2 / 6], [2, 1 / 6]] as const) {
    assert.ok(Math.abs(s.get(id)! / 65537 - want) < 0.005, `real ${id}: ${s.get(id)} buckets`);
  }
});

test('weight 0 owns no bucket', () => {
  const t = buildMaglev(backends(4, (i) => (i === 2 ? 0 : 1)), 65537);
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
    const after = buildMaglev(backends(n).filter((b) => b.id !== 3), 65537);
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
