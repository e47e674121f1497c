// SPDX-License-Identifier: Apache-2.0
// status.test.ts: `xlvs status --json` as built from a pinned snapshot: each service shows the scheduler the datapath runs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot } from '../../src/adapters/pinned';
import { toJson } from '../../src/cli/commands/status';
import * as abi from '../../src/core/abi';

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
