// SPDX-License-Identifier: Apache-2.0
// ipvsadm.test.ts: xlvsadm's ipvsadm syntax (accepted and refused, with ipvsadm's exit codes), its list/save/timeout/connection formats byte for byte, and xlvsadm end to end over the API.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CS } from '../../src/core/abi';
import { type Config, schedFlags, validateConfig } from '../../src/core/config';
import { Controller, type DatapathPort } from '../../src/core/controller';
import { ipvsadmEdit } from '../../src/core/ipvsadm-edit';
import { formatConns, formatList, formatSave, formatTimeouts, largenum } from '../../src/core/ipvsadm-format';
import { IpvsadmError, parseIpvsadm } from '../../src/core/ipvsadm-parse';
import type { ServiceListing } from '../../src/core/listing';
import type { Op } from '../../src/core/plan';
import { parse, refused } from '../lib/ipvsadm';
import { withXlvsadm } from '../lib/xlvsadmapi';

const key = { vip: '10.0.0.100', port: 80, protocol: 'tcp' as const };

// mh without -b is IPVS's mh (source address only), which xlvs must write out: its own default is mh-port.
const mh = { scheduler: 'mh', sched_flags: [], persistence: null };
const w1 = { weight: 1, upper_threshold: null, lower_threshold: null };

test('service and real commands in ipvsadm syntax', () => {
  assert.deepEqual(parse('-A -t 10.0.0.100:80 -s mh'), { kind: 'add-service', svc: key, fields: mh });
  assert.deepEqual(parse('--add-service --tcp-service 10.0.0.100:http --scheduler mh'), { kind: 'add-service', svc: key, fields: mh });
  assert.deepEqual(parse('-E -u 10.0.0.100:domain -s mh'), { kind: 'edit-service', svc: { vip: '10.0.0.100', port: 53, protocol: 'udp' }, fields: mh });
  assert.deepEqual(parse('-D -t 10.0.0.100:80'), { kind: 'delete-service', svc: key });
  assert.deepEqual(parse('-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3'), { kind: 'add-real', svc: key, address: '10.0.0.11', fields: { ...w1, weight: 3 } });
  assert.deepEqual(parse('-a -t 10.0.0.100:80 -r 10.0.0.11'), { kind: 'add-real', svc: key, address: '10.0.0.11', fields: w1 });
  assert.deepEqual(parse('-e -t 10.0.0.100:80 -r 10.0.0.11 -w 0'), { kind: 'edit-real', svc: key, address: '10.0.0.11', fields: { ...w1, weight: 0 } });
  assert.deepEqual(parse('-d -t 10.0.0.100:80 -r 10.0.0.11:80'), { kind: 'delete-real', svc: key, address: '10.0.0.11' });
  assert.deepEqual(parse('-C'), { kind: 'clear' });
  assert.deepEqual(parse('-Z'), { kind: 'zero' });
  assert.deepEqual(parse('-Z -t 10.0.0.100:80'), { kind: 'zero', svc: key });
  assert.deepEqual(parse('-R'), { kind: 'restore' });
  assert.deepEqual(parse('-S -n'), { kind: 'save', numeric: true });
  assert.deepEqual(parse('-Sn'), { kind: 'save', numeric: true });
});

