// SPDX-License-Identifier: Apache-2.0
// vrrp.test.ts: the VRRP role from notify calls and the VIPs' presence: which wins, fault, several instances, unknown before any signal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirectorState } from '../../src/adapters/director';
import { statusJson } from '../../src/adapters/metrics';
import { type MetricsSource, registry } from '../../src/adapters/promregistry';
import { verdicts } from '../../src/core/abi';
import { combinedNotify, type NotifyRecord, recordNotify, type VrrpInput, vrrpStatus, vrrpSummary } from '../../src/core/vrrp';

const VIP = '10.0.0.100';
const VIP2 = '10.0.0.101';
const n = (state: NotifyRecord['state'], instance = 'VI_1', at = 1): NotifyRecord => ({ instance, state, at });
const input = (o: Partial<VrrpInput>): VrrpInput => ({ notifies: [], vips: [VIP], hostAddresses: new Set(['10.0.0.2']), manageVips: false, ...o });

test('unknown before any signal: no notify call and no VIP held', () => {
  const s = vrrpStatus(input({}));
  assert.equal(s.role, 'unknown');
  assert.equal(s.source, 'none');
  assert.equal(s.notified, null);
  assert.deepEqual(s.vipsMissing, [VIP]);
});

test('the VIP arriving makes the director master before any notify call', () => {
  const s = vrrpStatus(input({ hostAddresses: new Set(['10.0.0.2', VIP]) }));
  assert.equal(s.role, 'master');
  assert.equal(s.source, 'vips');
  assert.equal(s.agree, true);
  assert.deepEqual(s.vipsPresent, [VIP]);
});

test('notify backup without the VIP: backup; notify fault without it: fault', () => {
  assert.equal(vrrpStatus(input({ notifies: [n('backup')] })).role, 'backup');
  const f = vrrpStatus(input({ notifies: [n('fault')] }));
  assert.equal(f.role, 'fault');
  assert.equal(f.source, 'notify');
  assert.equal(f.agree, true);
});

test('the VIP wins when the two disagree: notify backup while the VIP is held is master', () => {
  const s = vrrpStatus(input({ notifies: [n('backup')], hostAddresses: new Set([VIP]) }));
  assert.equal(s.role, 'master');
  assert.equal(s.agree, false);
  assert.match(s.note, /last notified backup/);
});

test('the VIP wins when the two disagree: notify master without the VIP is backup', () => {
  const s = vrrpStatus(input({ notifies: [n('master')] }));
  assert.equal(s.role, 'backup');
  assert.equal(s.source, 'vips');
  assert.equal(s.agree, false);
  assert.match(s.note, /none of 10\.0\.0\.100/);
});

test('notify master with the VIP held agrees', () => {
  const s = vrrpStatus(input({ notifies: [n('master')], hostAddresses: new Set([VIP]) }));
  assert.deepEqual([s.role, s.agree, s.note], ['master', true, '']);
});

test('a partial set of VIPs is master, with the missing ones named', () => {
  const s = vrrpStatus(input({ vips: [VIP, VIP2, VIP], hostAddresses: new Set([VIP2]) }));
  assert.equal(s.role, 'master');
  assert.deepEqual(s.vipsPresent, [VIP2]);
  assert.deepEqual(s.vipsMissing, [VIP]);
  assert.match(s.note, /holds 1 of 2 VIPs \(missing 10\.0\.0\.100\)/);
});

test('with manage_vips only notify calls count: the VIP xlvs added itself says nothing', () => {
  const held = new Set([VIP]);
  assert.equal(vrrpStatus(input({ manageVips: true, hostAddresses: held })).role, 'unknown');
  const s = vrrpStatus(input({ manageVips: true, hostAddresses: held, notifies: [n('backup')] }));
  assert.deepEqual([s.role, s.source, s.vipsPresent.length], ['backup', 'notify', 0]);
});

test('several instances: fault if any is in fault, master only when all are', () => {
  assert.equal(combinedNotify([]), null);
  assert.equal(combinedNotify([n('master', 'A'), n('master', 'B')]), 'master');
  assert.equal(combinedNotify([n('master', 'A'), n('backup', 'B')]), 'backup');
  assert.equal(combinedNotify([n('master', 'A'), n('fault', 'B')]), 'fault');
});

test("a notify call replaces its instance's previous state only", () => {
  let r: NotifyRecord[] = [];
  r = recordNotify(r, n('backup', 'A', 1));
  r = recordNotify(r, n('backup', 'B', 2));
  r = recordNotify(r, n('master', 'A', 3));
  assert.deepEqual(
    r.map((x) => [x.instance, x.state, x.at]),
    [
      ['B', 'backup', 2],
      ['A', 'master', 3],
    ],
  );
  const s = vrrpStatus(input({ notifies: r }));
  assert.deepEqual(
    s.instances.map((x) => x.instance),
    ['A', 'B'],
  );
  assert.equal(s.notified, 'backup');
});

test('the summary line names the role, its source, the VIPs and the instances', () => {
  const s = vrrpStatus(input({ notifies: [n('master')], hostAddresses: new Set([VIP]) }));
  assert.equal(vrrpSummary(s), 'vrrp MASTER, from the VIPs, VIPs held 1/1, notify VI_1=master');
  assert.equal(vrrpSummary(vrrpStatus(input({}))), 'vrrp UNKNOWN, VIPs held 0/1 (no VIP held and no notify call yet)');
});

test('DirectorState: notify calls and the VIPs moving give the role; each change is logged once', () => {
  const held = new Set<string>();
  const events: string[] = [];
  const d = new DirectorState({
    vips: () => [VIP],
    manageVips: () => false,
    event: (msg, f) => events.push(`${msg} ${String(f.role ?? f.state)}`),
    hostAddresses: () => held,
    hostname: () => 'lb-a',
    now: () => 42,
  });
  assert.deepEqual([d.info().host, d.info().vrrp.role], ['lb-a', 'unknown']);
  assert.equal(d.notify('backup', 'VI_1').vrrp.role, 'backup');
  held.add(VIP);
  assert.equal(d.vrrp().role, 'master');
  assert.equal(d.notify('master', 'VI_1').vrrp.agree, true);
  assert.deepEqual(d.vrrp().instances, [{ instance: 'VI_1', state: 'master', at: 42 }]);
  assert.deepEqual(events, [
    'vrrp role unknown',
    'keepalived notify backup',
    'vrrp role changed backup',
    'vrrp role changed master',
    'keepalived notify master',
  ]);
});

test('metrics and /api/status carry the director: host info, role gauges; none without a director', async () => {
  const base: MetricsSource = {
    list: () => [],
    verdicts: () => verdicts.decode(Buffer.alloc(verdicts.size)),
    connTable: () => ({ entries: 0, capacity: 1024, measuredAt: 0 }),
  };
  const vrrp = vrrpStatus(input({ notifies: [n('backup')] }));
  const src: MetricsSource = { ...base, director: () => ({ host: 'lb-b', vrrp }) };
  const text = await registry(src).metrics();
  assert.match(text, /^xlvs_director_info\{host="lb-b"\} 1$/m);
  assert.match(text, /^xlvs_vrrp_master 0$/m);
  assert.match(text, /^xlvs_vrrp_role\{role="backup"\} 1$/m);
  assert.match(text, /^xlvs_vrrp_role\{role="master"\} 0$/m);
  assert.deepEqual(statusJson(src, 1).director, { host: 'lb-b', vrrp });
  const none = await registry(base).metrics();
  assert.doesNotMatch(none, /^xlvs_(director_info|vrrp_role)\S* \d/m);
  assert.equal(statusJson(base, 1).director, undefined);
});
