// SPDX-License-Identifier: Apache-2.0
// config.test.ts: the config schema: defaults, and every kind of bad input rejected with the field and the value named.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveCheck, parseConfig, validateConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';

const good = `
interface: eth0
services:
  - vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: mh
    reals:
      - address: 10.0.0.11
        weight: 3
      - address: 10.0.0.12
        weight: 1
`;

function rejects(yaml: string, ...expected: RegExp[]): void {
  assert.throws(
    () => parseConfig(yaml, 'x.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
      for (const re of expected) assert.match(e.message, re);
      return true;
    },
  );
}

test('the issue example parses with defaults filled in', () => {
  const c = parseConfig(good);
  assert.equal(c.interface, 'eth0');
  assert.equal(c.xdp_mode, 'auto');
  assert.equal(c.manage_vips, true);
  assert.equal(c.conn_table_size, 4194304);
  assert.equal(c.services[0]!.maglev_size, 65537);
  assert.deepEqual(
    c.services[0]!.reals.map((r) => r.weight),
    [3, 1],
  );
});

test('a service with no reals and a config with no services are valid', () => {
  assert.equal(parseConfig('interface: eth0\n').services.length, 0);
  assert.equal(parseConfig('interface: eth0\nservices:\n  - {vip: 10.0.0.1, port: 53, protocol: udp}\n').services[0]!.reals.length, 0);
});

test('unknown keys are named with their path', () => {
  rejects(good.replace('scheduler: mh', 'scheduler: mh\n    persistance: 300'), /services\[0\]\.persistance: unknown key/);
  rejects(`${good}\nlisten: 1\n`, /listen: unknown key/);
});

test('invalid addresses are named with the value', () => {
  rejects(good.replace('10.0.0.100', '10.0.0.300'), /services\[0\]\.vip: "10\.0\.0\.300" is not an IPv4 address/);
  rejects(good.replace('10.0.0.11', 'rs1.example'), /services\[0\]\.reals\[0\]\.address: "rs1\.example" is not an IPv4 address/);
  rejects(good.replace('10.0.0.11', '010.0.0.11'), /reals\[0\]\.address: "010\.0\.0\.11" is not an IPv4 address/);
  rejects(good.replace('10.0.0.100', '224.0.0.1'), /vip: "224\.0\.0\.1" is not a usable unicast address/);
});

test('weights outside 0..65535 and non-integers are rejected', () => {
  rejects(good.replace('weight: 3', 'weight: 65536'), /reals\[0\]\.weight: 65536 is outside 0\.\.65535/);
  rejects(good.replace('weight: 3', 'weight: -1'), /reals\[0\]\.weight: -1 is outside 0\.\.65535/);
  rejects(good.replace('weight: 3', 'weight: 1.5'), /reals\[0\]\.weight: 1\.5 must be an integer/);
  rejects(good.replace('weight: 3', 'weight: "3"'), /reals\[0\]\.weight: "3"/);
});

