// SPDX-License-Identifier: Apache-2.0
// announce.test.ts: what a director announces over BGP and why, the route diff, drain progress, config bgp, `xlvs director drain`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BgpStatus } from '../../src/adapters/announce';
import { drainDirector, waitSeconds } from '../../src/cli/commands/director-drain';
import { announceDiff, decideAnnouncements, drainProgress } from '../../src/core/announce';
import { parseConfig } from '../../src/core/config';
import { RuntimeError, UsageError } from '../../src/core/errors';

const A = '10.0.0.100';
const B = '10.0.0.101';

test('a VIP is announced only while attached, not drained, and with a schedulable real', () => {
  const services = [
    { vip: B, schedulable: 2 },
    { vip: A, schedulable: 1 },
  ];
  assert.deepEqual(decideAnnouncements({ attached: true, drained: false, services }), [
    { vip: A, announced: true, reason: 'serving' },
    { vip: B, announced: true, reason: 'serving' },
  ]);
  assert.deepEqual(
    decideAnnouncements({ attached: false, drained: false, services }).map((v) => [v.announced, v.reason]),
    [
      [false, 'detached'],
      [false, 'detached'],
    ],
  );
  // Detached outranks drained: the datapath cannot serve whatever the operator said.
  assert.deepEqual(
    decideAnnouncements({ attached: false, drained: true, services }).map((v) => v.reason),
    ['detached', 'detached'],
  );
  assert.deepEqual(
    decideAnnouncements({ attached: true, drained: true, services }).map((v) => [v.announced, v.reason]),
    [
      [false, 'drained'],
      [false, 'drained'],
    ],
  );
  assert.deepEqual(
    decideAnnouncements({
      attached: true,
      drained: false,
      services: [
        { vip: A, schedulable: 0 },
        { vip: B, schedulable: 1 },
      ],
    }),
    [
      { vip: A, announced: false, reason: 'no schedulable real' },
      { vip: B, announced: true, reason: 'serving' },
    ],
  );
});

test('a VIP with several services stays announced while any of them can serve; no service, no verdict', () => {
  const v = decideAnnouncements({
    attached: true,
    drained: false,
    services: [
      { vip: A, schedulable: 0 },
      { vip: A, schedulable: 3 },
    ],
  });
  assert.deepEqual(v, [{ vip: A, announced: true, reason: 'serving' }]);
  assert.deepEqual(decideAnnouncements({ attached: true, drained: false, services: [] }), []);
  // VIPs sort numerically, not as strings.
  assert.deepEqual(
    decideAnnouncements({
      attached: true,
      drained: false,
      services: [
        { vip: '10.0.0.20', schedulable: 1 },
        { vip: '10.0.0.3', schedulable: 1 },
      ],
    }).map((x) => x.vip),
    ['10.0.0.3', '10.0.0.20'],
  );
});

test('the route diff adds what should be announced and removes the rest, including routes for VIPs no service has', () => {
  const v = decideAnnouncements({
    attached: true,
    drained: false,
    services: [
      { vip: A, schedulable: 1 },
      { vip: B, schedulable: 0 },
    ],
  });
  assert.deepEqual(announceDiff(v, []), { add: [A], remove: [] });
  assert.deepEqual(announceDiff(v, [A]), { add: [], remove: [] });
  assert.deepEqual(announceDiff(v, [A, B, '10.9.9.9']), { add: [], remove: [B, '10.9.9.9'] });
});

test('drain progress counts connections that sent within the quiet window; done at none', () => {
  assert.deepEqual(drainProgress([100, 97, 90], 100, 3), { active: 1, tracked: 3, done: false });
  assert.deepEqual(drainProgress([98, 99], 100, 3), { active: 2, tracked: 2, done: false });
  assert.deepEqual(drainProgress([90, 96], 100, 3), { active: 0, tracked: 2, done: true });
  assert.deepEqual(drainProgress([], 100, 3), { active: 0, tracked: 0, done: true });
});

