// SPDX-License-Identifier: Apache-2.0
// neighbours.test.ts: a real server's MAC changes (new NIC, VM migration) and announces itself: the datapath follows within about a second and no client request fails afterwards.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import { realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('neighbours: a changed real MAC (namespace lab)', { timeout: 300_000 }, () => {
  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    await l.startDaemon(l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }]));
  });
  const macOf = async (address: string): Promise<string | null> =>
    (await call<any[]>(L().daemonSocket(), 'GET', '/v1/services'))[0].reals.find((r: any) => r.address === address).mac as string | null;

  test('rs2 gets a new MAC and sends a gratuitous ARP: the datapath has it within 1.5 s, traffic follows', async () => {
    const l = L();
    const rs2 = realAddress(2);
    const old = (await l.macOf('rs2', 'eth0')).toLowerCase();
    for (let i = 0; i < 100 && (await macOf(rs2)) !== old; i++) await sleep(100);
    assert.equal(await macOf(rs2), old);
    const fresh = '02:5a:00:00:00:22';
    await l.exec('rs2', ['ip', 'link', 'set', 'dev', 'eth0', 'address', fresh]);
    const t0 = Date.now();
    // What a host does when its MAC changes (and keepalived/VRRP do on failover): announce it.
    await l.exec('rs2', ['arping', '-U', '-c', '1', '-I', 'eth0', rs2], { allowFail: true });
    let took = -1;
    while (Date.now() - t0 < 5000) {
      if ((await macOf(rs2)) === fresh) {
        took = Date.now() - t0;
        break;
      }
      await sleep(50);
    }
    assert.ok(took >= 0, 'the datapath never got the new MAC');
    // The 1 s neighbour refresh plus the polling of this test.
    assert.ok(took <= 1500, `new MAC reached the datapath after ${took} ms`);
    const r = await l.runClient('tcp', { port: 80, count: 300, concurrency: 10, timeoutMs: 3000 });
    assert.equal(r.failures, 0, JSON.stringify(r.errors));
    assert.ok((r.counts.rs2 ?? 0) > 0, `rs2 still gets its share at its new MAC: ${JSON.stringify(r.counts)}`);
  });
});
