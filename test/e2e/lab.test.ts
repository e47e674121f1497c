// SPDX-License-Identifier: Apache-2.0
// lab.test.ts: checks the DR lab's plumbing on its own (no xlvs): addressing, ARP behaviour of the reals, counters, capture, bpffs and teardown; and that a run removes only the namespaces it created.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { analyzeDirectorPort } from '../../src/lab/drcheck';
import { ADDR, cleanupPrefix, DrLab, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

describe('DR lab plumbing (VIP on the director by hand, no xlvs)', { timeout: 120_000 }, () => {
  const L = useLab({ reals: 3, addVipToDirector: true, handleSignals: true });

  test('addresses are where the DR model puts them', async () => {
    const l = L();
    assert.deepEqual(await l.addresses('dir', 'eth0'), [`${ADDR.director}/24`, `${ADDR.vip}/32`]);
    assert.deepEqual(await l.addresses('router', 'eth0'), [`${ADDR.router}/24`]);
    assert.deepEqual(await l.addresses('router', 'eth1'), [`${ADDR.routerOutside}/24`]);
    assert.deepEqual(await l.addresses('client', 'eth0'), [`${ADDR.client}/24`]);
    for (let i = 1; i <= 3; i++) {
      assert.deepEqual(await l.addresses(`rs${i}`, 'eth0'), [`${realAddress(i)}/24`]);
      assert.ok((await l.addresses(`rs${i}`, 'lo')).includes(`${ADDR.vip}/32`));
    }
  });

  test('the client reaches every real by its own address over TCP and UDP, through the router', async () => {
    const l = L();
    for (let i = 1; i <= 3; i++) {
      const tcp = await l.runClient('tcp', { host: realAddress(i), port: 80, count: 20, timeoutMs: 3000 });
      assert.deepEqual({ ok: tcp.ok, counts: tcp.counts, errors: tcp.errors }, { ok: 20, counts: { [`rs${i}`]: 20 }, errors: {} });
      const udp = await l.runClient('udp', { host: realAddress(i), port: 9000, count: 20, timeoutMs: 2000, basePort: 30000 + i * 100 });
      assert.deepEqual({ ok: udp.ok, counts: udp.counts, errors: udp.errors }, { ok: 20, counts: { [`rs${i}`]: 20 }, errors: {} });
    }
  });

  test('only the director answers ARP for the VIP', async () => {
    const l = L();
    const { replies, output } = await l.arping('router', 'eth0', ADDR.vip, 3);
    assert.ok(replies.length >= 3, `expected ARP replies:\n${output}`);
    assert.deepEqual([...new Set(replies)], [l.macs.dir], output);
  });

  test('counters, capture and neighbour entry see traffic for the VIP reach the director kernel', async () => {
    const l = L();
    await l.installReplyPathCounters();
    const cap = await l.captureDirectorPort('plumbing');
    // Nothing listens on the director, so its kernel answers with RSTs: those are VIP-sourced replies from the
    // director's MAC, which the router's "other" counter must catch.
    const r = await l.runClient('tcp', { port: 80, count: 10, timeoutMs: 2000 });
    const c = await cap.stop();
    assert.equal(r.ok, 0);
    assert.equal(r.errors.ECONNREFUSED, 10, JSON.stringify(r.errors));
    const counters = await l.readReplyPathCounters();
    assert.equal(counters.routerFromOther, 10, JSON.stringify(counters));
    assert.deepEqual(counters.routerFromReal, { rs1: 0, rs2: 0, rs3: 0 });
    assert.equal(counters.directorIngress, 0);
    assert.equal(await l.neighbourMac('router', ADDR.vip, 'eth0'), l.macs.dir);

    assert.equal(c.toDirector.droppedByKernel, 0, c.toDirector.stderr);
    assert.equal(c.fromDirector.droppedByKernel, 0, c.fromDirector.stderr);
    const a = analyzeDirectorPort(
      { toFile: c.toDirector.file, fromFile: c.fromDirector.file },
      { directorMac: l.macs.dir, realMacs: l.realByMac(), vip: ADDR.vip, protocol: 'tcp' },
    );
    assert.equal(a.toDirector, 10, JSON.stringify(a));
    assert.equal(a.fromDirector, 0);
    assert.equal(a.notForwarded, 10);
    assert.equal(a.vipSourcedToDirector, 0);
  });

  test("the director namespace sees the run's shared bpffs at /sys/fs/bpf", async () => {
    const l = L();
    const fsType = await l.execDirector(['stat', '-f', '-c', '%T', '/sys/fs/bpf']);
    assert.equal(fsType.stdout.trim(), 'bpf_fs');
    await l.execDirector(['mkdir', '/sys/fs/bpf/labcheck']);
    assert.ok(fs.existsSync(path.join(l.bpffsDir, 'labcheck')));
    fs.rmdirSync(path.join(l.bpffsDir, 'labcheck'));
  });

  test('teardown removes namespaces and the bpffs mount', async () => {
    const l = L();
    const prefix = l.prefix;
    await l.teardown();
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((n) => n.startsWith(prefix));
    assert.deepEqual(left, []);
    assert.equal(fs.existsSync(l.bpffsDir), false);
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8');
    assert.equal(mounts.includes(l.bpffsDir), false);
  });
});

function netns(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

function addNetns(name: string): void {
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('DR lab ownership: a run removes only what it created', { timeout: 180_000 }, () => {
  const MARKERS = '/run/xlvs-lab';
  // The prefixes this process picks first when given none.
  const auto = (k: number): string => `xl${(process.pid + k) % 10000}-`;

  test("lab-like namespaces it did not create survive a run and its teardown; a dead run's leftovers are named and left to cleanupPrefix", async () => {
    assert.equal(process.getuid?.(), 0, 'the e2e tests must run as root');
    const foreign = `${auto(0)}client`; // someone else's, under the first prefix this process would try
    const dead = auto(1);
    const deadNs = `${dead}client`; // recorded by a run that is gone
    const stray = `${dead}other`; // same prefix, recorded by nobody
    // A run that is gone: its pid has exited. Both the earlier marker format and the current record name it.
    const deadPid = spawnSync('true').pid;
    const files = [path.join(MARKERS, `${dead}pid`), path.join(MARKERS, `${dead.slice(0, -1)}.json`)];
    for (const n of [foreign, deadNs, stray]) addNetns(n);
    try {
      fs.mkdirSync(MARKERS, { recursive: true });
      fs.writeFileSync(files[0]!, `${deadPid}\n`);
      fs.writeFileSync(files[1]!, JSON.stringify({ prefix: dead, pid: deadPid, start: null, namespaces: [deadNs] }));
      const notes: string[] = [];
      const lab = await DrLab.create({ reals: 1, startServers: false, log: (l) => notes.push(l) });
      const prefix = lab.prefix;
      try {
        assert.ok(prefix !== auto(0) && prefix !== dead, prefix);
        for (const n of [foreign, deadNs, stray]) assert.ok(netns().includes(n), `${n} removed by the lab's start`);
        const note = notes.find((l) => l.startsWith(`skipping prefix ${dead}`));
        assert.ok(note, notes.join('\n'));
        assert.match(note, new RegExp(`run ${deadPid}, which is gone \\(namespace ${deadNs}, .*cleanupPrefix\\("${dead}"\\)`));
      } finally {
        await lab.teardown();
      }
      const left = netns();
      for (const n of [foreign, deadNs, stray]) assert.ok(left.includes(n), `${n} removed by the lab's teardown`);
      assert.deepEqual(
        left.filter((n) => n.startsWith(prefix)),
        [],
      );
      // The explicit clean-up removes what the dead run recorded, and nothing else under its prefix.
      assert.deepEqual(cleanupPrefix(dead), [deadNs]);
      assert.ok(netns().includes(stray));
      assert.equal(fs.existsSync(files[1]!), false);
    } finally {
      for (const n of [foreign, deadNs, stray]) spawnSync('ip', ['netns', 'del', n]);
      for (const f of files) fs.rmSync(f, { force: true });
    }
  });

  test('labs with different given prefixes coexist, each under its prefix; a held, foreign-used or malformed prefix is refused', async () => {
    assert.equal(process.getuid?.(), 0, 'the e2e tests must run as root');
    const a = await DrLab.create({ reals: 1, startServers: false, prefix: 'xlta' });
    let b: DrLab | undefined;
    addNetns('xltc-client');
    try {
      b = await DrLab.create({ reals: 1, startServers: false, prefix: 'xltb-' });
      assert.equal(a.prefix, 'xlta-');
      assert.equal(b.prefix, 'xltb-');
      assert.equal(a.ns('dir'), 'xlta-dir');
      const roles = ['client', 'router', 'sw', 'dir', 'rs1'];
      for (const r of roles) assert.ok(netns().includes(`xlta-${r}`) && netns().includes(`xltb-${r}`), r);

      await assert.rejects(DrLab.create({ reals: 1, startServers: false, prefix: 'xlta' }), new RegExp(`prefix xlta-: run ${process.pid} is using it`));
      await assert.rejects(
        DrLab.create({ reals: 1, startServers: false, prefix: 'xltc' }),
        /prefix xltc-: namespaces this run did not create use it \(xltc-client\)/,
      );
      assert.ok(netns().includes('xltc-client'));
      for (const bad of ['XL', 'xl-a', '1xl', 'xlabcdefgh', '']) {
        await assert.rejects(
          DrLab.create({ reals: 1, startServers: false, prefix: bad }),
          new RegExp(`prefix: ${JSON.stringify(bad)} is not a lab prefix`),
          bad,
        );
      }
      assert.throws(() => cleanupPrefix('xlta'), /prefix xlta- belongs to run \d+, which is still running/);

      for (const l of [a, b]) await l.exec('client', ['ping', '-c', '1', '-W', '2', ADDR.routerOutside]);
      await a.teardown();
      for (const r of roles) assert.ok(netns().includes(`xltb-${r}`), `xltb-${r} removed by another lab's teardown`);
      await b.exec('client', ['ping', '-c', '1', '-W', '2', ADDR.routerOutside]);
    } finally {
      await b?.teardown();
      await a.teardown();
      spawnSync('ip', ['netns', 'del', 'xltc-client']);
    }
    assert.deepEqual(
      netns().filter((n) => n.startsWith('xlta-') || n.startsWith('xltb-')),
      [],
    );
  });
});
