// SPDX-License-Identifier: Apache-2.0
// listing.test.ts: what `xlvs list` and `xlvsadm -Ln` show of a real: the weight the datapath schedules with, and health in its own column.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listText } from '../../src/cli/commands/list';
import { REAL_F_MAC, REAL_F_SCHED } from '../../src/core/abi';
import { type ServiceConfig, validateConfig } from '../../src/core/config';
import { formatList } from '../../src/core/ipvsadm-format';
import { listServices, RateWindow, type RealHealth } from '../../src/core/listing';
import { healthKey, type ObservedService } from '../../src/core/plan';

const cfg = validateConfig({
  interface: 'eth0',
  services: [
    {
      vip: '10.0.0.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wrr',
      check: { type: 'tcp' },
      reals: [
        { address: '10.0.0.11', weight: 3 },
        { address: '10.0.0.12', weight: 2 },
        { address: '10.0.0.13', weight: 4 },
        { address: '10.0.0.14', weight: 5 },
      ],
    },
  ],
});
const svc = cfg.services[0]!;
const LONG = 'connect to 10.0.0.12:80 failed: ECONNREFUSED (the real sent RST to the SYN of the check; is anything listening on port 80?)';

// As the datapath holds them: .11 up; .12 down (check failed, MAC kept); .13 MAC unknown; .14 ramping up (slow start).
const observed: ObservedService[] = [
  {
    id: 1,
    vip: '10.0.0.100',
    port: 80,
    proto: 6,
    mhSize: 0,
    scheduler: 'wrr',
    reals: [
      { id: 1, address: '10.0.0.11', weight: 3, mac: '02:00:00:00:00:11', flags: REAL_F_MAC | REAL_F_SCHED },
      { id: 2, address: '10.0.0.12', weight: 2, mac: '02:00:00:00:00:12', flags: REAL_F_MAC },
      { id: 3, address: '10.0.0.13', weight: 4, mac: null, flags: 0 },
      { id: 4, address: '10.0.0.14', weight: 2, mac: '02:00:00:00:00:14', flags: REAL_F_MAC | REAL_F_SCHED },
    ],
  },
];

function listing() {
  const down = { state: 'down', detail: LONG, since: 0, check: 'tcp', checks: 3, failures: 3 } as RealHealth;
  return listServices({
    services: cfg.services,
    observed,
    counters: { svc: new Map(), real: new Map() },
    realConns: undefined,
    rates: new RateWindow(),
    down: new Set([healthKey(svc, '10.0.0.12')]),
    health: (k) => (k === healthKey(svc, '10.0.0.12') ? down : undefined),
    effectiveWeight: (_s: ServiceConfig, r) => (r.address === '10.0.0.14' ? 2 : r.weight),
  });
}

test('a real the datapath does not schedule shows weight 0 with the reason, as keepalived shows an inhibited real', () => {
  const reals = listing()[0]!.reals;
  const by = (a: string) => reals.find((r) => r.address === a)!;
  assert.deepEqual([by('10.0.0.11').effectiveWeight, by('10.0.0.11').weightNote], [undefined, undefined]);
  assert.deepEqual([by('10.0.0.12').effectiveWeight, by('10.0.0.12').weightNote], [0, 'down']);
  assert.deepEqual([by('10.0.0.13').effectiveWeight, by('10.0.0.13').weightNote], [0, 'no-mac']);
  assert.deepEqual([by('10.0.0.14').effectiveWeight, by('10.0.0.14').weightNote], [2, 'slow-start']);
  // The configured weight stays what the config says.
  assert.deepEqual(
    reals.map((r) => r.weight),
    [3, 2, 4, 5],
  );
});

test('xlvsadm -Ln shows the weight in force (0 for the down real), -Sn the configured one', () => {
  const out = formatList(listing(), { format: 'plain', exact: false, size: 4096 });
  assert.match(out, /-> 10\.0\.0\.11:80\s+Route\s+3\s/);
  assert.match(out, /-> 10\.0\.0\.12:80\s+Route\s+0\s/);
  assert.match(out, /-> 10\.0\.0\.13:80\s+Route\s+0\s/);
  assert.match(out, /-> 10\.0\.0\.14:80\s+Route\s+2\s/);
});

test('xlvs list gives health its own column, the failure cut short (the whole text stays in --json)', () => {
  const l = listing();
  const out = listText(l, 'plain');
  const lines = out.split('\n');
  assert.match(lines[0]!, /MAC\s+Health\s+Weight/);
  const down = lines.find((x) => x.includes('10.0.0.12:80'))!;
  assert.match(down, /02:00:00:00:00:12\s+down: connect to 10\.0\.0\.12:80…\s+0\/2\s/);
  assert.ok(down.length < 110, `the down real's line is ${down.length} characters: ${down}`);
  assert.match(lines.find((x) => x.includes('10.0.0.13:80'))!, /-\s\(unresolved\)\s+up\s+0\/4/);
  assert.equal(l[0]!.reals[1]!.healthDetail?.detail, LONG);
});
