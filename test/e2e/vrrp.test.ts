// SPDX-License-Identifier: Apache-2.0
// vrrp.test.ts: active/backup with keepalived under load: the master dies, the backup takes over in the VRRP window, mh streams stay, the master returns.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { StatusJson } from '../../src/cli/commands/status';
import { ADDR, type DrLab } from '../../src/lab/drnet';
import type { LoadResult } from '../../src/lab/loadclient';
import { sleep } from '../../src/lab/run';
import { brokenStreams, type DirectorRole, type Running, takeover } from '../../src/lab/vrrp';
import { useLab } from '../lib/labfixture';

const ADVERT_INT = 1;
/** The bound: VRRP's master-down interval (3 adverts plus skew) and a second for the announcement and the first request. */
const WINDOW_MAX_MS = 3 * ADVERT_INT * 1000 + 1000;
const STREAMS = 12;
/** Fresh short requests per second (open loop: the first one after the takeover starts within 10 ms of it). */
const RATE = 100;
const NIC: Record<DirectorRole, string> = { dir: 'eth0', dir2: 'lan0' };
const services = [{ port: 80, protocol: 'tcp' as const, scheduler: 'mh', weights: [1, 1, 1] }];

describe('active/backup with keepalived VRRP under load (namespace lab)', { timeout: 420_000 }, () => {
  const keepalived: Partial<Record<DirectorRole, Running>> = {};
  const cfg: Partial<Record<DirectorRole, string>> = {};
  const ka = (l: DrLab, role: DirectorRole) =>
    l.startKeepalived(role, {
      advertInt: ADVERT_INT,
      priority: role === 'dir' ? 150 : 100,
      preempt: false,
      socket: role === 'dir' ? l.daemonSocket() : l.daemonSocketOf('dir2'),
    });
  const startDir = (l: DrLab) => l.startDaemon(cfg.dir!, [], 30_000, { wrap: l.hostWrap('dir') });

  const L = useLab({ reals: 3, handleSignals: true }, async (l) => {
    await l.addSecondDirector();
    for (const role of ['dir', 'dir2'] as const) {
      cfg[role] = path.join(l.workDir, `${role}.yaml`);
      // keepalived moves the VIP: xlvs never adds or removes it.
      fs.writeFileSync(cfg[role]!, `${l.directorConfig(services, NIC[role])}manage_vips: false\n`);
    }
    await startDir(l);
    await l.startSecondDaemon(cfg.dir2!);
    // dir first, alone, so it is the one that becomes master (both start as BACKUP with nopreempt).
    const vip = l.watchVip('dir');
    keepalived.dir = await ka(l, 'dir');
    await vip.arrived;
    keepalived.dir2 = await ka(l, 'dir2');
  });

  const status = async (role: DirectorRole): Promise<StatusJson> => {
    const l = L();
    const sock = role === 'dir' ? l.daemonSocket() : l.daemonSocketOf(role);
    return l.statusJson(role, NIC[role], sock);
  };
  const metrics = async (role: DirectorRole): Promise<string> => (await L().exec(role, ['curl', '-sS', 'http://127.0.0.1:9258/metrics'])).stdout;
  const sample = (text: string, name: string): number | undefined => {
    const m = new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const role = async (r: DirectorRole) => {
    const [st, m] = await Promise.all([status(r), metrics(r)]);
    return { status: st.director.vrrp?.role, host: st.director.host, master: sample(m, 'xlvs_vrrp_master'), metricsText: m };
  };
  const summary = (load: LoadResult) => ({
    short: load.short.length,
    skipped: load.skipped,
    shortFailed: load.short.filter((x) => x[2] === null).length,
    streamRequests: load.streams.reduce((n, s) => n + s.requests, 0),
    streamsBroken: brokenStreams(load),
    streamMaxLatencyMs: Math.max(...load.streams.map((s) => s.maxLatencyMs)),
  });

  test("the shipped contrib/keepalived/keepalived.conf passes keepalived's own config check", async () => {
    const l = L();
    const r = await l.exec('dir', ['keepalived', '--config-test', '--vrrp', '-f', path.join(l.repoRoot, 'contrib', 'keepalived', 'keepalived.conf')], {
      allowFail: true,
    });
    assert.equal(r.code, 0, `keepalived -t: ${r.stdout}${r.stderr}`);
  });

  test('each director knows its host name and role: status, /metrics', async () => {
    const l = L();
    const m = await role('dir'),
      b = await role('dir2');
    assert.deepEqual([m.status, m.master, m.host], ['master', 1, l.hostName('dir')]);
    assert.deepEqual([b.status, b.master, b.host], ['backup', 0, l.hostName('dir2')]);
    assert.equal(sample(m.metricsText, `xlvs_director_info{host="${l.hostName('dir')}"}`), 1);
    assert.equal(sample(b.metricsText, 'xlvs_vrrp_role{role="backup"}'), 1);
    const st = await status('dir2');
    // keepalived's notify_backup at start reached the daemon, and the VIP is not held: both say backup.
    assert.equal(st.director.vrrp?.notified, 'backup');
    assert.equal(st.director.vrrp?.agree, true);
    // The master answering ARP for the VIP is no theft on a backup: its ARP guard watches only VIPs it holds.
    assert.deepEqual(st.services[0]?.arpClaims ?? [], []);
  });

  test(`the master dies under load (short requests + ${STREAMS} mh streams): the backup takes over within ${WINDOW_MAX_MS} ms, no stream moves`, async () => {
    const l = L();
    const load = l.startLoad({ port: 80, rate: RATE, timeoutMs: 1000, streams: STREAMS });
    await sleep(3000);
    const before = await status('dir2');
    const vip = l.watchVip('dir2');
    // A dead host: keepalived and xlvs gone at once, and its NIC forwards nothing more (the pinned XDP program would).
    const killAt = Date.now();
    await Promise.all([keepalived.dir!.kill(), l.killDirector(), l.setDirectorLink('dir', false)]);
    const killDone = Date.now();
    const vipAt = await vip.arrived;
    await sleep(5000);
    const r = await load.stop();
    const after = await status('dir2');
    const t = takeover(r, killAt, killDone);
    const d = (k: keyof StatusJson['verdicts']) => after.verdicts[k] - before.verdicts[k];
    const figures = {
      ...summary(r),
      ...t,
      killMs: killDone - killAt,
      vipOnBackupMs: vipAt - killAt,
      firstServedAfterVipMs: t.firstServedAt - vipAt,
      backupTxNew: d('tx_new'),
      backupPassNotForUs: d('pass_not_for_us'),
    };
    console.log(`failover: ${JSON.stringify(figures)}`);
    assert.ok(t.windowMs <= WINDOW_MAX_MS, `takeover window ${t.windowMs} ms`);
    assert.equal(t.failedAfterTakeover, 0, 'every failed request started inside the takeover window');
    // What a real NIC sees: nothing went through the backup before it held the VIP and announced it.
    assert.ok(t.firstServedAt >= vipAt - 50, `first request served ${t.firstServedAt - vipAt} ms after the VIP reached the backup`);
    assert.equal(before.verdicts.tx_new, 0, 'the backup forwarded nothing while it was backup');
    assert.ok(d('tx_new') > 0, 'the backup scheduled the new connections after the takeover');
    assert.equal(brokenStreams(r), 0, `streams moved or broken: ${JSON.stringify(r.streams.filter((s) => s.failures || s.localPorts.length !== 1))}`);
    assert.ok(t.servedAfter > 50, `${t.servedAfter} requests served after the takeover`);
    const b = await role('dir2');
    assert.deepEqual([b.status, b.master], ['master', 1]);
    // The status page's feed names the director and its role (the page's header shows them).
    const page = JSON.parse((await l.exec('dir2', ['curl', '-sS', 'http://127.0.0.1:9258/api/status'])).stdout) as {
      director?: { host: string; vrrp: { role: string } };
    };
    assert.deepEqual([page.director?.host, page.director?.vrrp.role], [l.hostName('dir2'), 'master']);
    assert.equal(sample(b.metricsText, 'xlvs_vrrp_role{role="master"}'), 1);
  });

  test('the old master comes back (nopreempt): it stays backup and nothing moves', async () => {
    const l = L();
    const load = l.startLoad({ port: 80, rate: RATE, timeoutMs: 1000, streams: STREAMS });
    await sleep(2000);
    // A rebooted host holds no VIP (keepalived's SIGKILL left it on the dead one's NIC).
    await l.exec('dir', ['ip', 'addr', 'del', `${ADDR.vip}/32`, 'dev', 'eth0']);
    await l.setDirectorLink('dir', true);
    await startDir(l);
    keepalived.dir = await ka(l, 'dir');
    // Longer than the master-down interval: a preempting config would have taken the VIP back by now.
    await sleep(5000);
    const r = await load.stop();
    const s = summary(r);
    console.log(`return: ${JSON.stringify(s)}`);
    assert.equal(s.shortFailed, 0, `failed short requests: ${JSON.stringify(r.short.filter((x) => x[2] === null).slice(0, 5))}`);
    assert.equal(s.streamsBroken, 0);
    const m = await role('dir'),
      b = await role('dir2');
    assert.deepEqual([m.status, m.master, b.status, b.master], ['backup', 0, 'master', 1]);
    const { replies } = await l.arping('router', 'eth0', ADDR.vip, 2);
    assert.deepEqual([...new Set(replies)], [l.macs.dir2]);
  });
});
