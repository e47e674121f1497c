// lab.test.ts: checks the DR lab's plumbing on its own (no xlvs): addressing, ARP behaviour of the reals, counters, capture, bpffs and teardown.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ADDR, realAddress } from '../../src/lab/drnet';
import { analyzeDirectorPort } from '../../src/lab/drcheck';
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
    const a = analyzeDirectorPort({ toFile: c.toDirector.file, fromFile: c.fromDirector.file }, { directorMac: l.macs.dir, realMacs: l.realByMac(), vip: ADDR.vip, protocol: 'tcp' });
    assert.equal(a.toDirector, 10, JSON.stringify(a));
    assert.equal(a.fromDirector, 0);
    assert.equal(a.notForwarded, 10);
    assert.equal(a.vipSourcedToDirector, 0);
  });

  test('the director namespace sees the run\'s shared bpffs at /sys/fs/bpf', async () => {
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
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((n) => n.startsWith(prefix));
    assert.deepEqual(left, []);
    assert.equal(fs.existsSync(l.bpffsDir), false);
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8');
    assert.equal(mounts.includes(l.bpffsDir), false);
  });
});
