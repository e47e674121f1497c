// SPDX-License-Identifier: Apache-2.0
// tblmarks.test.ts: carrying a hash table's MOVED/HELD marks into its replacement, and what a settle leaves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_NONE, TBL_HELD, TBL_MOVED } from '../../src/core/abi';
import { carryMarks, settled, tblOwner, unmarked } from '../../src/core/tblmarks';

const MH = (TBL_MOVED | TBL_HELD) >>> 0;

test('a changed owner is marked MOVED | HELD, an unchanged one keeps the live marks, an empty bucket stays REAL_NONE', () => {
  const live = Uint32Array.from([1, 2, (3 | TBL_MOVED) >>> 0, REAL_NONE, 5, (6 | MH) >>> 0]);
  const next = Uint32Array.from([1, 7, 3, 4, REAL_NONE, 6]);
  const { table, marked } = carryMarks(live, next);
  assert.deepEqual([...table], [1, (7 | MH) >>> 0, (3 | TBL_MOVED) >>> 0, (4 | MH) >>> 0, REAL_NONE, (6 | MH) >>> 0]);
  assert.equal(marked, true);
  assert.deepEqual([...unmarked(table)], [...next]);
});

test('no live table (a new service): nothing to mark; another size: every bucket marked', () => {
  const next = Uint32Array.from([1, 2, REAL_NONE]);
  assert.deepEqual(carryMarks(null, next), { table: next, marked: false });
  assert.deepEqual([...carryMarks(Uint32Array.from([1, 2]), next).table], [(1 | MH) >>> 0, (2 | MH) >>> 0, REAL_NONE]);
  assert.equal(carryMarks(Uint32Array.from([1, 2, REAL_NONE]), next).marked, false);
});

test('a settle clears HELD and keeps MOVED, or clears MOVED without HELD; two settles clean a fresh mark', () => {
  const v = (9 | MH) >>> 0;
  assert.equal(settled(v), (9 | TBL_MOVED) >>> 0);
  assert.equal(settled(settled(v)), 9);
  assert.equal(settled(REAL_NONE), REAL_NONE);
  assert.equal(tblOwner(v), 9);
  assert.equal(tblOwner(REAL_NONE), REAL_NONE);
});
