// SPDX-License-Identifier: Apache-2.0
// slowstart.test.ts: slow-start ramps: who ramps (added to a running service, recovered), the weights on the way, the end of a ramp.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../src/core/config';
import type { ObservedService } from '../../src/core/plan';
import { healthKey } from '../../src/core/plan';
import { SlowStart } from '../../src/core/slowstart';

const cfg = validateConfig({
  interface: 'eth0',
  services: [
    {
      vip: '10.0.0.100',
      port: 80,
      scheduler: 'wrr',
      slow_start_s: 10,
      reals: [
        { address: '10.0.0.11', weight: 100 },
        { address: '10.0.0.12', weight: 100 },
        { address: '10.0.0.13', weight: 0 },
      ],
    },
    { vip: '10.0.0.101', port: 80, scheduler: 'wrr', reals: [{ address: '10.0.0.21', weight: 100 }] },
  ],
});
const [ramping, plain] = cfg.services as [(typeof cfg.services)[0], (typeof cfg.services)[0]];

/** What the datapath holds before the edit: the service with only its first real. */
const observed = (key: string): ObservedService | undefined =>
  key.includes('10.0.0.100')
    ? ({ id: 1, vip: '10.0.0.100', port: 80, proto: 6, mhSize: 0, reals: [{ address: '10.0.0.11' }] } as unknown as ObservedService)
    : undefined;

const weights = (ss: SlowStart) =>
  ss.ramped(cfg.services).flatMap((s) =>
    s.reals.map((r) => {
      // The configured weight rides along while ramping, so the Maglev base stays on the configured pool.
      const cw = (r as { configWeight?: number }).configWeight;
      return `${r.address}=${r.weight}${cw === undefined ? '' : `/${cw}`}`;
    }),
  );

test('a real added to a running slow-start service ramps linearly from 1 to its weight, then is forgotten', () => {
  let now = 1_000_000;
  const ss = new SlowStart(() => now);
  assert.equal(ss.active, false);
  assert.strictEqual(ss.ramped(cfg.services), cfg.services, 'nothing ramping: the services as they are');
  ss.noteNewReals(cfg.services, observed);
  // 10.0.0.12 and .13 are new; .13 has weight 0 (quiesced), which ends its ramp at once.
  assert.equal(ss.active, true);
  assert.deepEqual(weights(ss), ['10.0.0.11=100', '10.0.0.12=1/100', '10.0.0.13=0', '10.0.0.21=100']);
  now += 2_500;
  assert.deepEqual(weights(ss), ['10.0.0.11=100', '10.0.0.12=25/100', '10.0.0.13=0', '10.0.0.21=100']);
  assert.equal(ss.effectiveWeight(ramping, ramping.reals[1]!), 25);
  assert.equal(ss.effectiveWeight(ramping, ramping.reals[0]!), 100);
  now += 7_499;
  assert.deepEqual(weights(ss), ['10.0.0.11=100', '10.0.0.12=99/100', '10.0.0.13=0', '10.0.0.21=100']);
  now += 1;
  assert.deepEqual(weights(ss), ['10.0.0.11=100', '10.0.0.12=100', '10.0.0.13=0', '10.0.0.21=100']);
  assert.equal(ss.active, false, 'a finished ramp is forgotten: periodic syncs stop re-planning');
});

test('a recovered real ramps again, only in a service with slow start', () => {
  let now = 0;
  const ss = new SlowStart(() => now);
  ss.start(healthKey(plain, '10.0.0.21'), cfg.services);
  assert.equal(ss.active, false, 'no slow start on that service');
  ss.start(healthKey(ramping, '10.0.0.11'), cfg.services);
  assert.equal(ss.active, true);
  now = 5_000;
  assert.equal(ss.effectiveWeight(ramping, ramping.reals[0]!), 50);
  assert.deepEqual(weights(ss).slice(0, 1), ['10.0.0.11=50/100']);
  assert.equal(ss.effectiveWeight(plain, plain.reals[0]!), 100);
});

test('a fresh director (nothing observed yet) starts every real at full weight', () => {
  const ss = new SlowStart(() => 0);
  ss.noteNewReals(cfg.services, () => undefined);
  assert.equal(ss.active, false);
});
