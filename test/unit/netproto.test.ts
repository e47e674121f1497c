// SPDX-License-Identifier: Apache-2.0
// netproto.test.ts: the protocol vocabulary: numbers, names both ways, ipvsadm's words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as abi from '../../src/core/abi';
import { IPPROTO_TCP, IPPROTO_UDP, ipvsadmProto, protoNumber, protoOf, protoText, protoWord } from '../../src/core/net/proto';
import * as packets from '../../src/core/packets';

test('tcp and udp are 6 and 17 both ways; anything else has no transport name', () => {
  assert.equal(protoNumber('tcp'), 6);
  assert.equal(protoNumber('udp'), 17);
  assert.equal(protoOf(6), 'tcp');
  assert.equal(protoOf(17), 'udp');
  for (const n of [0, 1, 58, 132, 255]) assert.equal(protoOf(n), undefined, String(n));
});

test('words: a known number by name, an unknown one as itself; ipvsadm upper-cases', () => {
  assert.equal(protoText(6), 'tcp');
  assert.equal(protoText(132), '132');
  assert.equal(protoWord('udp'), 'udp');
  assert.equal(protoWord(17), 'udp');
  assert.equal(ipvsadmProto('tcp'), 'TCP');
  assert.equal(ipvsadmProto(17), 'UDP');
  assert.equal(ipvsadmProto(132), '132');
});

test('the ABI and the packet builders use the same numbers (one home, re-exported)', () => {
  assert.equal(abi.IPPROTO_TCP, IPPROTO_TCP);
  assert.equal(abi.IPPROTO_UDP, IPPROTO_UDP);
  assert.equal(packets.IPPROTO_TCP, IPPROTO_TCP);
  assert.equal(packets.IPPROTO_UDP, IPPROTO_UDP);
  assert.equal(packets.IPPROTO_ICMP, 1);
});
