// SPDX-License-Identifier: Apache-2.0
// keepalived-groups6.test.ts: keepalived.conf import of IPv6 virtual_server_group members: forms, refusals, size limit, one family per service.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unmappedLine } from '../../src/cli/commands/import';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { convertKeepalived } from '../../src/core/keepalived-services';
import { MAX_SERVICES } from '../../src/core/limits';

const conv = (text: string) => {
  const r = convertKeepalived(text, { iface: 'eth0', file: 'k.conf' });
  return { ...r, lines: r.unmapped.map((u) => unmappedLine('k.conf', u)) };
};
const block6 = (name: string, extra = '') =>
  `virtual_server group ${name} {\n  lb_kind DR\n  protocol TCP\n${extra}  real_server 2001:db8:1::1 {\n  }\n  real_server 2001:db8:1::2 {\n  }\n}\n`;

test('every IPv6 member form keepalived takes becomes [VIP]:port services in canonical text, with the block applied to each', () => {
  const r = conv(
    'virtual_server_group G6 {\n' + // 1
      '  2001:db8::10-12 80\n' + // 2: the last 16-bit group, in hex: ::10, ::11, ::12
      '  2001:DB8:0::00fe-0x101 81\n' + // 3: across a byte: fe, ff, 100, 101 (keepalived's strtoul takes 0x)
      '  2001:db8::8/126 8080\n' + // 4: every address of the prefix
      '  2001:db8::fffe-2001:db8::1:1 82\n' + // 5: a whole end address, across a group
      '  2001:db8::5\n' + // 6: no port: every port
      '  2001:db8::6 0\n' + // 7
      '}\n' +
      block6('G6', '  persistence_timeout 120\n  persistence_granularity 64\n'),
  );
  assert.deepEqual(
    r.config.services.map((s) => `[${s.vip}]:${s.port}`),
    [
      '[2001:db8::10]:80',
      '[2001:db8::11]:80',
      '[2001:db8::12]:80',
      '[2001:db8::fe]:81',
      '[2001:db8::ff]:81',
      '[2001:db8::100]:81',
      '[2001:db8::101]:81',
      '[2001:db8::8]:8080',
      '[2001:db8::9]:8080',
      '[2001:db8::a]:8080',
      '[2001:db8::b]:8080',
      '[2001:db8::fffe]:82',
      '[2001:db8::ffff]:82',
      '[2001:db8::1:0]:82',
      '[2001:db8::1:1]:82',
      '[2001:db8::5]:0',
      '[2001:db8::6]:0',
    ],
  );
  for (const s of r.config.services)
    assert.deepEqual([s.persistence, s.reals.map((x) => x.address)], [{ timeout: 120, netmask: 64 }, ['2001:db8:1::1', '2001:db8:1::2']], s.vip);
  assert.deepEqual(parseConfig(r.yaml), r.config);
  assert.deepEqual(r.lines, []);
  assert.equal(r.summary.services, 17);
});

