// SPDX-License-Identifier: Apache-2.0
// configdiff.test.ts: the dry run's semantic diff: schedulers, reals, weights, timeouts, persistence, flags, thresholds and checks, per service.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/core/config';
import { configDiff, diffText } from '../../src/core/configdiff';

const base = {
  interface: 'eth0',
  services: [
    {
      vip: '10.0.0.100',
      port: 80,
      scheduler: 'wrr',
      reals: [
        { address: '10.0.0.11', weight: 1 },
        { address: '10.0.0.12', weight: 1 },
      ],
    },
    { vip: '10.0.0.101', port: 53, protocol: 'udp', reals: [{ address: '10.0.0.11' }] },
  ],
};

test('an identical config: no change', () => {
  const d = configDiff(validateConfig(base), validateConfig(structuredClone(base)));
  assert.deepEqual(d, { global: [], services: [] });
  assert.deepEqual(diffText(d), ['no change to the config']);
});

test('scheduler wrr -> mh, reals added and removed, weights, thresholds, persistence, slow start and check, per service', () => {
  const next = structuredClone(base) as any;
  const s = next.services[0];
  s.scheduler = 'mh';
  s.persistence = { timeout: 600 };
  s.slow_start_s = 30;
  s.check = { type: 'http', path: '/health' };
  s.reals = [
    { address: '10.0.0.12', weight: 3, upper_threshold: 100 },
    { address: '10.0.0.13', weight: 2 },
  ];
  next.timeouts = { tcp: 600, tcp_fin: 120, udp: 300 };
  const d = configDiff(validateConfig(base), validateConfig(next));
  assert.deepEqual(d.global, [{ field: 'timeouts.tcp', from: 900, to: 600 }]);
  assert.equal(d.services.length, 1, 'the udp service did not change');
  const sd = d.services[0]!;
  assert.equal(sd.service, '10.0.0.100:80/tcp');
  assert.equal(sd.status, 'changed');
  assert.deepEqual(sd.changes, [
    { field: 'scheduler', from: 'wrr', to: 'mh' },
    // mh's default flag (per-connection spreading) is now in force.
    { field: 'sched_flags', from: [], to: ['mh-port'] },
    { field: 'persistence', from: null, to: { timeout: 600, netmask: '255.255.255.255' } },
    { field: 'slow_start_s', from: null, to: 30 },
    { field: 'check', from: null, to: { type: 'http', path: '/health' } },
    { field: 'reals[10.0.0.13]', from: null, to: { weight: 2 } },
    { field: 'reals[10.0.0.11]', from: { weight: 1 }, to: null },
    { field: 'reals[10.0.0.12].weight', from: 1, to: 3 },
    { field: 'reals[10.0.0.12].upper_threshold', from: null, to: 100 },
  ]);
  assert.deepEqual(diffText(d), [
    'timeouts.tcp: 900 -> 600',
    'service 10.0.0.100:80/tcp: changed',
    '  scheduler: wrr -> mh',
    '  sched_flags: [] -> mh-port',
    '  persistence: none -> {timeout:600,netmask:255.255.255.255}',
    '  slow_start_s: none -> 30',
    '  check: none -> {type:http,path:/health}',
    '  real 10.0.0.13 added (weight 2)',
    '  real 10.0.0.11 removed (was weight 1)',
    '  real 10.0.0.12 weight: 1 -> 3',
    '  real 10.0.0.12 upper_threshold: none -> 100',
  ]);
});

test('services added and removed', () => {
  const next = structuredClone(base) as any;
  next.services = [next.services[0], { vip: '10.0.0.102', port: 443, reals: [{ address: '10.0.0.14', weight: 5 }] }];
  const d = configDiff(validateConfig(base), validateConfig(next));
  assert.deepEqual(
    d.services.map((s) => [s.service, s.status]),
    [
      ['10.0.0.102:443/tcp', 'added'],
      ['10.0.0.101:53/udp', 'removed'],
    ],
  );
  const added = d.services[0]!.changes;
  assert.deepEqual(added[0], { field: 'scheduler', from: null, to: 'mh' });
  assert.ok(added.some((c) => c.field === 'reals[10.0.0.14]' && (c.to as { weight: number }).weight === 5));
  assert.ok(diffText(d).includes('service 10.0.0.101:53/udp: removed'));
});
