// SPDX-License-Identifier: Apache-2.0
// conntable.test.ts: the connection table's geometry and bucket placement (src/core/conntable.ts), without BPF.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as abi from '../../src/core/abi';
import { ctBucketOf, ctGeometry, ctHeld } from '../../src/core/conntable';

test('geometry: entries become buckets of CT_WAYS, per CPU split across the CPUs (memory does not grow with cores)', () => {
  assert.deepEqual(ctGeometry(4194304, false, 64), { buckets: 524288, slices: 1, entries: 4194304 });
  assert.deepEqual(ctGeometry(4194304, true, 64), { buckets: 8192, slices: 64, entries: 4194304 });
  assert.deepEqual(ctGeometry(1000, false, 2), { buckets: 125, slices: 1, entries: 1000 });
  assert.deepEqual(ctGeometry(1001, false, 2), { buckets: 126, slices: 1, entries: 1008 }, 'rounded up to whole buckets');
  assert.deepEqual(ctGeometry(8, true, 4), { buckets: 1, slices: 4, entries: 32 }, 'every slice gets a bucket');
});

test('bucket placement: in range, spread evenly, and moved by the seed', () => {
  const buckets = 1000,
    seeds = [0, 0x9e3779b9];
  const hist = seeds.map(() => new Array<number>(buckets).fill(0));
  let same = 0;
  for (let i = 0; i < 100_000; i++) {
    const k = abi.connKey.encode({ saddr: 0xc6336400 + (i >> 10), daddr: 0x0a000064, sport: 1024 + (i & 1023), dport: 80, proto: 6 });
    const b = seeds.map((s) => ctBucketOf(k, s, buckets));
    b.forEach((x, j) => {
      assert.ok(x >= 0 && x < buckets);
      hist[j]![x]!++;
    });
    if (b[0] === b[1]) same++;
  }
  for (const h of hist) assert.ok(Math.max(...h) < 160 && Math.min(...h) > 50, `uneven: ${Math.min(...h)}..${Math.max(...h)} per bucket, 100 expected`);
  assert.ok(same < 300, `${same} of 100000 flows kept their bucket under another seed`);
});

test("a way is held while its key's first 8 bytes are not zero", () => {
  const e = Buffer.alloc(32);
  assert.equal(ctHeld(e), false);
  e[12] = 6; // a protocol alone (a half-cleared way) is not a flow
  assert.equal(ctHeld(e), false);
  e[7] = 1;
  assert.equal(ctHeld(e), true);
});