test('IPv6 members keepalived refuses are listed with their line, as the IPv4 ones are; the rest imported', () => {
  const r = conv(
    'virtual_server_group G6 {\n' + // 1
      '  2001:db8::9-3 80\n' + // 2
      '  2001:db8::9-9 80\n' + // 3
      '  2001:db8::9-10000 80\n' + // 4
      '  2001:db8::9-xyz 80\n' + // 5
      '  2001:db8::6-2001:db8::5 80\n' + // 6
      '  2001:db8::1-10.0.0.5 80\n' + // 7
      '  2001:db8::4/129 80\n' + // 8
      '  2001:db8::50/120 80\n' + // 9
      '  2001:db8::1/0 80\n' + // 10
      '  2001:db8::1 70000\n' + // 11
      '  2001:db8::zz 80\n' + // 12
      '  2001:db8::100 80\n' + // 13
      '}\n' +
      block6('G6'),
  );
  assert.deepEqual(
    r.config.services.map((s) => `${s.vip}:${s.port}`),
    ['2001:db8::100:80'],
  );
  const skips = '(keepalived skips the member too)';
  assert.deepEqual(r.lines, [
    `k.conf:2: ignored: 2001:db8::9-3 80: range end 3 is not above the start's last group (9) ${skips}`,
    `k.conf:3: ignored: 2001:db8::9-9 80: range end 9 is not above the start's last group (9) ${skips}`,
    `k.conf:4: ignored: 2001:db8::9-10000 80: range end 10000 is not a 16-bit group (0..ffff) ${skips}`,
    `k.conf:5: ignored: 2001:db8::9-xyz 80: range end xyz is not a hex number ${skips}`,
    `k.conf:6: ignored: 2001:db8::6-2001:db8::5 80: range end 2001:db8::5 is below its start 2001:db8::6 ${skips}`,
    `k.conf:7: ignored: 2001:db8::1-10.0.0.5 80: range end 10.0.0.5 is not a hex number ${skips}`,
    `k.conf:8: ignored: 2001:db8::4/129 80: /129 is not a prefix length 1..128 ${skips}`,
    `k.conf:9: ignored: 2001:db8::50/120 80: 2001:db8::50/120 has host bits set (the network is 2001:db8::/120) ${skips}`,
    `k.conf:10: ignored: 2001:db8::1/0 80: /0 is not a prefix length 1..128 ${skips}`,
    `k.conf:11: ignored: 2001:db8::1 70000: port 70000 is not 1..65535 ${skips}`,
    `k.conf:12: ignored: 2001:db8::zz 80: 2001:db8::zz is not an IP address ${skips}`,
  ]);
  assert.deepEqual([r.summary.services, r.summary.droppedServices, r.summary.ignored], [1, 0, 11]);
});

test('an IPv6 prefix standing for more services than xlvs holds is refused, counted exactly, before anything is expanded', () => {
  assert.throws(
    () => conv(`virtual_server_group BIG {\n  2001:db8::1 80\n  2001:db8::/64 80\n}\n${block6('BIG')}`),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message ===
        'k.conf:3: virtual_server_group BIG: member 2001:db8::/64 80 brings the group to 18446744073709551617 addresses; ' +
          `xlvs holds at most ${MAX_SERVICES} services`,
  );
  // The limit counts both families together.
  assert.throws(
    () => conv(`virtual_server_group MIX {\n  10.0.0.0/18 80\n  2001:db8::/114 80\n}\n${block6('MIX')}`),
    (e: unknown) => e instanceof UsageError && /k\.conf:3: .* brings the group to 32768 addresses/.test(e.message),
  );
});

test('a group of both families: keepalived ignores a DR virtual_server on it, and so does the import; without reals each member is a service', () => {
  const mixed = 'virtual_server_group M {\n  10.0.0.1-2 80\n  2001:db8::1 80\n  fwmark 5\n}\n'; // 1-5
  const r = conv(`${mixed}virtual_server group M {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n`); // 6-11
  assert.deepEqual(r.config.services, []);
  assert.deepEqual(r.lines, [
    'k.conf:6-11: dropped: virtual_server group M: group M has IPv4 and IPv6 members and real_server 10.1.0.1 80 (line 9) makes the service IPv4: ' +
      'direct routing keeps the address family, so keepalived ignores this virtual_server too ' +
      '("virtual server group with IPv4 & IPv6 doesn\'t match"); split the group by family, one virtual_server each (the 4 services of the group)',
  ]);
  assert.equal(r.summary.droppedServices, 4);
  // No real or sorry server fixes a family: keepalived keeps the service; each member is one of its own family.
  const bare = conv(`${mixed}virtual_server group M {\n  lb_kind DR\n  protocol UDP\n}\n`);
  assert.deepEqual(
    bare.config.services.map((s) => `${s.vip}:${s.port}/${s.protocol}`),
    ['10.0.0.1:80/udp', '10.0.0.2:80/udp', '2001:db8::1:80/udp'],
  );
  assert.deepEqual(bare.lines, [
    'k.conf:4: dropped: fwmark 5: firewall-mark services are not in xlvs (a member of group M, used by the virtual_server at k.conf:6)',
  ]);
});