test("every scheduler xlvs has; ipvsadm's default wlc without -s; -b, -p, -M, port 0, -x/-y, --set", () => {
  for (const s of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'fo', 'ovf']) {
    assert.deepEqual(parse(`-A -t 10.0.0.100:80 -s ${s}`), { kind: 'add-service', svc: key, fields: { scheduler: s, sched_flags: null, persistence: null } });
  }
  assert.deepEqual(parse('-A -t 10.0.0.100:80'), { kind: 'add-service', svc: key, fields: { scheduler: 'wlc', sched_flags: null, persistence: null } });
  const fields = (line: string) => (parse(line) as { fields: unknown }).fields;
  assert.deepEqual(fields('-A -t 10.0.0.100:80 -s sh -b sh-port,sh-fallback'), { scheduler: 'sh', sched_flags: ['sh-port', 'sh-fallback'], persistence: null });
  assert.deepEqual(
    fields('-A -t 10.0.0.100:80 -b mh-fallback -s mh'),
    { scheduler: 'mh', sched_flags: ['mh-fallback'], persistence: null },
    'order-independent',
  );
  assert.deepEqual(
    fields('-A -t 10.0.0.100:80 -s mh --sched-flags=flag-1,flag-2'),
    { scheduler: 'mh', sched_flags: ['mh-port', 'mh-fallback'], persistence: null },
    'flag-1/2 are fallback/port',
  );
  assert.deepEqual(fields('-A -t 10.0.0.100:80 -s wlc -p'), { scheduler: 'wlc', sched_flags: null, persistence: { timeout: 360, netmask: '255.255.255.255' } });
  assert.deepEqual(fields('-A -t 10.0.0.100:80 -s wlc -p 600 -M 255.255.255.0'), {
    scheduler: 'wlc',
    sched_flags: null,
    persistence: { timeout: 600, netmask: '255.255.255.0' },
  });
  assert.deepEqual(fields('-A -t 10.0.0.100:80 -s wlc --persistent=60'), {
    scheduler: 'wlc',
    sched_flags: null,
    persistence: { timeout: 60, netmask: '255.255.255.255' },
  });
  assert.deepEqual(
    fields('-A -t 10.0.0.100:80 -p -s rr'),
    { scheduler: 'rr', sched_flags: null, persistence: { timeout: 360, netmask: '255.255.255.255' } },
    '-p takes no option as its value',
  );
  // Port 0 (written or left out) is every port, for a persistent service.
  assert.deepEqual((parse('-A -t 10.0.0.100:0 -s wlc -p 300') as any).svc, { ...key, port: 0 });
  assert.deepEqual((parse('-E -t 10.0.0.100 -s wlc -p 300') as any).svc, { ...key, port: 0 });
  assert.deepEqual(parse('-a -t 10.0.0.100:0 -r 10.0.0.11'), { kind: 'add-real', svc: { ...key, port: 0 }, address: '10.0.0.11', fields: w1 });
  assert.deepEqual(parse('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 2 -x 100 -y 50'), {
    kind: 'add-real',
    svc: key,
    address: '10.0.0.11',
    fields: { weight: 2, upper_threshold: 100, lower_threshold: 50 },
  });
  assert.deepEqual(parse('-e -t 10.0.0.100:80 -r 10.0.0.11 --u-threshold 100'), {
    kind: 'edit-real',
    svc: key,
    address: '10.0.0.11',
    fields: { weight: 1, upper_threshold: 100, lower_threshold: null },
  });
  assert.deepEqual(parse('--set 0 60 0'), { kind: 'set-timeouts', timeouts: { tcp: 0, tcp_fin: 60, udp: 0 } });
  assert.deepEqual(parse('--set 900 120 300'), { kind: 'set-timeouts', timeouts: { tcp: 900, tcp_fin: 120, udp: 300 } });
});

test('list variants, bundled flags, no command means list', () => {
  assert.deepEqual(parse('-Ln'), { kind: 'list', numeric: true, format: 'plain', exact: false });
  assert.deepEqual(parse('-l -n --stats'), { kind: 'list', numeric: true, format: 'stats', exact: false });
  assert.deepEqual(parse('-L --rate --exact'), { kind: 'list', numeric: false, format: 'rate', exact: true });
  assert.deepEqual(parse('-L -n -c'), { kind: 'list', numeric: true, format: 'conns', exact: false });
  assert.deepEqual(parse('-L -n --thresholds'), { kind: 'list', numeric: true, format: 'thresholds', exact: false });
  assert.deepEqual(parse('-L --timeout'), { kind: 'list-timeouts' });
  assert.deepEqual(parse('-L -t 10.0.0.100:80'), { kind: 'list', svc: key, numeric: false, format: 'plain', exact: false });
  assert.deepEqual(parseIpvsadm([]), { kind: 'list', numeric: false, format: 'plain', exact: false });
  assert.deepEqual(parse('-n'), { kind: 'list', numeric: true, format: 'plain', exact: false });
});

