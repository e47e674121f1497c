// SPDX-License-Identifier: Apache-2.0
// keepalived-groups.test.ts: keepalived.conf import expanding virtual_server_group: member forms, the block applied to every member, members xlvs cannot serve, duplicates and undefined groups.

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

test('every member form keepalived 2.2 takes becomes VIP:port services with the block applied to each', () => {
  const r = conv(
    'virtual_server_group G {\n' + // 1
      '  192.168.1.10-12 80\n' + // 2: last-octet range, both ends included
      '  10.0.0.1 443\n' + // 3
      '  10.0.0.8/30 8080\n' + // 4: every address of the prefix
      '  10.0.0.254-10.0.1.1 81\n' + // 5: full end address, across an octet
      '  10.0.0.5\n' + // 6: no port: every port
      '  10.0.0.6 0\n' + // 7: 0 is no port
      '}\n' +
      'virtual_server group G {\n' + // 9
      '  lb_kind DR\n  protocol UDP\n  lb_algo sh\n  sh-port\n  persistence_timeout 120\n' +
      '  real_server 10.1.0.1 53 {\n    weight 5\n    DNS_CHECK {\n      type A\n      name example.com\n      connect_port 53\n    }\n  }\n' +
      '  real_server 10.1.0.2 53 {\n    DNS_CHECK {\n      type A\n      name example.com\n      connect_port 53\n    }\n  }\n' +
      '}\n',
  );
  assert.deepEqual(
    r.config.services.map((s) => `${s.vip}:${s.port}`),
    [
      '192.168.1.10:80',
      '192.168.1.11:80',
      '192.168.1.12:80',
      '10.0.0.1:443',
      '10.0.0.8:8080',
      '10.0.0.9:8080',
      '10.0.0.10:8080',
      '10.0.0.11:8080',
      '10.0.0.254:81',
      '10.0.0.255:81',
      '10.0.1.0:81',
      '10.0.1.1:81',
      '10.0.0.5:0',
      '10.0.0.6:0',
    ],
  );
  for (const s of r.config.services) {
    assert.deepEqual(
      [s.protocol, s.scheduler, s.sched_flags, s.persistence, s.reals.map((x) => `${x.address}/${x.weight}`), s.check?.type, s.check?.port],
      ['udp', 'sh', ['sh-port'], { timeout: 120, netmask: '255.255.255.255' }, ['10.1.0.1/5', '10.1.0.2/1'], 'dns', 53],
      `${s.vip}:${s.port}`,
    );
  }
  assert.deepEqual(parseConfig(r.yaml), r.config);
  assert.equal(r.summary.services, 14, 'one imported service per member address');
});

test('members keepalived refuses are listed with their line; fwmark members are dropped services; the rest imported', () => {
  const r = conv(
    'virtual_server_group G {\n' + // 1
      '  10.0.0.9-3 80\n' + // 2
      '  10.0.0.9-9 80\n' + // 3
      '  10.0.0.9-300 80\n' + // 4
      '  10.0.0.6-10.0.0.5 80\n' + // 5
      '  10.0.0.4/33 80\n' + // 6
      '  10.0.0.50/24 80\n' + // 7
      '  10.0.0.9 70000\n' + // 8
      '  10.0.0.9 http\n' + // 9
      '  bogus 80\n' + // 10
      '  fwmark 7\n' + // 11
      '  fd00::9-3 80\n' + // 12
      '  10.0.0.100 80\n' + // 13
      '}\n' +
      'virtual_server group G {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n', // 15-20
  );
  assert.deepEqual(
    r.config.services.map((s) => `${s.vip}:${s.port}`),
    ['10.0.0.100:80'],
  );
  const skips = '(keepalived skips the member too)';
  assert.deepEqual(r.lines, [
    `k.conf:2: ignored: 10.0.0.9-3 80: range end 3 is not above the start's last octet (9) ${skips}`,
    `k.conf:3: ignored: 10.0.0.9-9 80: range end 9 is not above the start's last octet (9) ${skips}`,
    `k.conf:4: ignored: 10.0.0.9-300 80: range end 300 is not an octet (0..255) ${skips}`,
    `k.conf:5: ignored: 10.0.0.6-10.0.0.5 80: range end 10.0.0.5 is below its start 10.0.0.6 ${skips}`,
    `k.conf:6: ignored: 10.0.0.4/33 80: /33 is not a prefix length 1..32 ${skips}`,
    `k.conf:7: ignored: 10.0.0.50/24 80: 10.0.0.50/24 has host bits set (the network is 10.0.0.0/24) ${skips}`,
    `k.conf:8: ignored: 10.0.0.9 70000: port 70000 is not 1..65535 ${skips}`,
    `k.conf:9: ignored: 10.0.0.9 http: port http is not 1..65535 ${skips}`,
    `k.conf:10: ignored: bogus 80: bogus is not an IP address ${skips}`,
    'k.conf:11: dropped: fwmark 7: firewall-mark services are not in xlvs (a member of group G, used by the virtual_server at k.conf:15)',
    `k.conf:12: ignored: fd00::9-3 80: range end 3 is not above the start's last group (9) ${skips}`,
  ]);
  assert.deepEqual([r.summary.services, r.summary.droppedServices, r.summary.ignored], [1, 1, 10]);
});

