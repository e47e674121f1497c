// SPDX-License-Identifier: Apache-2.0
// flowhash.test.ts: the TypeScript flow hash matches MurmurHash3 reference vectors and reads tuple bytes in wire order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowHash, flowHashWords } from '../../src/core/flowhash';

// Pinned so that an accidental change to the hash, which would move every flow on upgrade, fails here.
const HASH_VECTOR = 2925691630;

// Reference: MurmurHash3_x86_32 of 12 bytes; computed independently below from the byte form.
function murmur3(bytes: Buffer, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    let k = bytes.readUInt32LE(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('flowHashWords is MurmurHash3_x86_32 of the 12 tuple bytes seeded with the protocol', () => {
  const b = Buffer.from([203, 0, 113, 10, 10, 0, 0, 100, 0x9c, 0x40, 0, 80]);
  assert.equal(flowHashWords(b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), 6), murmur3(b, 6));
  assert.equal(flowHash('203.0.113.10', '10.0.0.100', 40000, 80, 6), murmur3(b, 6));
});

test('a known vector stays fixed (changing the hash reshuffles every flow after an upgrade)', () => {
  assert.equal(flowHash('203.0.113.10', '10.0.0.100', 40000, 80, 6), HASH_VECTOR);
});

test('ports and protocol change the hash', () => {
  const a = flowHash('203.0.113.10', '10.0.0.100', 40000, 80, 6);
  assert.notEqual(a, flowHash('203.0.113.10', '10.0.0.100', 40001, 80, 6));
  assert.notEqual(a, flowHash('203.0.113.10', '10.0.0.100', 40000, 80, 17));
});
