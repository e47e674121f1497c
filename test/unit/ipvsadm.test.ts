// ipvsadm.test.ts: xlvsadm's ipvsadm syntax (accepted and refused, with ipvsadm's exit codes) and its list/save/connection formats, byte for byte.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceListing } from '../../src/core/controller';
import { IpvsadmError, formatConns, formatList, formatSave, largenum, parseIpvsadm } from '../../src/core/ipvsadm';

const lookup = (n: string, p: 'tcp' | 'udp') => ({ 'http/tcp': 80, 'domain/udp': 53 } as Record<string, number>)[`${n}/${p}`];
const parse = (s: string) => parseIpvsadm(s.split(' '), lookup);
const refused = (s: string, re: RegExp, code: number) =>
  assert.throws(() => parse(s), (e: unknown) => {
    assert.ok(e instanceof IpvsadmError, String(e));
    assert.match(e.message, re);
    assert.equal(e.exitCode, code, `${s}: exit code`);
    return true;
  });

const key = { vip: '10.0.0.100', port: 80, protocol: 'tcp' as const };

test('service and real commands in ipvsadm syntax', () => {
  assert.deepEqual(parse('-A -t 10.0.0.100:80 -s mh'), { kind: 'add-service', svc: key, scheduler: 'mh' });
  assert.deepEqual(parse('--add-service --tcp-service 10.0.0.100:http --scheduler mh'), { kind: 'add-service', svc: key, scheduler: 'mh' });
  assert.deepEqual(parse('-E -u 10.0.0.100:domain -s mh'), { kind: 'edit-service', svc: { vip: '10.0.0.100', port: 53, protocol: 'udp' }, scheduler: 'mh' });
  assert.deepEqual(parse('-D -t 10.0.0.100:80'), { kind: 'delete-service', svc: key });
  assert.deepEqual(parse('-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3'), { kind: 'add-real', svc: key, address: '10.0.0.11', weight: 3 });
  assert.deepEqual(parse('-a -t 10.0.0.100:80 -r 10.0.0.11'), { kind: 'add-real', svc: key, address: '10.0.0.11', weight: 1 });
  assert.deepEqual(parse('-e -t 10.0.0.100:80 -r 10.0.0.11 -w 0'), { kind: 'edit-real', svc: key, address: '10.0.0.11', weight: 0 });
  assert.deepEqual(parse('-d -t 10.0.0.100:80 -r 10.0.0.11:80'), { kind: 'delete-real', svc: key, address: '10.0.0.11' });
  assert.deepEqual(parse('-C'), { kind: 'clear' });
  assert.deepEqual(parse('-Z'), { kind: 'zero' });
  assert.deepEqual(parse('-Z -t 10.0.0.100:80'), { kind: 'zero', svc: key });
  assert.deepEqual(parse('-R'), { kind: 'restore' });
  assert.deepEqual(parse('-S -n'), { kind: 'save', numeric: true });
  assert.deepEqual(parse('-Sn'), { kind: 'save', numeric: true });
});

test('list variants, bundled flags, no command means list', () => {
  assert.deepEqual(parse('-Ln'), { kind: 'list', numeric: true, format: 'plain', exact: false });
  assert.deepEqual(parse('-l -n --stats'), { kind: 'list', numeric: true, format: 'stats', exact: false });
  assert.deepEqual(parse('-L --rate --exact'), { kind: 'list', numeric: false, format: 'rate', exact: true });
  assert.deepEqual(parse('-L -n -c'), { kind: 'list', numeric: true, format: 'conns', exact: false });
  assert.deepEqual(parse('-L -t 10.0.0.100:80'), { kind: 'list', svc: key, numeric: false, format: 'plain', exact: false });
  assert.deepEqual(parseIpvsadm([]), { kind: 'list', numeric: false, format: 'plain', exact: false });
  assert.deepEqual(parse('-n'), { kind: 'list', numeric: true, format: 'plain', exact: false });
});

