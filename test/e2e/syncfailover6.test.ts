// SPDX-License-Identifier: Apache-2.0
// syncfailover6.test.ts: wrr on VIP:80 and [VIP6]:80 fails over from a dead master to its keepalived backup under load, connection sync on and off.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import type { StatusJson } from '../../src/cli/commands/status';
import type { ConnectionListing } from '../../src/core/listing';
import { ADDR, type DrLab } from '../../src/lab/drnet';
import type { LoadResult } from '../../src/lab/loadclient';
import { sleep } from '../../src/lab/run';
import { brokenStreams, type DirectorRole, type Running, takeover } from '../../src/lab/vrrp';
import { useLab } from '../lib/labfixture';

const ADVERT_INT = 1;
const WINDOW_MAX_MS = 3 * ADVERT_INT * 1000 + 1000;
const STREAMS = 12;
const RATE = 40;
const NIC: Record<DirectorRole, string> = { dir: 'eth0', dir2: 'lan0' };
// wrr is a scheduler a peer cannot recompute: the backup's position in its cycle is its own. Each family its own
// service, as IPVS has them (a service and its reals share one family).
const services = [
  { port: 80, protocol: 'tcp' as const, scheduler: 'wrr', weights: [1, 1, 1] },
  { vip: ADDR.vip6, port: 80, protocol: 'tcp' as const, scheduler: 'wrr', weights: [1, 1, 1] },
];
const FAMILIES = [
  { name: 'IPv4', vip: ADDR.vip, client: ADDR.client },
  { name: 'IPv6', vip: ADDR.vip6, client: ADDR.client6 },
] as const;

/** The streams whose one connection the backup held before the failover (client address and port, VIP). */
function streamsKnown(load: LoadResult, conns: ConnectionListing[], client: string, vip: string): number {
  const held = new Set(conns.filter((c) => c.client === client && c.vip === vip && c.vport === 80).map((c) => c.cport));
  return load.streams.filter((s) => s.localPorts.length === 1 && held.has(s.localPorts[0]!)).length;
}

for (const withSync of [true, false]) {
  describe(`dual-stack wrr failover with connection sync ${withSync ? 'on' : 'off'} (namespace lab, keepalived)`, { timeout: 300_000 }, () => {
    const keepalived: Partial<Record<DirectorRole, Running>> = {};
    const L = useLab({ reals: 3, ipv6: true, handleSignals: true }, async (l: DrLab) => {
      await l.addSecondDirector();
      const cfg: Partial<Record<DirectorRole, string>> = {};
      for (const role of ['dir', 'dir2'] as const) {
        cfg[role] = path.join(l.workDir, `${role}.yaml`);
        const sync = !withSync ? '' : `sync:\n  ${role === 'dir' ? 'master' : 'backup'}:\n    mcast_interface: ${NIC[role]}\n`;
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
      const vips = FAMILIES.map((f) => l.watchVip('dir', 30_000, f.vip).arrived);
      keepalived.dir = await ka('dir');
      await Promise.all(vips);
      keepalived.dir2 = await ka('dir2');
    });

    const status = async (role: DirectorRole): Promise<StatusJson> => {
      const l = L();
      const sock = role === 'dir' ? l.daemonSocket() : l.daemonSocketOf(role);
      return l.statusJson(role, NIC[role], sock);
    };

    const outcome = withSync ? 'no stream moves' : 'streams break';
    test(`the master dies under load over both families (short requests + ${STREAMS} streams each): ${outcome}`, async () => {
      const l = L();
      const loads = FAMILIES.map((f) => l.startLoad({ host: f.vip, port: 80, rate: RATE, timeoutMs: 1000, streams: STREAMS }));
      await sleep(3000);
      const before = await status('dir2');
      const backupConns = await call<ConnectionListing[]>(l.daemonSocketOf('dir2'), 'GET', '/v1/conns');
      const arrivals = FAMILIES.map((f) => l.watchVip('dir2', 30_000, f.vip).arrived);
      const killAt = Date.now();
      await Promise.all([keepalived.dir!.kill(), l.killDirector(), l.setDirectorLink('dir', false)]);
      const killDone = Date.now();
      const arrived = await Promise.all(arrivals);
      await sleep(5000);
      const results = await Promise.all(loads.map((x) => x.stop()));
      const after = await status('dir2');
      // The router followed both moves: gratuitous ARP for the VIP, an unsolicited neighbour advertisement for the VIP6.
      const routerMacs = await Promise.all(FAMILIES.map((f) => l.neighbourMac('router', f.vip, 'eth0')));

      const perFamily = FAMILIES.map((f, i) => {
        const r = results[i]!;
        const t = takeover(r, killAt, killDone);
        return {
          family: f.name,
          vipArrivedMs: arrived[i]! - killAt,
          routerMac: routerMacs[i] === l.macs.dir2 ? 'dir2' : routerMacs[i],
          short: r.short.length,
          shortFailed: r.short.filter((x) => x[2] === null).length,
          failedAfterTakeover: t.failedAfterTakeover,
          windowMs: t.windowMs,
          streamsBroken: brokenStreams(r),
          streamsKnownToBackup: streamsKnown(r, backupConns, f.client, f.vip),
          backupConns: backupConns.filter((c) => c.vip === f.vip).length,
        };
      });
      const backupSync = after.sync?.backup
        ? { inserted: after.sync.backup.inserted, updated: after.sync.backup.updated, refused: after.sync.backup.refused, lagMs: after.sync.backup.lagMs }
        : null;
      console.log(`sync failover (dual stack): ${JSON.stringify({ sync: withSync, perFamily, backupSync })}`);
      // The new master announced the VIP6 itself (the router did not merely re-resolve it after its entry went stale).
      const announced = keepalived.dir2!.output().includes(`Sending unsolicited Neighbour Advert on ${NIC.dir2} for ${ADDR.vip6}`);

      assert.ok(announced, 'keepalived on the backup sent unsolicited neighbour advertisements for the VIP6');
      for (const [i, f] of FAMILIES.entries()) {
        const r = results[i]!;
        const p = perFamily[i]!;
        assert.equal(p.routerMac, 'dir2', `${f.name}: the router's neighbour entry for ${f.vip} moved to the backup`);
        assert.ok(p.windowMs <= WINDOW_MAX_MS, `${f.name}: takeover window ${p.windowMs} ms`);
        assert.equal(p.failedAfterTakeover, 0, `${f.name}: every failed short request started inside the takeover window`);
        if (withSync) {
          assert.equal(p.streamsKnownToBackup, STREAMS, `${f.name}: the backup held every stream's connection before the failover`);
          assert.equal(
            p.streamsBroken,
            0,
            `${f.name}: streams moved or broken: ${JSON.stringify(r.streams.filter((s) => s.failures || s.localPorts.length !== 1))}`,
          );
        } else {
          assert.equal(p.backupConns, 0, `${f.name}: without sync the backup held no connection before the failover`);
          // The backup schedules each stream's next packet afresh: most land on another real, which resets them.
          assert.ok(p.streamsBroken > 0, `${f.name}: without sync a wrr failover breaks streams (the backup cannot recompute wrr)`);
        }
      }
      if (withSync) assert.equal(after.sync?.backup?.refused, 0, `the backup refused no synced entry: ${JSON.stringify(after.sync)}`);
      else assert.equal(before.sync, undefined);
    });
  });
}
