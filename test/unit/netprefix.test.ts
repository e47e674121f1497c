// SPDX-License-Identifier: Apache-2.0
// netprefix.test.ts: netmasks and prefix lengths of both families, masking (persistence granularity), prefix membership, address order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareIp } from '../../src/core/net/addr';
import { inPrefix, isNetmask, isPrefixLength6, maskAddress, netmaskPrefix, prefixNetmask } from '../../src/core/net/prefix';

test('dotted netmasks: contiguous ones only, and their prefix lengths both ways', () => {
  for (const m of ['255.255.255.255', '255.255.255.0', '255.255.254.0', '255.128.0.0', '0.0.0.0']) assert.equal(isNetmask(m), true, m);
  for (const m of ['255.0.255.0', '255.255.255.1', '0.255.255.255', '255.255.255', '2001:db8::']) assert.equal(isNetmask(m), false, m);
  for (let len = 0; len <= 32; len++) assert.equal(netmaskPrefix(prefixNetmask(len)), len, String(len));
  assert.equal(prefixNetmask(23), '255.255.254.0');
});

test('IPv6 prefix lengths are integers 1..128 (ipvsadm -M for an IPv6 service)', () => {
  for (const n of [1, 64, 128]) assert.equal(isPrefixLength6(n), true);
  for (const n of [0, 129, 64.5, '64', -1]) assert.equal(isPrefixLength6(n), false, String(n));
});

test('masking: dotted, prefix length (number or text) and IPv6 address masks give canonical networks', () => {
  assert.equal(maskAddress('198.51.100.77', '255.255.255.0'), '198.51.100.0');
  assert.equal(maskAddress('198.51.100.77', 23), '198.51.100.0');
  assert.equal(maskAddress('198.51.101.77', '255.255.255.255'), '198.51.101.77');
  assert.equal(maskAddress('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::');
  assert.equal(maskAddress('2001:db8:1:2:3:4:5:6', '48'), '2001:db8:1::');
  assert.equal(maskAddress('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6');
  assert.equal(maskAddress('2001:db8:1:2:3:4:5:ffff', 121), '2001:db8:1:2:3:4:5:ff80');
  assert.equal(maskAddress('2001:db8:1:2:3:4:5:6', 'ffff:ffff:ffff:ff00::'), '2001:db8:1::');
  assert.throws(() => maskAddress('2001:db8::1', '255.255.255.0'), /not of the family/);
});

test('prefix membership in both families; the other family is never inside', () => {
  assert.ok(inPrefix('10.0.0.200', '10.0.0.0/24'));
  assert.ok(!inPrefix('10.0.1.1', '10.0.0.0/24'));
  assert.ok(inPrefix('8.8.8.8', '0.0.0.0/0'));
  assert.ok(inPrefix('2001:db8::5', '2001:db8::/64'));
  assert.ok(!inPrefix('2001:db8:0:1::5', '2001:db8::/64'));
  assert.ok(!inPrefix('10.0.0.1', '::/0'));
});

test('address order: IPv4 before IPv6, then by bytes (10.0.0.9 before 10.0.0.10)', () => {
  const list = ['2001:db8::10', '10.0.0.10', '2001:db8::9', '10.0.0.9', '1.2.3.4', '::ffff:0:1'];
  assert.deepEqual([...list].sort(compareIp), ['1.2.3.4', '10.0.0.9', '10.0.0.10', '::ffff:0:1', '2001:db8::9', '2001:db8::10']);
});