test('a one-family group: reals of the other family drop the block when first, else only themselves, with one entry for all members', () => {
  const group = 'virtual_server_group G6 {\n  2001:db8::1-3 80\n}\n'; // 1-3
  const v4first = conv(
    `${group}virtual_server group G6 {\n  lb_kind DR\n  real_server 10.1.0.1 80 {\n  }\n  real_server 2001:db8:1::1 80 {\n  }\n}\n`, // 4-10
  );
  assert.deepEqual(v4first.config.services, []);
  assert.deepEqual(v4first.lines, [
    'k.conf:4-10: dropped: virtual_server group G6: group G6 has IPv6 members and real_server 10.1.0.1 80 (line 6) makes the service IPv4: ' +
      'keepalived ignores this virtual_server too ("address family doesn\'t match") (the 3 services of the group)',
  ]);
  const v6first = conv(
    `${group}virtual_server group G6 {\n  lb_kind DR\n  real_server 2001:db8:1::1 80 {\n  }\n  real_server 10.1.0.1 80 {\n  }\n}\n`, // 4-10
  );
  assert.deepEqual(
    v6first.config.services.map((s) => `${s.vip} ${s.reals.map((x) => x.address).join(',')}`),
    ['2001:db8::1 2001:db8:1::1', '2001:db8::2 2001:db8:1::1', '2001:db8::3 2001:db8:1::1'],
  );
  assert.deepEqual(v6first.lines, [
    'k.conf:8-9: dropped: real_server 10.1.0.1 80: real 10.1.0.1 is IPv4 and the members of group G6 IPv6: direct routing keeps the address family',
  ]);
  // An IPv4 group with an IPv6 sorry server alone (no reals): keepalived takes the sorry server's family.
  const sorry = conv('virtual_server_group G4 {\n  10.0.0.1 80\n}\nvirtual_server group G4 {\n  lb_kind DR\n  sorry_server 2001:db8::99 80\n}\n');
  assert.equal(sorry.config.services.length, 0);
  assert.match(sorry.lines[0]!, /group G4 has IPv4 members and sorry_server 2001:db8::99 80 \(line 6\) makes the service IPv6/);
});

test('the same IPv6 VIP:port written two ways is one service: a later block drops it, naming both places in [v6]:port form', () => {
  const r = conv(
    'virtual_server 2001:DB8:0::0010 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 2001:db8:1::1 80 {\n  }\n}\n' + // 1-6
      'virtual_server_group G6 {\n  2001:db8::f-11 80\n  2001:db8::11 80\n}\n' + // 7-10
      block6('G6'), // 11-18
  );
  assert.deepEqual(
    r.config.services.map((s) => `${s.vip}:${s.port} ${s.reals[0]!.address}`),
    ['2001:db8::10:80 2001:db8:1::1', '2001:db8::f:80 2001:db8:1::1', '2001:db8::11:80 2001:db8:1::1'],
  );
  const ipvs =
    'IPVS has one service per VIP:port/protocol, so keepalived\'s second create fails ("Service already exists"); ' +
    'the import keeps the first and drops this one: merge the two blocks';
  assert.deepEqual(r.lines, [
    `k.conf:8: dropped: virtual_server group G6: 2001:db8::f-11 80: [2001:db8::10]:80/tcp is also virtual_server 2001:DB8:0::0010 80 at k.conf:1: ${ipvs}`,
    'k.conf:9: ignored: virtual_server group G6: 2001:db8::11 80: [2001:db8::11]:80/tcp is also 2001:db8::f-11 80 of virtual_server group G6 at k.conf:8: ' +
      'keepalived makes one service of it, and so does the import',
  ]);
  assert.deepEqual([r.summary.services, r.summary.droppedServices], [3, 1]);
});