test('what xlvs does not do is refused with a clear message and ipvsadm exit codes', () => {
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -m', /masquerading \(-m, NAT\) is not supported/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -i', /tunneling \(-i, IPIP\) is not supported/, 2);
  refused('-A -t 10.0.0.100:80', /scheduler wlc is not supported yet \(ipvsadm's default when -s is not given; use -s mh\)/, 2);
  for (const s of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'fo', 'ovf']) refused(`-A -t 10.0.0.100:80 -s ${s}`, new RegExp(`scheduler ${s} is not supported yet`), 2);
  refused('-A -t 10.0.0.100:80 -s bogus', /^Scheduler not found$/, 255);
  refused('-A -t 10.0.0.100:80 -s mh -p', /persistence \(-p\) is not supported yet/, 2);
  refused('-A -t 10.0.0.100:80 -s mh -p 300', /persistence \(-p\) is not supported yet/, 2);
  refused('-A -t 10.0.0.100:80 -s mh -M 255.255.255.0', /netmask \(-M\) is not supported yet/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 1 -x 100', /thresholds \(-x\/-y\) are not supported yet/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 1 -y 10', /thresholds \(-x\/-y\) are not supported yet/, 2);
  refused('-A -f 1 -s mh', /firewall-mark services \(-f\) are not supported/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11:8080', /direct routing cannot change the port/, 2);
  refused('-a -t 10.0.0.100:80 -r 10.0.0.11 -w 70000', /^illegal weight specified$/, 2);
  refused('-A -t 10.0.0.100 -s mh', /^illegal virtual server address\[:port\] specified$/, 2);
  refused('-A -t 10.0.0.100:nope -s mh', /^illegal virtual server port specified$/, 2);
  refused('-a -t 10.0.0.100:80', /You need to supply the 'real-server' option/, 2);
  refused('-A -s mh', /You need to supply the 'service-address' option/, 2);
  refused('-A -D -t 10.0.0.100:80', /You cannot specify more than one command/, 2);
  refused('-L --stats --rate', /more than one of --stats, --rate and -c/, 2);
  refused('-C -t 10.0.0.100:80', /Illegal '-t' option with the command/, 2);
  refused('-L --frobnicate', /unknown option --frobnicate/, 2);
});

const L: ServiceListing[] = [
  {
    vip: '10.0.0.100', port: 80, protocol: 'tcp', scheduler: 'mh', maglevSize: 65537,
    stats: { conns: 123, packets: 456789, bytes: 123456789012 },
    rate: { cps: 5, inpps: 50, outpps: 0, inbps: 3000, outbps: 0 },
    reals: [
      // Deliberately out of order: ipvsadm sorts destinations by address.
      { address: '10.0.0.12', weight: 1, mac: 'aa:bb:cc:dd:ee:02', schedulable: true, stats: { conns: 23, packets: 56789, bytes: 4567 }, rate: { cps: 1, inpps: 10, outpps: 0, inbps: 600, outbps: 0 } },
      { address: '10.0.0.11', weight: 3, mac: 'aa:bb:cc:dd:ee:01', schedulable: true, stats: { conns: 100, packets: 400000, bytes: 123456784445 }, rate: { cps: 4, inpps: 40, outpps: 0, inbps: 2400, outbps: 0 } },
    ],
  },
  {
    vip: '10.0.0.100', port: 53, protocol: 'udp', scheduler: 'mh', maglevSize: 251,
    stats: { conns: 0, packets: 0, bytes: 0 }, rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 }, reals: [],
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
  const long = (a: string, p: number) => `${a === '10.0.0.100' ? 'a-very-long-load-balancer-name.example.org' : 'a-very-long-real-server-name-that-is-cut.example.org'}:${p}`;
  const out = formatList(L.slice(0, 1), { format: 'plain', exact: false, size: 4096, name: long }).split('\n');
  assert.equal(out[3], 'TCP  a-very-long-load-balancer-na mh');
  assert.equal(out[4], '  -> a-very-long-real-server-name Route   3      0          0         ');
});

test('ipvsadm -L -n -c, byte for byte (no timers or TCP state in the datapath: 00:00 and NONE)', () => {
  assert.equal(
    formatConns([{ protocol: 'tcp', client: '203.0.113.10', cport: 40000, vip: '10.0.0.100', vport: 80, real: '10.0.0.11' }]),
    'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'TCP 00:00  NONE        203.0.113.10:40000 10.0.0.100:80      10.0.0.11:80\n',
  );
});