test('config bgp.table: an integer outside the kernel tables, errors naming the field and value', () => {
  assert.equal(parseConfig('interface: eth0\nbgp: { table: 4242 }\n').bgp?.table, 4242);
  assert.equal(parseConfig('interface: eth0\n').bgp, undefined);
  const bad = (text: string, re: RegExp) =>
    assert.throws(
      () => parseConfig(text),
      (e: unknown) => e instanceof UsageError && re.test(e.details.join('\n')),
    );
  bad('interface: eth0\nbgp: { table: 254 }\n', /^bgp\.table: 254 is one of the kernel's own tables/);
  bad('interface: eth0\nbgp: { table: 0 }\n', /^bgp\.table: 0 is outside 1\.\.4294967295/);
  bad('interface: eth0\nbgp: { table: 1.5 }\n', /^bgp\.table: 1\.5 must be an integer/);
  bad('interface: eth0\nbgp: { table: 7, peer: 1 }\n', /^bgp\.peer: unknown key/);
  bad('interface: eth0\nbgp: {}\n', /^bgp\.table: is required/);
});

function status(drained: boolean, drain?: BgpStatus['drain']): BgpStatus {
  return {
    table: 4242,
    drained,
    drainedSince: drained ? 1 : null,
    vips: [{ vip: A, announced: !drained, reason: drained ? 'drained' : 'serving', since: 0 }],
    drain,
  };
}

function fakeDaemon(polls: BgpStatus[]) {
  let t = 0;
  const calls: string[] = [];
  const out: string[] = [];
  return {
    calls,
    out,
    fx: {
      call: async <T>(method: 'GET' | 'POST', route: string): Promise<T> => {
        calls.push(`${method} ${route}`);
        if (method === 'POST') return status(true) as T;
        return (polls.length > 1 ? polls.shift() : polls[0]) as T;
      },
      sleep: async (ms: number) => {
        t += ms;
      },
      now: () => t,
      out: (l: string) => out.push(l),
    },
  };
}

test('director drain: withdraw first, then one line a second until no connection is active', async () => {
  const d = fakeDaemon([
    status(true, { active: 5, tracked: 12, done: false, quietS: 3 }),
    status(true, { active: 1, tracked: 12, done: false, quietS: 3 }),
    status(true, { active: 0, tracked: 12, done: true, quietS: 3 }),
  ]);
  await drainDirector(10, d.fx);
  assert.deepEqual(d.calls, ['POST /v1/director/drain', 'GET /v1/director/bgp', 'GET /v1/director/bgp', 'GET /v1/director/bgp']);
  assert.match(d.out[0]!, /every VIP withdrawn from BGP \(table 4242\)/);
  assert.match(d.out[1]!, /10\.0\.0\.100 {2}withdrawn \(drained\)/);
  assert.deepEqual(d.out.slice(2, 5), ['  +0.0s  5 active  12 tracked', '  +1.0s  1 active  12 tracked', '  +2.0s  0 active  12 tracked']);
  assert.match(d.out[5]!, /drain complete after 2\.0 s/);
});

test('director drain: without --wait nothing is polled; past the wait it fails; an undrain meanwhile fails', async () => {
  const d = fakeDaemon([]);
  await drainDirector(null, d.fx);
  assert.deepEqual(d.calls, ['POST /v1/director/drain']);
  const slow = fakeDaemon([status(true, { active: 2, tracked: 2, done: false, quietS: 3 })]);
  await assert.rejects(drainDirector(3, slow.fx), (e: unknown) => e instanceof RuntimeError && /2 connection\(s\) still sending after 3 s/.test(e.message));
  const undone = fakeDaemon([status(false)]);
  await assert.rejects(drainDirector(3, undone.fx), /undrained by another command/);
  assert.equal(waitSeconds(undefined), null);
  assert.equal(waitSeconds(true), 300);
  assert.equal(waitSeconds('20'), 20);
  assert.throws(() => waitSeconds('0'), /--wait "0": must be an integer in 1\.\.604800/);
  assert.throws(() => waitSeconds('x'), UsageError);
});