test('ports, protocols, schedulers, table sizes', () => {
  rejects(good.replace('port: 80', 'port: 65536'), /services\[0\]\.port: 65536 is outside 0\.\.65535/);
  rejects(good.replace('port: 80', 'port: 0'), /services\[0\]\.port: 0 \(all ports\) needs persistence, as in ipvsadm/);
  rejects(good.replace('protocol: tcp', 'protocol: sctp'), /services\[0\]\.protocol: "sctp" must be tcp or udp/);
  rejects(
    good.replace('scheduler: mh', 'scheduler: lblc'),
    /services\[0\]\.scheduler: "lblc" is not a known scheduler \(known: rr, wrr, lc, wlc, sed, nq, sh, dh, mh, fo, ovf\)/,
  );
  rejects(good.replace('scheduler: mh', 'scheduler: wrr\n    sched_flags: [mh-port]'), /services\[0\]\.sched_flags: "mh-port" is a flag of mh, not of wrr/);
  rejects(good.replace('scheduler: mh', 'scheduler: mh\n    sched_flags: [sh-turbo]'), /services\[0\]\.sched_flags\[0\]: "sh-turbo" is not a scheduler flag/);
  rejects(
    good.replace('scheduler: mh', 'scheduler: mh\n    persistence: { timeout: 300, netmask: 255.0.255.0 }'),
    /services\[0\]\.persistence\.netmask: "255\.0\.255\.0" is not a netmask/,
  );
  rejects(good.replace('scheduler: mh', 'scheduler: mh\n    persistence: { timeout: 0 }'), /services\[0\]\.persistence\.timeout: 0 is outside 1\.\.2678400/);
  rejects(good.replace('scheduler: mh', 'scheduler: lc\n    slow_start_s: 30'), /services\[0\]\.slow_start_s: scheduler lc ignores weights/);
  rejects(
    good.replace('weight: 3', 'weight: 3\n        upper_threshold: 10\n        lower_threshold: 20'),
    /reals\[0\]\.lower_threshold: 20 is above upper_threshold 10/,
  );
  rejects(good.replace('weight: 3', 'weight: 3\n        lower_threshold: 20'), /reals\[0\]\.lower_threshold: 20 needs an upper_threshold/);
  rejects(good.replace('weight: 3', 'weight: 3\n        upper_threshold: -1'), /reals\[0\]\.upper_threshold: -1 is outside 0\.\.2147483647/);
  rejects(good.replace('interface: eth0', 'interface: eth0\ntimeouts: { tcp: 0 }'), /timeouts\.tcp: 0 is outside 1\.\.2678400/);
  const ok = parseConfig(
    good.replace('port: 80', 'port: 0\n    persistence: { timeout: 600, netmask: 255.255.255.0 }').replace('scheduler: mh', 'scheduler: wrr'),
    'x.yaml',
  );
  assert.deepEqual(ok.services[0]!.persistence, { timeout: 600, netmask: '255.255.255.0' });
  assert.deepEqual(ok.timeouts, { tcp: 900, tcp_fin: 120, udp: 300 });
  rejects(good.replace('scheduler: mh', 'scheduler: mh\n    maglev_size: 65536'), /maglev_size: 65536 must be a prime/);
});

test('duplicate services and reals are named', () => {
  const dupSvc = good + good.split('services:\n')[1];
  rejects(dupSvc, /services\[1\]: duplicate service 10\.0\.0\.100:80\/tcp \(also services\[0\]\)/);
  rejects(good.replace('10.0.0.12', '10.0.0.11'), /services\[0\]\.reals\[1\]\.address: duplicate real 10\.0\.0\.11/);
  // the same VIP:port on another protocol is a different service
  assert.equal(parseConfig(good + good.split('services:\n')[1]!.replace('protocol: tcp', 'protocol: udp')).services.length, 2);
});

test('missing required fields, wrong shapes, bad YAML', () => {
  rejects('services: []\n', /interface: is required/);
  rejects(good.replace('    port: 80\n', ''), /services\[0\]\.port: is required/);
  rejects('- 1\n- 2\n', /expected a mapping/);
  rejects('interface: eth0\ninterface: eth1\n', /not valid YAML/);
  rejects('interface: [eth0\n', /not valid YAML/);
  rejects('interface: "eth0 with spaces"\n', /interface: "eth0 with spaces" is not an interface name/);
});

test('every problem is reported at once', () => {
  rejects(good.replace('weight: 3', 'weight: 70000').replace('port: 80', 'port: 99999'), /weight: 70000/, /port: 99999/);
});

test('a config re-validated with its services reused still checks new services and the whole (duplicates), naming paths', () => {
  const cfg = parseConfig(good, 'x.yaml');
  const again = validateConfig({ ...cfg, services: [...cfg.services] });
  assert.deepEqual(again, cfg);
  assert.throws(
    () => validateConfig({ ...cfg, services: [...cfg.services, { vip: '10.0.0.100', port: 80, reals: [{ address: '10.0.0.11', weight: 70000 }] }] }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /services\[1\]\.reals\[0\]\.weight: 70000 is outside 0\.\.65535/);
      return true;
    },
  );
  assert.throws(
    () => validateConfig({ ...cfg, services: [...cfg.services, cfg.services[0]] }),
    /services\[1\]: duplicate service 10\.0\.0\.100:80\/tcp \(also services\[0\]\)/,
  );
});

