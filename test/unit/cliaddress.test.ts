// SPDX-License-Identifier: Apache-2.0
// cliaddress.test.ts: the verbs' address syntax in both families: VIP:PORT and [V6]:PORT services, RIP[:PORT], [V6][:PORT] and bare-v6 reals, and their errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRealAddress, parseServiceAddress, realArgs, serviceFrom } from '../../src/cli/address';
import { serviceSettings } from '../../src/cli/commands/service';
import { hostPort } from '../../src/cli/commands/trace';
import { UsageError } from '../../src/core/errors';

const usage = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, re);
    return true;
  });

test('services: IPv4 as before, IPv6 in brackets, canonical text back', () => {
  assert.deepEqual(parseServiceAddress('VIP:PORT', '10.0.0.100:80'), { vip: '10.0.0.100', port: 80 });
  assert.deepEqual(parseServiceAddress('VIP:PORT', '[2001:DB8:0::100]:443'), { vip: '2001:db8::100', port: 443 });
  assert.deepEqual(parseServiceAddress('-t', '[2001:db8::100]:0'), { vip: '2001:db8::100', port: 0 });
  assert.deepEqual(serviceFrom(undefined, { udpService: '[2001:db8::100]:53' }), { vip: '2001:db8::100', port: 53, protocol: 'udp' });
  assert.deepEqual(serviceFrom(undefined, { vip: '2001:db8::0100', port: '80' }), { vip: '2001:db8::100', port: 80, protocol: 'tcp' });
});

test('service errors name the argument and the value', () => {
  usage(
    () => parseServiceAddress('VIP:PORT', '2001:db8::100'),
    /^VIP:PORT "2001:db8::100": an IPv6 service is written in brackets with its port, e\.g\. \[2001:db8::100\]:80$/,
  );
  usage(
    () => parseServiceAddress('-t', '[2001:db8::100]'),
    /^-t "\[2001:db8::100\]": expected an address and a port, e\.g\. 10\.0\.0\.100:80 or \[2001:db8::100\]:80$/,
  );
  usage(() => parseServiceAddress('-t', '[2001:db8::zz]:80'), /^-t "\[2001:db8::zz\]:80": "2001:db8::zz" is not an IPv6 address$/);
  usage(() => parseServiceAddress('-t', '[10.0.0.100]:80'), /^-t "\[10\.0\.0\.100\]:80": "10\.0\.0\.100" is not an IPv6 address$/);
  usage(() => parseServiceAddress('-t', '[2001:db8::100]:65536'), /^-t "\[2001:db8::100\]:65536": port "65536" must be an integer in 0\.\.65535/);
  usage(() => parseServiceAddress('-t', '[2001:db8::100]80'), /^-t "\[2001:db8::100\]80": expected an address and a port/);
  usage(() => serviceFrom(undefined, { vip: 'fe80::1%eth0', port: '80' }), /^--vip "fe80::1%eth0": not an IPv4 or IPv6 address$/);
});

test('reals: [v6], [v6]:PORT and bare v6, the service port only, the service family only', () => {
  for (const r of ['[2001:db8::11]', '[2001:db8::11]:80', '2001:db8::11', '2001:DB8::0011'])
    assert.equal(parseRealAddress('RIP', r, 80, '2001:db8::100'), '2001:db8::11', r);
  assert.equal(parseRealAddress('RIP', '10.0.0.11:80', 80, '10.0.0.100'), '10.0.0.11');
  usage(
    () => parseRealAddress('-r', '[2001:db8::11]:8080', 80),
    /^-r "\[2001:db8::11\]:8080": port 8080 differs from the service's 80 \(direct routing keeps the port\)$/,
  );
  usage(() => parseRealAddress('-r', '[10.0.0.11]', 80), /^-r "\[10\.0\.0\.11\]": not an IPv4 or IPv6 address$/);
  usage(
    () => parseRealAddress('RIP', '10.0.0.11', 80, '2001:db8::100'),
    /^RIP "10\.0\.0\.11": an IPv4 real cannot serve the IPv6 service 2001:db8::100 \(direct routing keeps the address family\)$/,
  );
  usage(() => parseRealAddress('RIP', '2001:db8::11', 80, '10.0.0.100'), /^RIP "2001:db8::11": an IPv6 real cannot serve the IPv4 service 10\.0\.0\.100/);
  assert.deepEqual(realArgs('[2001:db8::100]:80', '2001:db8::11', {}), {
    service: { vip: '2001:db8::100', port: 80, protocol: 'tcp' },
    address: '2001:db8::11',
  });
  assert.deepEqual(realArgs('[2001:db8::11]:80', undefined, { tcpService: '[2001:db8::100]:80' }), {
    service: { vip: '2001:db8::100', port: 80, protocol: 'tcp' },
    address: '2001:db8::11',
  });
});

test("trace's --client takes IPv4:PORT or [IPv6]:PORT", () => {
  assert.deepEqual(hostPort('--client', '198.51.100.7:40000'), { addr: '198.51.100.7', port: 40000 });
  assert.deepEqual(hostPort('--client', '[2001:DB8:C::7]:40000'), { addr: '2001:db8:c::7', port: 40000 });
  for (const v of ['2001:db8:c::7:40000', '[2001:db8:c::7]:0', '[2001:db8:c::7]', '[198.51.100.7]:1'])
    usage(() => hostPort('--client', v), /^--client ".*": expected IPv4:PORT or \[IPv6\]:PORT with a port in 1\.\.65535$/);
});

test('xlvs service -M: a prefix length goes to the daemon as a number (an IPv6 service), a dotted mask as text', () => {
  assert.deepEqual(serviceSettings({ persistent: '60', netmask: '64' } as never, false).persistence, { timeout: 60, netmask: 64 });
  assert.deepEqual(serviceSettings({ persistent: true, netmask: '255.255.255.0' } as never, false).persistence, { timeout: 300, netmask: '255.255.255.0' });
});
