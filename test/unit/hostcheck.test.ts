// SPDX-License-Identifier: Apache-2.0
// hostcheck.test.ts: the metrics listener's Host-header check (DNS rebinding) and the rule that a VIP is none of the director's own addresses, with host addresses injected.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { serveMetrics } from '../../src/adapters/metrics';
import type { MetricsSource } from '../../src/adapters/promregistry';
import { verdicts } from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { hostAllowed, hostName } from '../../src/core/httphost';
import { type HostAddress, vipAddressProblems } from '../../src/core/ownaddr';

test('host header: the listen address, loopback names and the listed names, with or without a port; nothing else', () => {
  const listen = '10.0.0.2:9258';
  for (const h of [
    '10.0.0.2',
    '10.0.0.2:9258',
    '10.0.0.2:8080',
    'localhost',
    'LOCALHOST:9258',
    'localhost.',
    '127.0.0.1',
    '127.0.0.1:1',
    '[::1]:9258',
    'director.example',
    'Director.Example:9258',
  ]) {
    assert.equal(hostAllowed(h, listen, ['director.example']), true, h);
  }
  for (const h of [
    undefined,
    '',
    'evil.example',
    'evil.example:9258',
    '10.0.0.3',
    '10.0.0.2.evil.example',
    'localhost.evil.example',
    '10.0.0.2:0',
    '10.0.0.2:99999',
    '10.0.0.2:x',
    'a b',
    '[::2]',
  ]) {
    assert.equal(hostAllowed(h, listen, ['director.example']), false, String(h));
  }
  // Nothing listed: only the listen address and loopback.
  assert.equal(hostAllowed('director.example', listen, []), false);
  // A wildcard listener is reached at any of the host's addresses; a literal is never a rebound name.
  assert.equal(hostAllowed('192.0.2.7:9258', '0.0.0.0:9258', []), true);
  assert.equal(hostAllowed('evil.example', '0.0.0.0:9258', []), false);
  assert.equal(hostAllowed('0.0.0.0', '127.0.0.1:9258', []), false);
  assert.equal(hostName('[::1]:80'), '[::1]');
  assert.equal(hostName('Example.COM.:443'), 'example.com');
});

test('config: metrics.allowed_hosts defaults to none, takes host names and names the field when one is not', () => {
  assert.deepEqual(parseConfig('interface: eth0\n').metrics, { listen: '127.0.0.1:9258', allowed_hosts: [] });
  assert.deepEqual(parseConfig('interface: eth0\nmetrics: { listen: "0.0.0.0:9258" }\n').metrics.allowed_hosts, []);
  assert.deepEqual(parseConfig('interface: eth0\nmetrics: { allowed_hosts: [lb1.example.net, lb1, 192.0.2.2] }\n').metrics.allowed_hosts, [
    'lb1.example.net',
    'lb1',
    '192.0.2.2',
  ]);
  for (const bad of ['lb1.example.net:9258', 'http://lb1', 'a b', '', '-lb1', '*.example']) {
    assert.throws(
      () => parseConfig(`interface: eth0\nmetrics: { allowed_hosts: ["${bad}"] }\n`),
      (e: unknown) => e instanceof UsageError && e.details.some((d) => d.startsWith('metrics.allowed_hosts[0]: ') && d.includes('is not a host name')),
      bad,
    );
  }
});

const emptySource: MetricsSource = {
  list: () => [],
  verdicts: () => verdicts.decode(Buffer.alloc(verdicts.size)),
  connTable: () => ({ entries: 0, capacity: 1024, measuredAt: 0 }),
};

function get(port: number, path: string, host: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = host === undefined ? {} : { host };
    const req = http.request({ host: '127.0.0.1', port, path, headers, setHost: host !== undefined }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('metrics listener: answers the listen address, loopback and listed names; 421 for any other Host on every path', async () => {
  const server = await serveMetrics('127.0.0.1:0', emptySource, () => undefined, ['lb1.example.net']);
  try {
    const port = (server.address() as AddressInfo).port;
    for (const host of [`127.0.0.1:${port}`, 'localhost', `lb1.example.net:${port}`]) {
      const r = await get(port, '/api/status', host);
      assert.equal(r.status, 200, host);
    }
    for (const path of ['/', '/metrics', '/api/status', '/nope']) {
      const r = await get(port, path, `rebound.attacker.example:${port}`);
      assert.equal(r.status, 421, path);
      assert.match(r.body, /"rebound\.attacker\.example:\d+" is not served here \(list it in metrics\.allowed_hosts\)/);
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('VIP rule: a VIP equal to a primary address below /32 on any interface is refused, naming the field and the address', () => {
  const host: HostAddress[] = [
    { ifname: 'lo', local: '127.0.0.1', prefixlen: 8 },
    { ifname: 'eth0', local: '10.0.0.2', prefixlen: 24 },
    // xlvs itself added this VIP (manage_vips adds /32) on an earlier run: a restart or reload must keep it.
    { ifname: 'eth0', local: '10.0.0.100', prefixlen: 32 },
    // keepalived-style: a VIP with the subnet's prefix is a secondary address of eth0.
    { ifname: 'eth0', local: '10.0.0.101', prefixlen: 24, secondary: true },
    { ifname: 'mgmt0', local: '192.0.2.2', prefixlen: 24 },
  ];
  const cfg = parseConfig(
    [
      'interface: eth0',
      'services:',
      '  - { vip: 10.0.0.100, port: 80 }',
      '  - { vip: 10.0.0.2, port: 80 }',
      '  - { vip: 10.0.0.101, port: 80 }',
      '  - { vip: 192.0.2.2, port: 443 }',
      '  - { vip: 10.0.0.102, port: 80 }',
      '',
    ].join('\n'),
  );
  assert.deepEqual(vipAddressProblems(cfg, host), [
    "services[1].vip: 10.0.0.2 is this director's own address (10.0.0.2/24 on eth0); the datapath would forward the director's own traffic to the reals: use an address of its own for the VIP",
    "services[3].vip: 192.0.2.2 is this director's own address (192.0.2.2/24 on mgmt0); the datapath would forward the director's own traffic to the reals: use an address of its own for the VIP",
  ]);
  assert.deepEqual(vipAddressProblems(cfg, []), []);
});
