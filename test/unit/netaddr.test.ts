// SPDX-License-Identifier: Apache-2.0
// netaddr.test.ts: the address vocabulary: both families parsed, printed canonically, split from ports, classed usable or not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesToIp, canonicalIp, familyOf, formatHostPort, ipToBytes, isIPv4, isIPv6, isUsableUnicast, splitHostPort } from '../../src/core/net/addr';

test('IPv4 parse: dotted quads only, no leading zeros, no out-of-range parts', () => {
  for (const s of ['10.0.0.1', '0.0.0.0', '255.255.255.255']) assert.equal(isIPv4(s), true, s);
  for (const s of ['10.0.0', '10.0.0.01', '10.0.0.256', '1.2.3.4.5', '', 'a.b.c.d', '10.0.0.1 ']) assert.equal(isIPv4(s), false, s);
});

test('IPv6 parse: groups, one "::", trailing dotted quad; bad forms refused', () => {
  const ok: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ];
  for (const [s, canon] of ok) {
    assert.equal(isIPv6(s), true, s);
    assert.equal(canonicalIp(s), canon, s);
  }
  for (const s of [':::', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7::8:9', '::1%eth0', '[::1]', ':1', '1:'])
    assert.equal(isIPv6(s), false, s);
});

test('bytes round trip in both families', () => {
  assert.deepEqual(Array.from(ipToBytes('10.1.2.3')), [10, 1, 2, 3]);
  const b = ipToBytes('2001:db8::100');
  assert.equal(b.length, 16);
  assert.equal(bytesToIp(b), '2001:db8::100');
  assert.equal(familyOf('2001:db8::100'), 6);
  assert.equal(familyOf('10.0.0.1'), 4);
  assert.equal(familyOf('nope'), null);
  assert.throws(() => ipToBytes('nope'), /"nope" is not an IP address/);
});

test('usable unicast: the rule for VIPs, reals and peers', () => {
  for (const s of ['10.0.0.1', '192.0.2.1', '2001:db8::1', 'fd00::1']) assert.equal(isUsableUnicast(s), true, s);
  for (const s of ['0.0.0.0', '0.1.2.3', '127.0.0.1', '224.0.0.1', '255.255.255.255', '::', '::1', 'ff02::1', 'fe80::1', '::ffff:10.0.0.1', 'x'])
    assert.equal(isUsableUnicast(s), false, s);
});

test('host:port: brackets for IPv6, as ipvsadm prints', () => {
  assert.equal(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(formatHostPort('2001:db8::1', 80), '[2001:db8::1]:80');
  assert.deepEqual(splitHostPort('10.0.0.1:80'), { host: '10.0.0.1', port: '80' });
  assert.deepEqual(splitHostPort('[2001:db8::1]:80'), { host: '2001:db8::1', port: '80' });
  assert.deepEqual(splitHostPort('[2001:db8::1]'), { host: '2001:db8::1', port: undefined });
  assert.deepEqual(splitHostPort('2001:db8::1'), { host: '2001:db8::1' });
  assert.deepEqual(splitHostPort('10.0.0.1'), { host: '10.0.0.1' });
  assert.equal(splitHostPort('[2001:db8::1'), null);
});