test('check.status takes codes and ranges ("200-299", as keepalived writes them); the check accepts every code in them', () => {
  const cfg = (status: unknown) => ({
    interface: 'eth0',
    services: [{ vip: '10.0.0.100', port: 80, check: { type: 'http', status }, reals: [{ address: '10.0.0.11' }] }],
  });
  const c = validateConfig(cfg(['200-204', 301, '200-201']));
  const s = c.services[0]!;
  assert.deepEqual(s.check?.status, ['200-204', 301, '200-201']);
  assert.deepEqual(effectiveCheck(s, s.reals[0]!).status, [200, 201, 202, 203, 204, 301]);
  for (const [bad, why] of [
    ['299-200', /services\[0\]\.check\.status\[0\]: "299-200" is not a range of 100\.\.599 with LO <= HI/],
    ['200-600', /services\[0\]\.check\.status\[0\]: "200-600" is not a range of 100\.\.599/],
    ['2xx', /services\[0\]\.check\.status\[0\]: "2xx" must be a status code 100\.\.599 or a range "LO-HI"$/m],
  ] as const) {
    assert.throws(
      () => validateConfig(cfg([bad])),
      (e: Error) => e instanceof UsageError && why.test(e.message),
      bad,
    );
  }
});

const good6 = `
interface: eth0
services:
  - vip: 2001:DB8:0:0::100
    port: 80
    reals:
      - address: 2001:db8::11
      - address: 2001:db8:0::12
`;

test('IPv6 VIPs and reals are accepted and kept in canonical text (RFC 5952)', () => {
  const c = parseConfig(good6);
  assert.equal(c.services[0]!.vip, '2001:db8::100');
  assert.deepEqual(
    c.services[0]!.reals.map((r) => r.address),
    ['2001:db8::11', '2001:db8::12'],
  );
  assert.equal(c.conn_table6_size, undefined, 'absent: a quarter of conn_table_size');
  assert.equal(parseConfig(`${good6}conn_table6_size: 4096\n`).conn_table6_size, 4096);
  // The same real written two ways is one real.
  rejects(good6.replace('2001:db8:0::12', '2001:DB8::11'), /reals\[1\]\.address: duplicate real 2001:db8::11/);
});

test('bad IPv6 addresses, a mixed-family service and a persistence mask of the other family are named with the value', () => {
  rejects(good6.replace('2001:DB8:0:0::100', '2001:db8::1::2'), /services\[0\]\.vip: "2001:db8::1::2" is not an IPv6 address/);
  rejects(good6.replace('2001:db8::11', 'fe80::11'), /reals\[0\]\.address: "fe80::11" is not a usable unicast address/);
  rejects(good6.replace('2001:db8::11', 'ff02::1'), /is not a usable unicast address/);
  rejects(good6.replace('2001:db8::11', '10.0.0.11'), /services\[0\]\.reals\[0\]\.address: 10\.0\.0\.11 is IPv4, the service's VIP 2001:db8::100 IPv6/);
  rejects(good.replace('10.0.0.11', '2001:db8::11'), /services\[0\]\.reals\[0\]\.address: 2001:db8::11 is IPv6, the service's VIP 10\.0\.0\.100 IPv4/);
  const p6 = good6.replace('    port: 80\n', '    port: 80\n    persistence: { timeout: 60, netmask: NM }\n');
  assert.equal(parseConfig(p6.replace('NM', '64')).services[0]!.persistence!.netmask, 64);
  rejects(p6.replace('NM', '255.255.255.0'), /persistence\.netmask: "255\.255\.255\.0" is a dotted IPv4 netmask; an IPv6 service takes a prefix length/);
  rejects(p6.replace('NM', '129'), /persistence\.netmask: 129/);
  const p4 = good.replace('    scheduler: mh\n', '    scheduler: mh\n    persistence: { timeout: 60, netmask: 24 }\n');
  rejects(p4, /persistence\.netmask: 24 is a prefix length; an IPv4 service takes a dotted netmask/);
});
