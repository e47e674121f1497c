// SPDX-License-Identifier: Apache-2.0
// ctgrow.test.ts: when the growable connection table resizes and to what, and why a lookup reads the size before's bucket first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as abi from '../../src/core/abi';
import { ctPlace } from '../../src/core/conntable';
import { ctInitialLive, ctMaxLive, ctResizeTo, ctTargetLive, LOADS6 } from '../../src/core/ctgrow';

const MAX = abi.CONN_DEFAULT_MAX / abi.CT_WAYS; // 524,288 buckets

test('sizes are powers of two between the minimum and the largest that fits the map', () => {
  assert.equal(ctMaxLive(MAX), MAX);
  assert.equal(ctMaxLive(625_000), 524_288, 'a map that is not a power of two grows to the largest that fits');
  assert.equal(ctMaxLive(1), 1);
  assert.equal(ctInitialLive(MAX), abi.CT_MIN_LIVE);
  assert.equal(ctInitialLive(512), 512, 'a small table starts whole');
  assert.equal(ctTargetLive(0, MAX), abi.CT_MIN_LIVE);
  assert.equal(ctTargetLive(65_536, MAX), 131_072, '65,536 flows at 1/16 of 8 ways');
  assert.equal(ctTargetLive(65_537, MAX), 262_144);
  assert.equal(ctTargetLive(10_000_000, MAX), MAX, 'never past the map');
});

test('the table grows at 1/8 full, to 1/16, counting new connections since the last sweep', () => {
  const live = abi.CT_MIN_LIVE; // 262,144 entries: grows at 32,768
  assert.equal(ctResizeTo(live, MAX, { upper: 32_767, settled: 32_767 }), null);
  assert.equal(ctResizeTo(live, MAX, { upper: 32_768, settled: null }), 65_536);
  assert.equal(ctResizeTo(live, MAX, { upper: 100_000, settled: 10 }), 262_144, 'several sizes at once; growth wins over a stale count');
  assert.equal(ctResizeTo(MAX, MAX, { upper: 4_000_000, settled: 4_000_000 }), null, 'at its largest it stays');
});

test('it shrinks below 1/64 only by a whole sweep count, never below the minimum, to 1/16', () => {
  assert.equal(ctResizeTo(MAX, MAX, { upper: 1000, settled: null }), null, 'no whole sweep since the last resize');
  assert.equal(ctResizeTo(MAX, MAX, { upper: 65_535, settled: 65_535 }), 131_072);
  assert.equal(ctResizeTo(MAX, MAX, { upper: 65_536, settled: 65_536 }), null, 'at 1/64 it stays');
  assert.equal(ctResizeTo(abi.CT_MIN_LIVE, MAX, { upper: 0, settled: 0 }), null);
  // Hysteresis: what a shrink leaves does not grow again at the same count.
  const to = ctResizeTo(MAX, MAX, { upper: 20_000, settled: 20_000 })!;
  assert.equal(ctResizeTo(to, MAX, { upper: 20_000, settled: 20_000 }), null);
});

test('the IPv6 table (4-way buckets) grows at 1/32 full, to 1/64, and shrinks below 1/256', () => {
  const W = abi.CT6_WAYS;
  const live = abi.CT_MIN_LIVE; // 131,072 entries: grows at 4,096
  const at = (l: number, upper: number, settled: number | null) => ctResizeTo(l, MAX, { upper, settled }, W, abi.CT_MIN_LIVE, LOADS6);
  assert.equal(at(live, 4_095, 4_095), null);
  assert.equal(at(live, 4_096, null), 65_536, 'to 1/64: 4,096 flows in 262,144 entries');
  assert.equal(at(live, 4_097, null), 131_072);
  assert.equal(at(MAX, 8_191, 8_191), 131_072, 'below 1/256 of 2,097,152 entries, to the size holding it at 1/64');
  assert.equal(at(MAX, 8_192, 8_192), null, 'at 1/256 it stays');
  // The IPv4 loads on the same 4-way table would let twice the flows in before growing.
  assert.equal(ctResizeTo(live, MAX, { upper: 4_096, settled: null }, W), null);
  const to = at(MAX, 5_000, 5_000)!;
  assert.equal(at(to, 5_000, 5_000), null, 'hysteresis: a shrunk table does not grow again at the same count');
});

test("doubling sends a bucket's flows to itself or one bucket past the old end (the low bits of the hash)", () => {
  for (const h of [0, 1, 0x12345678, 0xffffffff, 0x80000000]) {
    const a = ctPlace(h, MAX, 32_768);
    const b = ctPlace(h, MAX, 65_536);
    assert.ok(b === a || b === a + 32_768, `${h}: ${a} -> ${b}`);
  }
  assert.equal(ctPlace(0xffffffff, 1000), 999, 'a fixed table scales the hash over its buckets');
});

/**
 * The move protocol, stepped through every interleaving: xlvs_ctmove copies an entry to its live bucket, then frees the
 * old way; a lookup reads two buckets. Read in ct_locate()'s order (the size before's bucket first), every
 * interleaving finds the entry; read the other way, one interleaving finds neither and schedules the flow afresh.
 */
test('a lookup that reads the old bucket first finds an entry whatever point of its move it reads at', () => {
  const mover = ['copy', 'free'] as const;
  const finds = (order: ('old' | 'live')[]) => {
    const misses: string[] = [];
    // The lookup's two reads interleaved with the mover's two steps: C(4,2) schedules.
    for (let r1 = 0; r1 <= 2; r1++)
      for (let r2 = r1; r2 <= 2; r2++) {
        const holds = (at: number, where: 'old' | 'live') => (where === 'live' ? at >= 1 : at < 2); // steps done before the read
        if (!holds(r1, order[0]!) && !holds(r2, order[1]!))
          misses.push(`${order[0]} after ${mover.slice(0, r1).join('+') || 'nothing'}, ${order[1]} after ${mover.slice(0, r2).join('+') || 'nothing'}`);
      }
    return misses;
  };
  assert.deepEqual(finds(['old', 'live']), []);
  assert.deepEqual(finds(['live', 'old']), ['live after nothing, old after copy+free']);
});
