// SPDX-License-Identifier: Apache-2.0
// keepalived6.test.ts: keepalived.conf import of IPv6 virtual_server/real_server blocks: canonical addresses, prefix-length granularity, one family per service.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors';
import { convertKeepalived } from '../../src/core/keepalived-services';
import { schemaTakesIPv6 } from '../lib/ipv6';

const CONF6 = `virtual_server 2001:DB8:0::100 80 {
    lb_kind DR
    lb_algo wlc
    protocol TCP
    persistence_timeout 360
    persistence_granularity 64
    sorry_server 2001:db8::99 80
    real_server 2001:db8::0011 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 3
            connect_ip 2001:db8::111
        }
    }
    real_server 10.0.0.12 80 {
        weight 1
    }
}
virtual_server 2001:db8::200 53 {
    lb_kind DR
    protocol UDP
    persistence_timeout 60
    persistence_granularity 255.255.255.0
    real_server 2001:db8::21 53 {
    }
}
virtual_server 10.0.0.100 80 {
    lb_kind DR
    persistence_timeout 60
    real_server 2001:db8::13 80 {
    }
    real_server 10.0.0.11 80 {
    }
}
`;

test('IPv6 virtual servers convert with canonical addresses, a prefix-length granularity and reals of their own family only', () => {
  if (!schemaTakesIPv6()) {
    // The converted services carry the canonical IPv6 addresses; the schema is what refuses them, and nothing else.
    assert.throws(
      () => convertKeepalived(CONF6, { iface: 'eth0' }),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        const d = e.details.join('\n');
        assert.match(d, /services\[0\]\.vip: "2001:db8::100" is not an IPv4 address/);
        assert.match(d, /services\[0\]\.reals\[0\]\.address: "2001:db8::11" is not an IPv4 address/);
        assert.doesNotMatch(d, /services\[2\]/, 'the IPv4 service converts cleanly');
        return true;
      },
    );
    return;
  }
  const r = convertKeepalived(CONF6, { iface: 'eth0' });
  const [s6, u6, s4] = r.config.services;
  assert.equal(s6!.vip, '2001:db8::100');
  assert.deepEqual(s6!.persistence, { timeout: 360, netmask: 64 });
  assert.deepEqual(
    s6!.reals.map((x) => [x.address, x.weight]),
    [['2001:db8::11', 3]],
  );
  assert.equal(s6!.sorry_server, '2001:db8::99');
  assert.equal(s6!.reals[0]!.check?.address ?? s6!.check?.address, '2001:db8::111');
  assert.deepEqual(u6!.persistence, { timeout: 60, netmask: 128 }, 'a dotted granularity on an IPv6 service is ignored, with a note');
  assert.deepEqual(
    s4!.reals.map((x) => x.address),
    ['10.0.0.11'],
  );
  const notes = r.unmapped.map((u) => `${u.what}: ${u.reason}`).join('\n');
  assert.match(
    notes,
    /real_server 10\.0\.0\.12 80: real 10\.0\.0\.12 is IPv4 and the virtual_server 2001:db8::100 IPv6: direct routing keeps the address family/,
  );
  assert.match(notes, /real_server 2001:db8::13 80: real 2001:db8::13 is IPv6 and the virtual_server 10\.0\.0\.100 IPv4/);
  assert.match(notes, /persistence_granularity 255\.255\.255\.0 is not a prefix length 1\.\.128/);
});

test('a real of the other family is dropped with its reason whatever the schema takes', () => {
  const r = convertKeepalived(
    'virtual_server 10.0.0.100 80 {\n    lb_kind DR\n    real_server 2001:db8::13 80 {\n    }\n    real_server 10.0.0.11 80 {\n    }\n}\n',
    {
      iface: 'eth0',
    },
  );
  assert.deepEqual(
    r.config.services[0]!.reals.map((x) => x.address),
    ['10.0.0.11'],
  );
  assert.ok(
    r.unmapped.some((u) => /real 2001:db8::13 is IPv6 and the virtual_server 10\.0\.0\.100 IPv4: direct routing keeps the address family/.test(u.reason)),
    JSON.stringify(r.unmapped),
  );
});