test('an undefined group is a dropped service; an unused, empty or second definition of a group is listed as ignored', () => {
  const r = conv(
    'virtual_server_group USED {\n  10.0.0.1 80\n}\n' + // 1-3
      'virtual_server_group USED {\n  10.0.0.2 80\n}\n' + // 4-6: keepalived uses the first
      'virtual_server_group SPARE {\n  10.0.0.3 80\n}\n' + // 7-9
      'virtual_server_group EMPTY {\n}\n' + // 10-11
      'virtual_server group USED {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n' + // 12-17
      'virtual_server group NOPE {\n  lb_kind DR\n  protocol TCP\n}\n' + // 18-21
      'virtual_server group EMPTY {\n  lb_kind DR\n  protocol TCP\n}\n', // 22-25
  );
  assert.deepEqual(
    r.config.services.map((s) => s.vip),
    ['10.0.0.1'],
  );
  assert.deepEqual(r.lines, [
    'k.conf:4-6: ignored: virtual_server_group USED: virtual_server_group USED is already defined at k.conf:1: keepalived uses that one',
    'k.conf:7-9: ignored: virtual_server_group SPARE: no virtual_server uses group SPARE: keepalived makes no service of it either',
    'k.conf:18-21: dropped: virtual_server group NOPE: virtual_server_group NOPE is not defined: keepalived ignores this virtual_server too ' +
      '("specified but not configured"), so if the group is in a file not imported, its services are missing here',
    'k.conf:22-25: ignored: virtual_server group EMPTY: group EMPTY (k.conf:10) has no member keepalived accepts: keepalived ignores this virtual_server too',
  ]);
  assert.deepEqual([r.summary.services, r.summary.droppedServices], [1, 1]);
});

