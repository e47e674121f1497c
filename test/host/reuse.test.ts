// SPDX-License-Identifier: Apache-2.0
// reuse.test.ts: the addon's restart/upgrade path: BpfObject.open({ reuseMaps }) adopts pinned maps (and refuses a layout mismatch), and XdpLink#update swaps a pinned link's program in place (needs root and BPF).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { objectPath } from '../../src/adapters/datapath';
import { type NativeError, native } from '../../src/adapters/native';
import { MAP_NAMES, pinPaths } from '../../src/adapters/pinned';
import { requirePrivileges } from '../lib/privileged';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-reuse-'));
const pins = path.join(dir, 'pins');
const NS = `xr${process.pid % 100000}`;
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};

before(() => {
  requirePrivileges('map reuse tests');
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  fs.mkdirSync(pins);
  spawnSync('ip', ['netns', 'del', NS]);
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'v0', 'up']);
});

after(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  spawnSync('umount', [dir]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a second load adopts the pinned maps: same map, same contents, no flush', async () => {
  const n = native();
  const first = await n.BpfObject.open(objectPath(), { mapMaxEntries: { xlvs_conn: 4096 } });
  for (const name of MAP_NAMES) first.map(name).pin(pinPaths(pins)[name]!);
  const conn = first.map('xlvs_conn');
  const key = u32(7);
  const bucket = Buffer.alloc(conn.valueSize, 9);
  conn.update(key, bucket);
  const second = await n.BpfObject.open(objectPath(), { mapMaxEntries: { xlvs_conn: 4096 }, reuseMaps: pinPaths(pins) });
  for (const name of MAP_NAMES) assert.equal(second.map(name).id, first.map(name).id, `${name} adopted`);
  assert.deepEqual(second.map('xlvs_conn').lookup(key), bucket);
  first.close();
  second.close();
});

test('a pinned map whose layout differs from the object is refused, naming the map and the difference', async () => {
  const n = native();
  await assert.rejects(n.BpfObject.open(objectPath(), { mapMaxEntries: { xlvs_conn: 8192 }, reuseMaps: pinPaths(pins) }), (e: unknown) => {
    const ne = e as NativeError;
    assert.equal(ne.code, 'EINVAL');
    assert.equal(ne.syscall, 'bpf_map__reuse_fd');
    assert.match(ne.message, /map 'xlvs_conn' pinned at .* has max_entries 4096, the object wants 8192/);
    return true;
  });
});

test('XdpLink#update swaps the program of a pinned link without detaching', async () => {
  const n = native();
  const a = await n.BpfObject.open(objectPath(), { mapMaxEntries: { xlvs_conn: 4096 }, reuseMaps: pinPaths(pins) });
  const b = await n.BpfObject.open(objectPath(), { mapMaxEntries: { xlvs_conn: 4096 }, reuseMaps: pinPaths(pins) });
  // Attach inside the namespace: run this step in a child that enters it.
  const linkPin = path.join(pins, 'link');
  const script = `
    const n = require(${JSON.stringify(path.join(path.dirname(require.resolve('../../src/adapters/native')), 'native.js'))}).native();
    (async () => {
      const o = await n.BpfObject.open(${JSON.stringify(objectPath())}, { mapMaxEntries: { xlvs_conn: 4096 }, reuseMaps: ${JSON.stringify(pinPaths(pins))} });
      const l = n.XdpLink.attach(o.programFd('xlvs_xdp'), 'v0', 'generic');
      l.pin(${JSON.stringify(linkPin)});
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const progOf = () =>
    JSON.parse(execFileSync('ip', ['-n', NS, '-j', '-d', 'link', 'show', 'dev', 'v0'], { encoding: 'utf8' }))[0]?.xdp?.prog?.id as number | undefined;
  const before = progOf();
  assert.ok(before, 'attached, and still attached after the attaching process exited (the pin holds it)');
  const link = n.XdpLink.openPinned(linkPin);
  link.update(b.programFd('xlvs_xdp'));
  const afterB = progOf();
  assert.ok(afterB && afterB !== before, `program swapped (${before} -> ${afterB})`);
  link.update(a.programFd('xlvs_xdp'));
  assert.notEqual(progOf(), afterB);
  link.detach();
  assert.equal(progOf(), undefined);
  fs.rmSync(linkPin);
  a.close();
  b.close();
});
