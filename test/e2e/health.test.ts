// SPDX-License-Identifier: Apache-2.0
// health.test.ts: health checks end to end in the namespace lab: a stopped HTTP server leaves scheduling within fall x interval + timeout with no failed request after detection and rejoins after rise; a real that lost the VIP on lo fails the DR-path check while a direct TCP check of its address passes.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ADDR, type DirectorProcess, realAddress, run } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INTERVAL = 1000;
const TIMEOUT = 500;
const FALL = 2;
const RISE = 2;

describe('health checks (namespace lab)', { timeout: 300_000 }, () => {
  let daemon: DirectorProcess | undefined;
  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    // A second HTTP server on every real, on port 8080 of every address: the target of the direct-mode service.
    for (const n of l.realNames()) await l.startServer(n, { httpPort: 8080, udpPort: 9080 });
    const text = l
      .directorConfig([
        { port: 80, protocol: 'tcp', weights: [1, 1, 1] },
        { port: 8080, protocol: 'tcp', weights: [1, 1, 1] },
      ])
      .split('    reals:')
      .map((part, i) =>
        i === 0
          ? part
          : i === 1
            ? `    check: { interval_ms: ${INTERVAL}, timeout_ms: ${TIMEOUT}, fall: ${FALL}, rise: ${RISE} }\n    reals:${part}`
            : `    check: { mode: direct, interval_ms: ${INTERVAL}, timeout_ms: ${TIMEOUT}, fall: ${FALL}, rise: ${RISE} }\n    reals:${part}`,
      )
      .join('');
    const file = path.join(l.workDir, 'health.yaml');
    fs.writeFileSync(file, text);
    daemon = await l.startDaemon(file);
  });
  const listJson = async () => {
    const l = L();
    return JSON.parse((await l.xlvs(['list', '--json', '--socket', l.daemonSocket()], { timeoutMs: 20_000 })).stdout) as any[];
  };
  const healthOf = async (port: number, address: string): Promise<{ health: string; schedulable: boolean; detail: string }> => {
    const s = (await listJson()).find((x) => x.port === port);
    const r = s.reals.find((x: any) => x.address === address);
    return { health: r.health, schedulable: r.schedulable, detail: r.healthDetail?.detail ?? '' };
  };
  const waitFor = async (what: string, ms: number, pred: () => Promise<boolean>): Promise<number> => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (await pred()) return Date.now() - t0;
      await sleep(50);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}\n${daemon?.output().slice(-4000)}`);
  };
  /** The lab's own rs-server processes in a real's namespace serving `port` (started by this test's lab). */
  const serverPids = async (name: string, port: number): Promise<number[]> => {
    const l = L();
    const r = await l.exec(name, ['true']); // the namespace exists
    assert.equal(r.code, 0);
    const pids = (await run('ip', ['netns', 'pids', l.ns(name)])).stdout.split(/\s+/).filter(Boolean).map(Number);
    return pids.filter((p: number) => {
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.endsWith('rs-server.js')) && argv[argv.indexOf('--http-port') + 1] === String(port);
      } catch {
        return false;
      }
    });
  };

  test('every real starts up; the TCP check of the TCP service follows the DR path by default', async () => {
    await waitFor('first checks', 5000, async () =>
      (await listJson()).every((s) => s.reals.every((r: any) => r.health === 'up' && r.schedulable && /SYN-ACK|connected/.test(r.healthDetail?.detail ?? ''))),
    );
    const h = await healthOf(80, realAddress(1));
    assert.match(h.detail, /SYN-ACK from 10\.0\.0\.100:80/);
    assert.match((await healthOf(8080, realAddress(1))).detail, /connected/);
  });

  test('HTTP server stopped on rs1: out of scheduling within fall x interval + timeout, no failed request after, back after rise', async () => {
    const l = L();
    const rs1 = realAddress(1);
    const pids = await serverPids('rs1', 80);
    assert.equal(pids.length, 1, `one port-80 server on rs1, found ${pids.join(',')}`);
    const t0 = Date.now();
    process.kill(pids[0]!, 'SIGKILL');
    const detected = await waitFor('rs1 down', 10_000, async () => !(await healthOf(80, rs1)).schedulable);
    const bound = FALL * INTERVAL + TIMEOUT;
    assert.ok(detected <= bound + 400, `detected after ${detected} ms, bound ${bound} ms (+ polling)`);
    const h = await healthOf(80, rs1);
    assert.equal(h.health, 'down');
    assert.match(h.detail, /RST|no answer/);
    assert.match(daemon!.output(), /"msg":"real down"/);
    assert.ok(Date.now() - t0 >= (FALL - 1) * INTERVAL, 'not before fall consecutive failures could have happened');
    // After detection: new connections never reach rs1 and none fails.
    const r = await l.runClient('tcp', { port: 80, count: 300, concurrency: 10, timeoutMs: 3000 });
    assert.equal(r.failures, 0, JSON.stringify(r.errors));
    assert.equal(r.counts.rs1 ?? 0, 0, JSON.stringify(r.counts));
    assert.ok((r.counts.rs2 ?? 0) > 0 && (r.counts.rs3 ?? 0) > 0, JSON.stringify(r.counts));
    // Restarted: rejoins after rise successes.
    const t1 = Date.now();
    await l.startServer('rs1', { httpPort: 80, udpPort: 9100 });
    const back = await waitFor('rs1 up', 10_000, async () => (await healthOf(80, rs1)).schedulable);
    assert.ok(Date.now() - t1 >= (RISE - 1) * INTERVAL, `rejoined after ${back} ms: sooner than rise allows`);
    assert.ok(back <= RISE * INTERVAL + TIMEOUT + 1000, `rejoined after ${back} ms`);
    assert.match(daemon!.output(), /"msg":"real up"/);
    const r2 = await l.runClient('tcp', { port: 80, count: 300, concurrency: 10, timeoutMs: 3000 });
    assert.equal(r2.failures, 0, JSON.stringify(r2.errors));
    assert.ok((r2.counts.rs1 ?? 0) > 0, JSON.stringify(r2.counts));
  });

  test('VIP removed from rs2 lo: the DR-path check marks it down while a direct TCP check of its address still passes', async () => {
    const l = L();
    const rs2 = realAddress(2);
    await l.exec('rs2', ['ip', 'addr', 'del', `${ADDR.vip}/32`, 'dev', 'lo']);
    try {
      await waitFor('rs2 down on the DR path and out of the datapath', 10_000, async () => {
        const h = await healthOf(80, rs2);
        return h.health === 'down' && !h.schedulable;
      });
      const dr = await healthOf(80, rs2);
      assert.match(dr.detail, /no answer|RST/, JSON.stringify(dr));
      const direct = await healthOf(8080, rs2);
      assert.equal(direct.health, 'up', `a plain TCP check of 10.0.0.12:8080 still passes: ${JSON.stringify(direct)}`);
      assert.match(direct.detail, /connected/);
      const r = await l.runClient('tcp', { port: 80, count: 200, concurrency: 10, timeoutMs: 3000 });
      assert.equal(r.failures, 0, JSON.stringify(r));
      assert.equal(r.counts.rs2 ?? 0, 0, JSON.stringify(r));
    } finally {
      await l.exec('rs2', ['ip', 'addr', 'add', `${ADDR.vip}/32`, 'dev', 'lo'], { allowFail: true });
    }
    await waitFor('rs2 back', 10_000, async () => (await healthOf(80, rs2)).schedulable);
  });

  test('ARP guard: rs3 set to arp_ignore=0 answers ARP for the VIP and is reported by MAC and name', async () => {
    const l = L();
    const rs3 = realAddress(3);
    const mac = (await l.macOf('rs3', 'eth0')).toLowerCase();
    const set = (v: number) => Promise.all(['all', 'eth0'].map((d) => l.exec('rs3', ['sysctl', '-q', '-w', `net.ipv4.conf.${d}.arp_ignore=${v}`])));
    await set(0);
    try {
      await waitFor('the ARP guard to report rs3', 10_000, async () =>
        ((await listJson())[0].arpClaims ?? []).some((c: any) => c.mac === mac && c.real === rs3),
      );
      assert.match(
        daemon!.output(),
        new RegExp(`"vip":"${ADDR.vip.replace(/\./g, '\\.')}","mac":"${mac}","real":"${rs3.replace(/\./g, '\\.')}".*"msg":"VIP claimed by another MAC"`),
      );
      const line = new RegExp(`ARP: ${ADDR.vip.replace(/\./g, '\\.')} claimed by ${mac} \\(real ${rs3.replace(/\./g, '\\.')}\\)`);
      assert.match((await l.xlvs(['list', '--socket', l.daemonSocket()])).stdout, line);
      assert.match((await l.xlvs(['status', '--interface', 'eth0', '--socket', l.daemonSocket()])).stdout, line);
    } finally {
      await set(1);
    }
  });
});
