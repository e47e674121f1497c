// SPDX-License-Identifier: Apache-2.0
// status.test.ts: `xlvs status` as built from a pinned snapshot: the director line first, each service with the scheduler the datapath runs.

import assert from 'node:assert/strict';
import * as os from 'node:os';
import { test } from 'node:test';
import type { Snapshot } from '../../src/adapters/pinned';
import { toJson, toText } from '../../src/cli/commands/status';
import * as abi from '../../src/core/abi';
import { vrrpStatus } from '../../src/core/vrrp';

const counters: abi.Counters = { packets: 0n, bytes: 0n, conns: 0n, drops: 0n };

function service(port: number, proto: number, scheduler: string): Snapshot['services'][number] {
  return {
    id: port,
    vip: '10.0.0.100',
    port,
    proto,
    scheduler,
    flags: 0,
    persistTimeout: 0,
    persistMask: '255.255.255.255',
    tblSize: 3,
    stats: counters,
    reals: [],
  };
}

test("status --json names each service's scheduler as the datapath holds it (a wrr UDP service is wrr, not mh)", () => {
  const snap: Snapshot = {
    services: [service(80, abi.IPPROTO_TCP, 'mh'), service(53, 17, 'wrr'), service(443, abi.IPPROTO_TCP, 'lc')],
    verdicts: abi.verdicts.decode(Buffer.alloc(abi.verdicts.size)),
  };
  const j = toJson('eth0', null, snap);
  assert.deepEqual(
    j.services.map((s) => [s.protocol, s.port, s.scheduler]),
    [
      ['tcp', 80, 'mh'],
      ['udp', 53, 'wrr'],
      ['tcp', 443, 'lc'],
    ],
  );
});

test('status names the director first: its host, and its VRRP role once a daemon has said it', () => {
  const snap: Snapshot = { services: [], verdicts: abi.verdicts.decode(Buffer.alloc(abi.verdicts.size)) };
  const j = toJson('eth0', null, snap);
  assert.deepEqual(j.director, { host: os.hostname(), vrrp: null });
  assert.equal(toText(j).split('\n')[0], `director ${os.hostname()}: vrrp role unknown (no daemon answered)`);
  j.director = {
    host: 'lb-a',
    vrrp: vrrpStatus({
      notifies: [{ instance: 'VI_1', state: 'master', at: 1 }],
      vips: ['10.0.0.100'],
      hostAddresses: new Set(['10.0.0.100']),
      manageVips: false,
    }),
  };
  assert.equal(toText(j).split('\n')[0], 'director lb-a: vrrp MASTER, from the VIPs, VIPs held 1/1, notify VI_1=master');
});

test('status text: a daemon without a bgp section (its API answers {}) gives no BGP line and no crash; a refused reload is said', () => {
  const snap: Snapshot = { services: [], verdicts: abi.verdicts.decode(Buffer.alloc(abi.verdicts.size)) };
  const j = toJson('eth0', null, snap);
  j.director.bgp = {} as NonNullable<typeof j.director.bgp>;
  assert.doesNotMatch(toText(j), /^bgp/m);
  j.reload = { successful: false, at: 0, lastSuccessAt: 0, error: 'services[0].port: 0 ...' };
  assert.match(toText(j), /^config: LAST RELOAD FAILED at 1970-01-01T00:00:00\.000Z: services\[0\]\.port: 0 \.\.\./m);
});
