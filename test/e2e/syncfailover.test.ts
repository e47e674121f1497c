// SPDX-License-Identifier: Apache-2.0
// syncfailover.test.ts: a wrr service fails over from a dead master to its keepalived backup under load, with IPVS connection sync on and off.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { StatusJson } from '../../src/cli/commands/status';
import type { DrLab } from '../../src/lab/drnet';
import { sleep } from '../../src/lab/run';
import { brokenStreams, type DirectorRole, type Running, takeover } from '../../src/lab/vrrp';
import { useLab } from '../lib/labfixture';

const ADVERT_INT = 1;
const WINDOW_MAX_MS = 3 * ADVERT_INT * 1000 + 1000;
const STREAMS = 12;
const RATE = 50;
const NIC: Record<DirectorRole, string> = { dir: 'eth0', dir2: 'lan0' };
// wrr is a scheduler a peer cannot recompute: the backup's position in its cycle is its own.
const services = [{ port: 80, protocol: 'tcp' as const, scheduler: 'wrr', weights: [1, 1, 1] }];

for (const withSync of [true, false]) {
  describe(`wrr failover with connection sync ${withSync ? 'on' : 'off'} (namespace lab, keepalived)`, { timeout: 300_000 }, () => {
    const keepalived: Partial<Record<DirectorRole, Running>> = {};
    const L = useLab({ reals: 3, handleSignals: true }, async (l: DrLab) => {
      await l.addSecondDirector();
      const cfg: Partial<Record<DirectorRole, string>> = {};
      for (const role of ['dir', 'dir2'] as const) {
        cfg[role] = path.join(l.workDir, `${role}.yaml`);
        const sync = !withSync
          ? ''
          : role === 'dir'
            ? `sync:\n  master:\n    mcast_interface: ${NIC[role]}\n`
            : `sync:\n  backup:\n    mcast_interface: ${NIC[role]}\n`;
        fs.writeFileSync(cfg[role]!, `${l.directorConfig(services, NIC[role])}manage_vips: false\n${sync}`);
      }
      await l.startDaemon(cfg.dir!, [], 30_000, { wrap: l.hostWrap('dir') });
      await l.startSecondDaemon(cfg.dir2!);
      const ka = (role: DirectorRole) =>
        l.startKeepalived(role, {
          advertInt: ADVERT_INT,
          priority: role === 'dir' ? 150 : 100,
          preempt: false,
          socket: role === 'dir' ? l.daemonSocket() : l.daemonSocketOf('dir2'),
        });
      const vip = l.watchVip('dir');
      keepalived.dir = await ka('dir');
      await vip.arrived;
      keepalived.dir2 = await ka('dir2');
    });

    const status = async (role: DirectorRole): Promise<StatusJson> => {
      const l = L();
      const sock = role === 'dir' ? l.daemonSocket() : l.daemonSocketOf(role);
      return l.statusJson(role, NIC[role], sock);
    };

    test(`the master dies under load (short requests + ${STREAMS} streams): ${withSync ? 'no stream moves' : 'streams break'}`, async () => {
      const l = L();
      const load = l.startLoad({ port: 80, rate: RATE, timeoutMs: 1000, streams: STREAMS });
      await sleep(3000);
      const before = await status('dir2');
      const vip = l.watchVip('dir2');
      const killAt = Date.now();
      await Promise.all([keepalived.dir!.kill(), l.killDirector(), l.setDirectorLink('dir', false)]);
      const killDone = Date.now();
      await vip.arrived;
      await sleep(5000);
      const r = await load.stop();
      const after = await status('dir2');
      const t = takeover(r, killAt, killDone);
      const broken = brokenStreams(r);
      const figures = {
        sync: withSync,
        short: r.short.length,
        shortFailed: r.short.filter((x) => x[2] === null).length,
        failedAfterTakeover: t.failedAfterTakeover,
        windowMs: t.windowMs,
        streamsBroken: broken,
        backupSync: after.sync?.backup
          ? { inserted: after.sync.backup.inserted, updated: after.sync.backup.updated, refused: after.sync.backup.refused, lagMs: after.sync.backup.lagMs }
          : null,
        backupSyncBefore: before.sync?.backup ? { inserted: before.sync.backup.inserted } : null,
      };
      console.log(`sync failover: ${JSON.stringify(figures)}`);
      assert.ok(t.windowMs <= WINDOW_MAX_MS, `takeover window ${t.windowMs} ms`);
      assert.equal(t.failedAfterTakeover, 0, 'every failed short request started inside the takeover window');
      if (withSync) {
        assert.ok(
          (before.sync?.backup?.inserted ?? 0) >= STREAMS,
          `the backup had the streams' connections before the failover: ${JSON.stringify(before.sync)}`,
        );
        assert.equal(broken, 0, `streams moved or broken: ${JSON.stringify(r.streams.filter((s) => s.failures || s.localPorts.length !== 1))}`);
      } else {
        // Without sync the backup schedules each stream's next packet afresh: most land on another real, which resets them.
        assert.equal(before.sync, undefined);
        assert.ok(broken > 0, 'without sync a wrr failover breaks streams (the backup cannot recompute wrr)');
      }
    });
  });
}