test('a VIP:port/protocol made twice: the first block keeps it, a later block drops it naming both places; twice in one group is one service', () => {
  const r = conv(
    'virtual_server 10.0.0.9 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n' + // 1-6
      'virtual_server_group G {\n  10.0.0.8-10 80\n  10.0.0.10 80\n}\n' + // 7-10
      'virtual_server group G {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.2 80 {\n  }\n}\n' + // 11-16
      'virtual_server group G {\n  lb_kind DR\n  protocol UDP\n  real_server 10.1.0.3 80 {\n  }\n}\n' + // 17-22: UDP: other services
      'virtual_server 10.0.0.8 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.4 80 {\n  }\n}\n', // 23-28
  );
  assert.deepEqual(
    r.config.services.map((s) => `${s.vip}:${s.port}/${s.protocol} ${s.reals[0]!.address}`),
    [
      '10.0.0.9:80/tcp 10.1.0.1',
      '10.0.0.8:80/tcp 10.1.0.2',
      '10.0.0.10:80/tcp 10.1.0.2',
      '10.0.0.8:80/udp 10.1.0.3',
      '10.0.0.9:80/udp 10.1.0.3',
      '10.0.0.10:80/udp 10.1.0.3',
    ],
  );
  const ipvs =
    'IPVS has one service per VIP:port/protocol, so keepalived\'s second create fails ("Service already exists"); the import keeps the first and drops this one: merge the two blocks';
  assert.deepEqual(r.lines, [
    `k.conf:8: dropped: virtual_server group G: 10.0.0.8-10 80: 10.0.0.9:80/tcp is also virtual_server 10.0.0.9 80 at k.conf:1: ${ipvs}`,
    'k.conf:9: ignored: virtual_server group G: 10.0.0.10 80: 10.0.0.10:80/tcp is also 10.0.0.8-10 80 of virtual_server group G at k.conf:8: keepalived makes one service of it, and so does the import',
    'k.conf:9: ignored: virtual_server group G: 10.0.0.10 80: 10.0.0.10:80/udp is also 10.0.0.8-10 80 of virtual_server group G at k.conf:8: keepalived makes one service of it, and so does the import',
    `k.conf:23-28: dropped: virtual_server 10.0.0.8 80: 10.0.0.8:80/tcp is also 10.0.0.8-10 80 of virtual_server group G at k.conf:8: ${ipvs}`,
  ]);
  assert.deepEqual([r.summary.services, r.summary.droppedServices], [6, 2]);
});

test('a group block xlvs cannot serve is one dropped entry counting every service of the group; approximations count per member', () => {
  const nat = conv(
    'virtual_server_group G {\n  10.0.0.1-4 80\n  fwmark 3\n}\n' +
      'virtual_server group G {\n  lb_kind NAT\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n',
  );
  assert.deepEqual(nat.config.services, []);
  assert.deepEqual(nat.lines, [
    'k.conf:5-10: dropped: virtual_server group G: lb_kind NAT (line 6): xlvs is a direct-routing (DR) director; NAT and TUN services are not converted (the 5 services of the group)',
  ]);
  assert.equal(nat.summary.droppedServices, 5);
  // No lb_kind: converted as DR, flagged once, and every member's service counted as approximated.
  const approx = conv('virtual_server_group G {\n  10.0.0.1-3 80\n}\nvirtual_server group G {\n  protocol TCP\n  real_server 10.1.0.1 80 {\n  }\n}\n');
  assert.equal(approx.config.services.length, 3);
  assert.equal(approx.lines.length, 1, approx.lines.join('\n'));
  assert.match(approx.lines[0]!, /^k\.conf:4: approximated as a direct-routing \(DR\) service: virtual_server group G: no lb_kind/);
  assert.deepEqual([approx.summary.approximated, approx.summary.approximations], [3, 1]);
});

test('a group standing for more services than xlvs holds is refused, naming the member and its line', () => {
  assert.throws(
    () => conv('virtual_server_group BIG {\n  10.0.0.0/24 80\n  10.1.0.0/16 80\n}\nvirtual_server group BIG {\n  lb_kind DR\n}\n'),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message ===
        `k.conf:3: virtual_server_group BIG: member 10.1.0.0/16 80 brings the group to 65792 addresses; xlvs holds at most ${MAX_SERVICES} services`,
  );
});

test('a port-0 group member without persistence: keepalived leaves it non-persistent, the import makes it persistent and says so', () => {
  const r = conv(
    'virtual_server_group G {\n  10.0.0.1\n  10.0.0.2 80\n}\nvirtual_server group G {\n  lb_kind DR\n  protocol TCP\n  real_server 10.1.0.1 {\n  }\n}\n',
  );
  assert.deepEqual(
    r.config.services.map((s) => [s.port, s.persistence?.timeout]),
    [
      [0, 360],
      [80, undefined],
    ],
  );
  assert.deepEqual(r.lines, [
    'k.conf:5: approximated as persistence_timeout 360: virtual_server group G: a group member with port 0 (every port) and no persistence_timeout: ' +
      'keepalived leaves it non-persistent, xlvs needs persistence for every-port services',
  ]);
  assert.deepEqual([r.summary.approximated, r.summary.approximations], [1, 1]);
});
