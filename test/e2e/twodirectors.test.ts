// SPDX-License-Identifier: Apache-2.0
// twodirectors.test.ts: two directors with the same config on a flooding switch (a VRRP master and its backup): neither forwards the other's frames.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { StatusJson } from '../../src/cli/commands/status';
import { ADDR } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const REQUESTS = 30;

describe('two directors on one flooding segment (namespace lab)', { timeout: 300_000 }, () => {
  let stopBackup: (() => void) | undefined;
  const L = useLab({ reals: 2, handleSignals: true }, async (l) => {
    const services = [{ port: 80, protocol: 'tcp' as const, scheduler: 'mh', weights: [1, 1] }];
    await l.startDirector(l.writeDirectorConfig(services), 30_000);
    // The backup: the same services on its own NIC, without the VIP (keepalived moves it to the master).
    await l.addSecondDirector();
    const backupConfig = path.join(l.workDir, 'backup.yaml');
    fs.writeFileSync(backupConfig, `${l.directorConfig(services, 'lan0')}manage_vips: false\n`);
    stopBackup = (await l.startSecondDirector(backupConfig)).stop;
  });

  const status = async (role: 'dir' | 'dir2', iface: string): Promise<StatusJson> => {
    const l = L();
    return l.statusJson(role, iface);
  };

  test(`with the switch flooding every frame to every port, ${REQUESTS} requests all succeed and only the master forwards`, async () => {
    const l = L();
    await l.setSwitchFlooding(true);
    try {
      const m0 = await status('dir', 'eth0'),
        b0 = await status('dir2', 'lan0');
      const r = await l.runClient('tcp', { port: 80, count: REQUESTS, concurrency: 5, timeoutMs: 5000 });
      const m1 = await status('dir', 'eth0'),
        b1 = await status('dir2', 'lan0');
      const d = (a: StatusJson, b: StatusJson, k: keyof StatusJson['verdicts']) => b.verdicts[k] - a.verdicts[k];
      assert.equal(r.failures, 0, `failed requests: ${JSON.stringify(r.errors)}`);
      assert.equal(r.ok, REQUESTS);
      // The backup saw the client's frames (for the master's MAC) and the master's output (for the reals'): all passed.
      assert.ok(d(b0, b1, 'pass_not_for_us') >= REQUESTS * 3, `backup passed ${d(b0, b1, 'pass_not_for_us')} frames not for it`);
      assert.equal(d(b0, b1, 'tx_new') + d(b0, b1, 'tx_existing') + d(b0, b1, 'tx_stateless'), 0, 'the backup forwarded nothing');
      assert.equal(d(m0, m1, 'tx_new'), REQUESTS, 'the master scheduled each connection once');
      // Before the fix each forwarded frame came back flooded and was forwarded again, by both directors, without end.
      const masterTx = d(m0, m1, 'tx_new') + d(m0, m1, 'tx_existing') + d(m0, m1, 'tx_stateless');
      assert.ok(masterTx < REQUESTS * 20, `the master forwarded ${masterTx} frames for ${REQUESTS} short connections`);
      assert.ok(d(m0, m1, 'pass_not_for_us') > 0, 'the master saw flooded frames for other hosts and passed them');
    } finally {
      await l.setSwitchFlooding(false);
    }
  });

  test("the VIP is the master's alone: only it answers ARP", async () => {
    const l = L();
    const { replies } = await l.arping('router', 'eth0', ADDR.vip, 3);
    assert.deepEqual([...new Set(replies)], [l.macs.dir]);
    stopBackup?.();
  });
});
