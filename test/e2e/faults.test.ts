// SPDX-License-Identifier: Apache-2.0
// faults.test.ts: the fault matrix under load in the namespace lab: a stalled daemon, a flushed neighbour table, a real changing its MAC, the director's link flapping, the clock stepped, a full disk, bpffs unmounted; failed requests and moved connections counted.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ADDR, type ClientResult, type DirectorProcess } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  fault: string;
  /** Short connections opened during the fault (one request each), and how many failed. */
  short: { requested: number; failures: number; errors: Record<string, number> };
  /** One keep-alive connection with a request every 100 ms across the fault (a reconnect: it was reset or moved). */
  longLived: { requests: number; failures: number; reconnects: number; reals: string[] };
  notes: string[];
}

const outcomes: Outcome[] = [];

describe('fault matrix under load (namespace lab, daemon)', { timeout: 600_000 }, () => {
  let daemon: DirectorProcess | undefined;
  let configFile = '';
  const L = useLab({ reals: 3, handleSignals: true }, async (l) => {
    configFile = l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }]);
    daemon = await l.startDaemon(configFile);
  });
  type Listed = {
    port: number;
    reals: { address: string; mac: string | null; weight: number; health?: string; healthDetail?: { state: string; since: number; checks: number } }[];
  }[];
  const listJson = async () => JSON.parse((await L().xlvs(['list', '--json', '--socket', L().daemonSocket()], { timeoutMs: 30_000 })).stdout) as Listed;

  /** Runs fault() while a keep-alive connection and bursts of short connections (until the fault is over) go through the director. */
  async function underLoad(name: string, fault: (notes: string[]) => Promise<void>): Promise<Outcome> {
    const l = L();
    // Timeouts longer than any outage here, so a request waits out the fault in TCP's retransmissions and a failure or
    // a new connection means the director lost or moved something, not that the client gave up.
    const ka = l.startKeepalive({ port: 80, intervalMs: 100, timeoutMs: 15000 });
    const notes: string[] = [];
    const short = { requested: 0, failures: 0, errors: {} as Record<string, number> };
    let long: ClientResult;
    try {
      await sleep(500);
      let over = false;
      const faulted = fault(notes).finally(() => (over = true));
      let burst = 0;
      while (!over || burst < 2) {
        const r = await l.runClient('tcp', { port: 80, count: 30, concurrency: 3, timeoutMs: 15000, basePort: 30000 + (burst % 100) * 100 });
        short.requested += r.requested;
        short.failures += r.failures;
        for (const [k, v] of Object.entries(r.errors)) short.errors[k] = (short.errors[k] ?? 0) + v;
        if (over) burst++;
      }
      await faulted;
    } finally {
      long = await ka.stop();
    }
    const o: Outcome = {
      fault: name,
      short,
      longLived: {
        requests: long.requested,
        failures: long.failures,
        reconnects: Math.max(0, (long.localPorts?.length ?? 1) - 1),
        reals: Object.keys(long.counts),
      },
      notes,
    };
    outcomes.push(o);
    return o;
  }

  test('the daemon stalled for 10 s (SIGSTOP) and resumed: the datapath forwards throughout', async () => {
    const l = L();
    const o = await underLoad('daemon stalled 10 s (SIGSTOP, SIGCONT)', async () => {
      l.signalDirector('SIGSTOP');
      await sleep(10_000);
      l.signalDirector('SIGCONT');
    });
    assert.equal(o.short.failures, 0, JSON.stringify(o));
    assert.equal(o.longLived.failures, 0, JSON.stringify(o));
    assert.equal(o.longLived.reconnects, 0);
    assert.equal((await listJson()).length, 1, 'the daemon answers again');
  });

  test("the director's neighbour table flushed: the reals keep their MACs in the datapath, no connection moves", async () => {
    const l = L();
    const o = await underLoad('neighbour table flushed on the director', async (notes) => {
      await sleep(1000);
      await l.exec('dir', ['ip', 'neigh', 'flush', 'dev', 'eth0']);
      const t0 = Date.now();
      for (let i = 0; i < 100 && (await listJson())[0]!.reals.some((r) => !r.mac); i++) await sleep(100);
      notes.push(`every real had a MAC again ${Date.now() - t0} ms after the flush`);
    });
    assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
    assert.equal(o.longLived.reals.length, 1, `the long-lived connection stayed on one real: ${JSON.stringify(o)}`);
    assert.equal(o.short.failures + o.longLived.failures, 0, JSON.stringify(o));
  });

  test('a real changes its MAC: the director follows it, new connections reach the real at its new MAC', async () => {
    const l = L();
    const fresh = '02:00:00:00:aa:01';
    const o = await underLoad('a real (rs1) changes its MAC', async (notes) => {
      await sleep(1000);
      await l.exec('rs1', ['ip', 'link', 'set', 'eth0', 'address', fresh]);
      const t0 = Date.now();
      let seen = false;
      // Without a gratuitous ARP the director learns it when its entry turns STALE: the kernel's reachable time, 15-45 s.
      for (let i = 0; i < 600 && !seen; i++) {
        seen = (await listJson())[0]!.reals.some((r) => r.mac === fresh);
        if (!seen) await sleep(100);
      }
      notes.push(seen ? `the datapath had rs1's new MAC ${Date.now() - t0} ms after the change` : 'the datapath never saw the new MAC within 60 s');
      assert.ok(seen, notes.join('; '));
    });
    const after = await l.runClient('tcp', { port: 80, count: 60, concurrency: 3, timeoutMs: 3000 });
    assert.equal(after.failures, 0, `after the change: ${JSON.stringify(after.errors)}`);
    assert.ok((after.counts.rs1 ?? 0) > 0, 'rs1 takes connections at its new MAC');
    assert.ok(o.longLived.requests > 0);
  });

  test("the director's link goes down for 2 s and up again: forwarding resumes, nothing is detached", async () => {
    const l = L();
    const o = await underLoad('director NIC link down 2 s, up', async () => {
      await sleep(1000);
      await l.exec('dir', ['ip', 'link', 'set', 'eth0', 'down']);
      await sleep(2000);
      await l.exec('dir', ['ip', 'link', 'set', 'eth0', 'up']);
    });
    const xdp = JSON.parse((await l.exec('dir', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth0'])).stdout)[0]?.xdp;
    assert.ok(xdp?.prog?.id, 'the XDP program is still attached');
    const after = await l.runClient('tcp', { port: 80, count: 60, concurrency: 3, timeoutMs: 3000 });
    assert.equal(after.failures, 0, `after the link came back: ${JSON.stringify(after.errors)}`);
    // The flush that link down makes does not move the connection: its real keeps its last MAC.
    assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
    assert.equal(o.longLived.reals.length, 1, JSON.stringify(o));
  });

  test('the clock stepped back an hour and forward again: health checks keep their pace, nothing goes down, no connection moves', async () => {
    const l = L();
    // The most aggressive check the lab's reals answer reliably, on every real.
    const checked = l
      .directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }])
      .replace('    scheduler: mh\n', '    scheduler: mh\n    check: { type: tcp, interval_ms: 200, timeout_ms: 100, fall: 1, rise: 1 }\n');
    fs.writeFileSync(configFile, checked);
    await l.xlvs(['apply', '-f', configFile, '--socket', l.daemonSocket()], { timeoutMs: 30_000 });
    const checks = async () => new Map((await listJson())[0]!.reals.map((r) => [r.address, r.healthDetail]));
    for (let i = 0; i < 50 && [...(await checks()).values()].some((h) => !h || h.checks < 3); i++) await sleep(200);
    const before = await checks();
    assert.ok(
      [...before.values()].every((h) => h?.state === 'up'),
      `every real up before: ${JSON.stringify([...before])}`,
    );
    // The wall clock is set from the monotonic one, so each step is undone to within a few ms whatever happens.
    const wall0 = Date.now();
    const mono0 = performance.now();
    const setWall = (offsetMs: number) =>
      execFileSync('date', ['-u', '-s', `@${((wall0 + (performance.now() - mono0) + offsetMs) / 1000).toFixed(3)}`], { stdio: 'ignore' });
    const perStep: number[][] = [];
    try {
      const o = await underLoad('clock stepped back 1 h for 4 s, then forward 1 h for 4 s', async (notes) => {
        for (const offset of [-3_600_000, 3_600_000]) {
          const c0 = await checks();
          setWall(offset);
          await sleep(4000);
          setWall(0);
          const c1 = await checks();
          perStep.push([...c0].map(([a, h]) => (c1.get(a)?.checks ?? 0) - (h?.checks ?? 0)));
        }
        notes.push(`checks per real in the 4 s after each step (every 200 ms: about 20): ${perStep.map((p) => p.join('/')).join(' and ')}`);
      });
      const after = await checks();
      for (const [a, h] of after) {
        assert.equal(h?.state, 'up', `${a} stayed up`);
        assert.equal(h?.since, before.get(a)?.since, `${a} never changed state (no flap)`);
      }
      // Scheduled on the wall clock, the step back would stop every check for an hour and the step forward fire
      // them all at once; on the monotonic clock each real is checked every 200 ms throughout.
      for (const p of perStep) for (const n of p) assert.ok(n >= 10, `checks kept their pace across the step: ${JSON.stringify(perStep)}`);
      assert.equal(o.short.failures + o.longLived.failures, 0, JSON.stringify(o));
      assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
    } finally {
      setWall(0);
      fs.writeFileSync(configFile, l.directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }]));
      await l.xlvs(['apply', '-f', configFile, '--socket', l.daemonSocket()], { timeoutMs: 30_000 });
    }
  });

  test('the disk fills up during the config write-back: the edit fails naming ENOSPC, the file, the running config and traffic are untouched', async () => {
    const l = L();
    // The config on a small file system of its own; large enough (40 services) that a write-back spans pages.
    const dir = path.join(l.workDir, 'smallfs');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
    const filler = path.join(dir, 'filler');
    try {
      const big = l.directorConfig([
        { port: 80, protocol: 'tcp', weights: [1, 1, 1] },
        ...Array.from({ length: 40 }, (_, i) => ({ port: 1000 + i, protocol: 'tcp' as const, weights: [1, 1, 1] })),
      ]);
      const file = path.join(dir, 'xlvs.yaml');
      fs.writeFileSync(file, big);
      await l.stopDirector();
      daemon = await l.startDaemon(file);
      const written = fs.readFileSync(file);
      const edit = (weight: number) =>
        l.xlvs(['real', 'edit', '--vip', ADDR.vip, '--port', '80', '--address', '10.0.0.11', '--weight', String(weight), '--socket', l.daemonSocket()], {
          timeoutMs: 30_000,
          allowFail: true,
        });
      let refused = { code: 0 as number | null, stderr: '' };
      const o = await underLoad('disk full during the config write-back', async (notes) => {
        await sleep(500);
        // Leave one page: a write-back of the whole file (more than a page) gets part of the way, then ENOSPC.
        const st = fs.statfsSync(dir);
        fs.writeFileSync(filler, Buffer.alloc((st.bavail - 1) * st.bsize));
        const r = await edit(5);
        refused = { code: r.code, stderr: r.stderr };
        notes.push(`the edit exited ${r.code}: ${r.stderr.trim().split('\n')[0]}`);
      });
      assert.notEqual(refused.code, 0, 'the edit fails');
      assert.match(refused.stderr, /ENOSPC/);
      assert.match(refused.stderr, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.ok(fs.readFileSync(file).equals(written), 'the config file is byte for byte what it was');
      assert.deepEqual(fs.readdirSync(dir).sort(), ['filler', 'xlvs.yaml'], 'no temporary file is left behind');
      assert.equal((await listJson()).find((s) => s.port === 80)!.reals.find((r) => r.address === '10.0.0.11')!.weight, 1, 'the running config is unchanged');
      assert.equal(o.short.failures + o.longLived.failures, 0, JSON.stringify(o));
      assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
      fs.rmSync(filler);
      const ok = await edit(5);
      assert.equal(ok.code, 0, ok.stderr);
      const saved = parse(fs.readFileSync(file, 'utf8')) as { services: { port: number; reals: { address: string; weight: number }[] }[] };
      assert.equal(
        saved.services.find((x) => x.port === 80)!.reals.find((r) => r.address === '10.0.0.11')!.weight,
        5,
        'the write-back landed once there was room',
      );
      assert.equal((await listJson()).find((s) => s.port === 80)!.reals.find((r) => r.address === '10.0.0.11')!.weight, 5);
    } finally {
      fs.rmSync(filler, { force: true });
      await l.stopDirector().catch(() => undefined);
      daemon = await l.startDaemon(configFile);
      execFileSync('umount', [dir]);
    }
  });

  // Last: the lab's bpffs does not come back, and the daemon's new one lives in its own mount namespace.
  test('bpffs unmounted under the daemon: forwarding goes on and the daemon pins its datapath again', async () => {
    const l = L();
    const pid = String(daemon!.pid);
    const inDaemonNs = (argv: string[]) => l.exec('dir', ['nsenter', '-t', pid, '-m', ...argv], { allowFail: true });
    const pins = '/sys/fs/bpf/xlvs/eth0';
    const before = (await inDaemonNs(['ls', pins])).stdout.split('\n').filter(Boolean).sort();
    assert.ok(before.includes('link') && before.includes('conn'), `pins before: ${before.join(' ')}`);
    const o = await underLoad('bpffs unmounted under the daemon', async (notes) => {
      await sleep(1000);
      // Every mount of the lab's bpffs instance goes (the daemon's view and the lab's own), so its pins are gone.
      await inDaemonNs(['umount', '/sys/fs/bpf']);
      execFileSync('umount', [l.bpffsDir]);
      const t0 = performance.now();
      let now: string[] = [];
      for (let i = 0; i < 100; i++) {
        now = (await inDaemonNs(['ls', pins])).stdout.split('\n').filter(Boolean).sort();
        if (now.length === before.length) break;
        await sleep(100);
      }
      notes.push(`every pin was back ${Math.round(performance.now() - t0)} ms after the unmount`);
    });
    const after = (await inDaemonNs(['ls', pins])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(after, before, 'the daemon pinned every map and the link again');
    // The pinned link is the one attached to the NIC (not a new attachment).
    const link = JSON.parse((await inDaemonNs(['bpftool', '-j', 'link', 'show', 'pinned', `${pins}/link`])).stdout) as { prog_id: number };
    const xdp = JSON.parse((await l.exec('dir', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth0'])).stdout)[0]?.xdp;
    assert.equal(link.prog_id, xdp?.prog?.id);
    assert.match(daemon!.output(), /pins were gone/);
    assert.equal(o.short.failures + o.longLived.failures, 0, JSON.stringify(o));
    assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
  });

  after(() => {
    process.stderr.write(
      `fault matrix:\n${outcomes.map((o) => `  ${o.fault}: short ${o.short.failures}/${o.short.requested} failed, long-lived ${o.longLived.failures}/${o.longLived.requests} failed, ${o.longLived.reconnects} reconnects, reals ${o.longLived.reals.join(',')}${o.notes.length ? `; ${o.notes.join('; ')}` : ''}`).join('\n')}\n`,
    );
  });
});
