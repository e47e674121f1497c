// SPDX-License-Identifier: Apache-2.0
// netlabel.test.ts: service and real labels in both families, from config names and datapath numbers alike.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { realName, serviceId, serviceName, serviceRow, serviceTag } from '../../src/core/net/label';

const v4 = { vip: '10.0.0.100', port: 80, protocol: 'tcp' as const };
const v6 = { vip: '2001:db8::100', port: 53, protocol: 'udp' as const };

test('IPv4 labels are the texts xlvs printed before the vocabulary moved', () => {
  assert.equal(serviceName(v4), 'TCP 10.0.0.100:80');
  assert.equal(serviceRow(v4), 'TCP  10.0.0.100:80');
  assert.equal(serviceId(v4), '10.0.0.100:80/tcp');
  assert.equal(serviceTag(v4), 'tcp/10.0.0.100:80');
  assert.equal(realName('10.0.0.11', 80), '10.0.0.11:80');
});

test('IPv6 labels bracket the address, as ipvsadm prints [v6]:port', () => {
  assert.equal(serviceName(v6), 'UDP [2001:db8::100]:53');
  assert.equal(serviceRow(v6), 'UDP  [2001:db8::100]:53');
  assert.equal(serviceId(v6), '[2001:db8::100]:53/udp');
  assert.equal(serviceTag(v6), 'udp/[2001:db8::100]:53');
  assert.equal(realName('2001:db8::11', 0), '[2001:db8::11]:0');
});

test('a datapath service (protocol number) gets the same label as its config (protocol name)', () => {
  assert.equal(serviceId({ ...v4, protocol: 6 }), serviceId(v4));
  assert.equal(serviceTag({ ...v6, protocol: 17 }), serviceTag(v6));
  assert.equal(serviceName({ ...v6, protocol: 17 }), serviceName(v6));
  assert.equal(serviceId({ ...v4, protocol: 132 }), '10.0.0.100:80/132');
});