test('what xlvs does not do is refused with a clear message and ipvsadm exit codes', () => {
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -m', /masquerading \(-m, NAT\) is not supported/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -i', /tunneling \(-i, IPIP\) is not supported/, 2);
  for (const s of ['lblc', 'lblcr', 'twos']) refused(`-A -t 10.0.0.100:80 -s ${s}`, new RegExp(`^scheduler ${s} is not supported \\(xlvs has rr, wrr, `), 2);
  refused('-A -t 10.0.0.100:80 -s bogus', /^Scheduler or persistence engine not found$/, 255);
  refused('-A -f 1 -s mh', /firewall-mark services \(-f\) are not supported/, 2);
  refused('-A -t 10.0.0.100:80 -s mh -o', /one-packet scheduling \(-o\) is not supported/, 2);
  refused('-L --persistent-conn', /--persistent-conn is not supported yet/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11:8080', /direct routing cannot change the port/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 70000', /^illegal weight specified$/, 2);
  refused('-A -t 10.0.0.100:nope -s mh', /^illegal virtual server address\[:port\] specified$/, 2);
  refused('-A -t 10.0.0.100:70000 -s mh', /^illegal virtual server address\[:port\] specified$/, 2);
  refused('-A -t nowhere:80 -s mh', /^illegal virtual server address\[:port\] specified$/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11:nope', /^illegal real server address\[:port\] specified$/, 2);
  refused('-a -t 10.0.0.100:80', /You need to supply the 'real-server' option/, 2);
  refused('-A -s mh', /You need to supply the 'service-address' option/, 2);
  refused('-A -D -t 10.0.0.100:80', /You cannot specify more than one command/, 2);
  refused('-L --stats --rate', /more than one of --stats, --rate, --thresholds and -c/, 2);
  refused('-L --thresholds -c', /more than one of --stats, --rate, --thresholds and -c/, 2);
  refused('-L --timeout -c', /^options conflicts in the list command$/, 2);
  refused('-C -t 10.0.0.100:80', /Illegal '-t' option with the command/, 2);
  refused('-A -t 10.0.0.100:80 -s mh -x 10', /Illegal '-x' option with the command/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -p', /Illegal '-p' option with the command/, 2);
  refused('-L --frobnicate', /unknown option --frobnicate/, 2);
  refused('-L stray', /^unexpected argument stray$/, 2);
});

test("bad -b, -p, -M, port 0, -x/-y and --set input: ipvsadm's messages and exit codes, or a clear one", () => {
  refused('-A -t 10.0.0.100:80 -s mh -b sh-port', /^incompatible scheduler flag `sh-port'$/, 2);
  refused('-A -t 10.0.0.100:80 -b mh-port', /^incompatible scheduler flag `mh-port'$/, 2); // -s absent: wlc
  refused('-A -t 10.0.0.100:80 -s sh -b sh-port,bogus', /^invalid scheduler flag `bogus'$/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -b flag-1', /flag-1 means nothing to scheduler wlc/, 2);
  refused('-A -t 10.0.0.100:80 -s mh -b flag-3', /flag-3 means nothing to scheduler mh/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -p 0', /^invalid timeout value `0' specified$/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -p 2678401', /^invalid timeout value `2678401' specified$/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -p soon', /^invalid timeout value `soon' specified$/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -M 255.255.255.0', /^persistence netmask \(-M\) 255\.255\.255\.0 needs -p/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -p -M 255.255.0.255', /^persistence netmask \(-M\) 255\.255\.0\.255 is not contiguous ones/, 2);
  refused('-A -t 10.0.0.100:80 -s wlc -p -M 24', /^illegal virtual server persistent mask specified$/, 2);
  refused('-A -t 10.0.0.100:0 -s wlc', /^Zero port specified for non-persistent service$/, 2);
  refused('-A -t 10.0.0.100 -s mh', /^Zero port specified for non-persistent service$/, 2);
  refused('-E -t 10.0.0.100:0 -s rr -M 255.255.255.0', /needs -p/, 2);
  // The kernel refuses a lower threshold above the upper one (ERANGE, so ipvsadm exits 255); said in words.
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -x 10 -y 20', /^lower threshold \(-y\) 20 is above upper threshold \(-x\) 10$/, 255);
  refused('-e -t 10.0.0.100:80 -r 10.0.0.11 -y 20', /^lower threshold \(-y\) 20 needs an upper threshold \(-x\)/, 255);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -x many', /^illegal u_threshold specified$/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -y -1', /^illegal l_threshold specified$/, 2);
  refused('--set 900 120', /^--set option requires 3 timeout values$/, 2);
  refused('--set 900 120 300 5', /^unexpected argument 5$/, 2);
  refused('--set 900 x 300', /^invalid timeout value `x' specified$/, 2);
  refused('--set 900 120 2678401', /^invalid timeout value `2678401' specified$/, 2);
  refused('--set 900 120 300 -t 10.0.0.100:80', /Illegal '-t' option with the command/, 2);
});

const L: ServiceListing[] = [
  {
    vip: '10.0.0.100',
    port: 80,
    protocol: 'tcp',
    scheduler: 'mh',
    maglevSize: 65537,
    stats: { conns: 123, packets: 456789, bytes: 123456789012 },
    rate: { cps: 5, inpps: 50, outpps: 0, inbps: 3000, outbps: 0 },
    reals: [
      // Deliberately out of order: ipvsadm sorts destinations by address.
      {
        address: '10.0.0.12',
        weight: 1,
        mac: 'aa:bb:cc:dd:ee:02',
        schedulable: true,
        stats: { conns: 23, packets: 56789, bytes: 4567 },
        rate: { cps: 1, inpps: 10, outpps: 0, inbps: 600, outbps: 0 },
      },
      {
        address: '10.0.0.11',
        weight: 3,
        mac: 'aa:bb:cc:dd:ee:01',
        schedulable: true,
        stats: { conns: 100, packets: 400000, bytes: 123456784445 },
        rate: { cps: 4, inpps: 40, outpps: 0, inbps: 2400, outbps: 0 },
      },
    ],
  },
  {
    vip: '10.0.0.100',
    port: 53,
    protocol: 'udp',
    scheduler: 'mh',
    maglevSize: 251,
    stats: { conns: 0, packets: 0, bytes: 0 },
    rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
    reals: [],
  },
];

test('ipvsadm -L -n, byte for byte', () => {
  assert.equal(
    formatList(L, { format: 'plain', exact: false, size: 4096 }),
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  10.0.0.100:80 mh\n' +
      '  -> 10.0.0.11:80                 Route   3      0          0         \n' +
      '  -> 10.0.0.12:80                 Route   1      0          0         \n' +
      'UDP  10.0.0.100:53 mh\n',
  );
});

test('ipvsadm -L -n --stats and --exact, byte for byte (K/M/G scaling like print_largenum)', () => {
  assert.equal(
    formatList(L, { format: 'stats', exact: false, size: 4096 }),
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  10.0.0.100:80                     123   456789        0     123G        0\n' +
      '  -> 10.0.0.11:80                      100   400000        0     123G        0\n' +
      '  -> 10.0.0.12:80                       23    56789        0     4567        0\n' +
      'UDP  10.0.0.100:53                       0        0        0        0        0\n',
  );
  assert.equal(
    formatList(L.slice(0, 1), { format: 'stats', exact: true, size: 4096, header: false }).split('\n')[2],
    'TCP  10.0.0.100:80                     123   456789        0 123456789012        0',
  );
});

test('ipvsadm -L -n --rate, byte for byte (Out* is 0 in DR)', () => {
  assert.equal(
    formatList(L.slice(0, 1), { format: 'rate', exact: false, size: 4096 }),
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  10.0.0.100:80                       5       50        0     3000        0\n' +
      '  -> 10.0.0.11:80                        4       40        0     2400        0\n' +
      '  -> 10.0.0.12:80                        1       10        0      600        0\n',
  );
});

test('print_largenum boundaries', () => {
  assert.equal(largenum(99999999, false), ' 99999999');
  assert.equal(largenum(100000000, false), '  100000K');
  assert.equal(largenum(1000000000, false), '    1000M');
  assert.equal(largenum(100000000000n, false), '     100G');
  assert.equal(largenum(100000000000000n, false), '     100T');
  assert.equal(largenum(12345678, true), ' 12345678');
  assert.equal(largenum(123456789, true), ' 123456789');
});

test('ipvsadm -S -n, byte for byte, and names when resolving', () => {
  assert.equal(
    formatSave(L),
    '-A -t 10.0.0.100:80 -s mh\n' +
      '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3\n' +
      '-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1\n' +
      '-A -u 10.0.0.100:53 -s mh\n',
  );
  const named = formatSave(L.slice(0, 1), (a, p) => `${a === '10.0.0.100' ? 'lb.example' : a}:${p === 80 ? 'http' : p}`);
  assert.equal(named.split('\n')[0], '-A -t lb.example:http -s mh');
});

test('the service column is cut at 33 characters and the destination at 28, as ipvsadm does for IPv4', () => {
  const long = (a: string, p: number) =>
    `${a === '10.0.0.100' ? 'a-very-long-load-balancer-name.example.org' : 'a-very-long-real-server-name-that-is-cut.example.org'}:${p}`;
  const out = formatList(L.slice(0, 1), { format: 'plain', exact: false, size: 4096, name: long }).split('\n');
  assert.equal(out[3], 'TCP  a-very-long-load-balancer-na mh');
  assert.equal(out[4], '  -> a-very-long-real-server-name Route   3      0          0         ');
});

const stats0 = { conns: 0, packets: 0, bytes: 0 };
const rate0 = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const real = (address: string, weight: number, activeConns: number, inactiveConns: number, upperThreshold: number, lowerThreshold: number) => ({
  address,
  weight,
  mac: null,
  schedulable: true,
  stats: stats0,
  rate: rate0,
  activeConns,
  inactiveConns,
  upperThreshold,
  lowerThreshold,
});
const P: ServiceListing[] = [
  { vip: '10.0.0.100', port: 53, protocol: 'udp', scheduler: 'mh', schedFlags: [], maglevSize: 251, stats: stats0, rate: rate0, reals: [] },
  { vip: '10.0.0.100', port: 443, protocol: 'tcp', scheduler: 'mh', schedFlags: ['mh-port'], maglevSize: 251, stats: stats0, rate: rate0, reals: [] },
  {
    vip: '10.0.0.100',
    port: 80,
    protocol: 'tcp',
    scheduler: 'sh',
    schedFlags: ['sh-port', 'sh-fallback'],
    persistence: { timeout: 360, netmask: '255.255.255.255' },
    maglevSize: 251,
    stats: stats0,
    rate: rate0,
    reals: [],
  },
  {
    vip: '10.0.0.100',
    port: 0,
    protocol: 'tcp',
    scheduler: 'wlc',
    schedFlags: [],
    persistence: { timeout: 300, netmask: '255.255.255.0' },
    maglevSize: 65537,
    stats: stats0,
    rate: rate0,
    reals: [real('10.0.0.12', 1, 0, 1, 0, 0), real('10.0.0.11', 2, 12, 3, 100, 50)],
  },
];

test('ipvsadm -L -n with scheduler flags, persistence, port 0 and real connection counts, byte for byte', () => {
  // print_service_entry: "%s %s" (name, scheduler), " (" flags ")", " persistent %u", " mask %s" (only if not /32).
  assert.equal(
    formatList(P, { format: 'plain', exact: false, size: 4096 }),
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  10.0.0.100:0 wlc persistent 300 mask 255.255.255.0\n' +
      '  -> 10.0.0.11:0                  Route   2      12         3         \n' +
      '  -> 10.0.0.12:0                  Route   1      0          1         \n' +
      'TCP  10.0.0.100:80 sh (sh-fallback,sh-port) persistent 360\n' +
      'TCP  10.0.0.100:443 mh (mh-port)\n' +
      'UDP  10.0.0.100:53 mh\n',
  );
});

test('ipvsadm -L -n --thresholds, byte for byte', () => {
  assert.equal(
    formatList(P.slice(3), { format: 'thresholds', exact: false, size: 4096, header: false }),
    'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  10.0.0.100:0 wlc persistent 300 mask 255.255.255.0\n' +
      '  -> 10.0.0.11:0                  100        50         12         3         \n' +
      '  -> 10.0.0.12:0                  0          0          0          1         \n',
  );
});

test('ipvsadm -S -n with -p, -M, -b (ipvsadm 1.31 order) and -x/-y, and -R of it gives the same services back', () => {
  const saved = formatSave(P);
  assert.equal(
    saved,
    '-A -t 10.0.0.100:0 -s wlc -p 300 -M 255.255.255.0\n' +
      '-a -t 10.0.0.100:0 -r 10.0.0.11:0 -g -w 2 -x 100 -y 50\n' +
      '-a -t 10.0.0.100:0 -r 10.0.0.12:0 -g -w 1\n' +
      '-A -t 10.0.0.100:80 -s sh -p 360 -b sh-fallback,sh-port\n' +
      '-A -t 10.0.0.100:443 -s mh -b mh-port\n' +
      '-A -u 10.0.0.100:53 -s mh\n',
  );
  const cfg = validateConfig({ interface: 'eth0', services: [] });
  for (const line of saved.trim().split('\n')) ipvsadmEdit(parse(line))!(cfg);
  const back = validateConfig(cfg).services.map((s) => ({
    key: `${s.protocol} ${s.vip}:${s.port}`,
    scheduler: s.scheduler,
    flags: schedFlags(s),
    persistence: s.persistence,
    reals: s.reals.map((r) => [r.address, r.weight, r.upper_threshold ?? 0, r.lower_threshold ?? 0]),
  }));
  assert.deepEqual(back, [
    {
      key: 'tcp 10.0.0.100:0',
      scheduler: 'wlc',
      flags: [],
      persistence: { timeout: 300, netmask: '255.255.255.0' },
      reals: [
        ['10.0.0.11', 2, 100, 50],
        ['10.0.0.12', 1, 0, 0],
      ],
    },
    { key: 'tcp 10.0.0.100:80', scheduler: 'sh', flags: ['sh-port', 'sh-fallback'], persistence: { timeout: 360, netmask: '255.255.255.255' }, reals: [] },
    { key: 'tcp 10.0.0.100:443', scheduler: 'mh', flags: ['mh-port'], persistence: undefined, reals: [] },
    { key: 'udp 10.0.0.100:53', scheduler: 'mh', flags: [], persistence: undefined, reals: [] },
  ]);
  // The restored mh service without -b carries its empty list: IPVS's mh, not xlvs's mh-port default.
  assert.deepEqual(validateConfig(cfg).services[3]!.sched_flags, []);
});

test('-E and -e replace the whole definition, as in ipvsadm: what is not given is removed', () => {
  const cfg = validateConfig({ interface: 'eth0', services: [] });
  for (const line of ['-A -t 10.0.0.100:80 -s sh -b sh-port -p 600 -M 255.255.255.0', '-a -t 10.0.0.100:80 -r 10.0.0.11 -w 5 -x 100 -y 10'])
    ipvsadmEdit(parse(line))!(cfg);
  ipvsadmEdit(parse('-E -t 10.0.0.100:80 -s rr'))!(cfg);
  ipvsadmEdit(parse('-e -t 10.0.0.100:80 -r 10.0.0.11 -w 2'))!(cfg);
  const s = validateConfig(cfg).services[0]!;
  assert.equal(s.scheduler, 'rr');
  assert.equal('sched_flags' in s, false);
  assert.equal('persistence' in s, false);
  assert.deepEqual(s.reals, [{ address: '10.0.0.11', weight: 2 }]);
  ipvsadmEdit(parse('--set 0 60 0'))!(cfg);
  assert.deepEqual(cfg.timeouts, { tcp: 900, tcp_fin: 60, udp: 300 });
});

test('ipvsadm -L --timeout, byte for byte', () => {
  assert.equal(formatTimeouts({ tcp: 900, tcp_fin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
});

test('ipvsadm -L -n -c, byte for byte: IPVS state names, expire = state timeout - idle time', () => {
  const c = (protocol: 'tcp' | 'udp', state: number | undefined, lastSeen: number | undefined) => ({
    protocol,
    client: '203.0.113.10',
    cport: 40000,
    vip: '10.0.0.100',
    vport: protocol === 'tcp' ? 80 : 53,
    real: '10.0.0.11',
    ...(state !== undefined ? { state } : {}),
    ...(lastSeen !== undefined ? { lastSeen } : {}),
  });
  const conns = [
    c('tcp', CS.ESTABLISHED, 1000), // 900 - 2
    c('tcp', CS.SYN_RECV, 990), // 60 - 12
    c('tcp', CS.FIN_WAIT, 900), // 120 - 102
    c('tcp', CS.CLOSE, 995), // 10 - 7
    c('udp', CS.UDP, 1000), // 300 - 2
    c('tcp', CS.ESTABLISHED, 0), // idle past its timeout, not swept yet
    c('tcp', undefined, undefined), // a datapath that does not say
  ];
  assert.equal(
    formatConns(conns, undefined, { now: 1002, timeouts: { tcp: 900, tcp_fin: 120, udp: 300 } }),
    'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'TCP 14:58  ESTABLISHED 203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n' +
      'TCP 00:48  SYN_RECV    203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n' +
      'TCP 00:18  FIN_WAIT    203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n' +
      'TCP 00:03  CLOSE       203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n' +
      'UDP 04:58  UDP         203.0.113.10:40000 10.0.0.100:53      10.0.0.11:53\n' +
      'TCP 00:00  ESTABLISHED 203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n' +
      'TCP 00:00  NONE        203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n',
  );
  // Without a clock the state is still named; expire stays 00:00.
  assert.equal(formatConns(conns.slice(0, 1)).split('\n')[2], 'TCP 00:00  ESTABLISHED 203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80');
});

/** A datapath that only remembers which real id is which address, and holds connections to list. */
class TinyDatapath implements DatapathPort {
  ids = new Map<string, number>();
  conns: ReturnType<NonNullable<DatapathPort['connections']>> = [];
  timeouts: unknown[] = [];
  apply(ops: readonly Op[]): void {
    for (const op of ops) if (op.op === 'putReal') this.ids.set(op.real.address, op.real.id);
  }
  connsOf(): number {
    return 0;
  }
  counters() {
    return { svc: new Map(), real: new Map() };
  }
  zero(): void {}
  connections() {
    return this.conns;
  }
  setTimeouts(t: unknown): void {
    this.timeouts.push(t);
  }
}

test('xlvsadm end to end over the API: -A/-E/-a/-e fields land in the config, --set and -L --timeout, -c states', async () => {
  const dp = new TinyDatapath();
  let persisted: Config | undefined;
  const ctl = new Controller(validateConfig({ interface: 'eth0' }), [], {
    datapath: dp,
    resolve: (a) => new Map(a.map((x) => [x, '02:00:00:00:00:01'])),
    check: () => undefined,
    persist: (c) => {
      persisted = c;
    },
    log: () => undefined,
    now: () => 0,
  });
  await withXlvsadm(ctl, async (run) => {
    await run('-A -t 10.0.0.100:80 -s mh');
    assert.deepEqual(ctl.config().services[0]!.sched_flags, [], "mh without -b: IPVS's mh, written out");
    await run('-E -t 10.0.0.100:80 -s sh -b sh-fallback -p 600 -M 255.255.255.0');
    await run('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 3 -x 100 -y 10');
    assert.equal(
      await run('-L -n'),
      'IP Virtual Server version 1.2.1 (size=4194304)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.100:80 sh (sh-fallback) persistent 600 mask 255.255.255.0\n  -> 10.0.0.11:80                 Route   3      0          0         \n',
    );
    assert.equal(
      await run('-S -n'),
      '-A -t 10.0.0.100:80 -s sh -p 600 -M 255.255.255.0 -b sh-fallback\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3 -x 100 -y 10\n',
    );
    await run('-E -t 10.0.0.100:80 -s wlc');
    await run('-e -t 10.0.0.100:80 -r 10.0.0.11 -w 2');
    assert.deepEqual(persisted!.services, [
      { vip: '10.0.0.100', port: 80, protocol: 'tcp', scheduler: 'wlc', maglev_size: 65537, reals: [{ address: '10.0.0.11', weight: 2 }] },
    ]);
    await assert.rejects(run('-e -t 10.0.0.100:80 -r 10.0.0.11 -x 5 -y 6'), (e: unknown) => e instanceof IpvsadmError && e.exitCode === 255);
    await run('--set 0 60 0');
    assert.deepEqual(persisted!.timeouts, { tcp: 900, tcp_fin: 60, udp: 300 });
    assert.deepEqual(dp.timeouts.at(-1), { tcp: 900, tcp_fin: 60, udp: 300 });
    assert.equal(await run('-L --timeout'), 'Timeout (tcp tcpfin udp): 900 60 300\n');
    const now = Number(process.hrtime.bigint() / 1_000_000_000n);
    dp.conns = [
      { saddr: '203.0.113.10', sport: 40000, daddr: '10.0.0.100', dport: 80, proto: 6, realId: dp.ids.get('10.0.0.11')!, state: CS.FIN_WAIT, lastSeen: now },
    ];
    // 60 s of tcp_fin left, less at most the second that may tick between here and there.
    assert.match((await run('-L -n -c')).split('\n')[2]!, /^TCP (01:00|00:59) {2}FIN_WAIT {4}203\.0\.113\.10:40000 10\.0\.0\.100:80 {6}10\.0\.0\.11:80$/);
  });
});
