// SPDX-License-Identifier: Apache-2.0
// inplacetable.test.ts: a same-size schedule table change is written into the live inner map (its id unchanged) and schedules new flows; a size change swaps.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { PinnedDatapath } from '../../src/adapters/pinned';
import { Provisioner } from '../../src/adapters/provision';
import { pinnedLookups } from '../../src/adapters/trace';
import * as abi from '../../src/core/abi';
import { type Config, parseConfig } from '../../src/core/config';
import { XDP_PASS, XDP_TX } from '../../src/core/verdictmodel';
import { DIRECTOR_MAC, frame, macOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const macFor = (address: string) => `02:00:00:00:00:${address.split('.')[3]!.padStart(2, '0')}`;
const SCHEDULERS = ['mh', 'sh', 'wrr', 'wlc'] as const;
const vipOf = (i: number) => `10.0.2.${100 + i}`;

/** One service per scheduler of SCHEDULERS over the same reals (address -> weight). */
function config(reals: Record<string, number>, maglevSize = 251): Config {
  const realsYaml = Object.entries(reals)
    .map(([a, w]) => `      - { address: ${a}, weight: ${w} }`)
    .join('\n');
  const svcs = SCHEDULERS.map(
    (s, i) => `  - vip: ${vipOf(i)}\n    port: 80\n    scheduler: ${s}\n    maglev_size: ${maglevSize}\n    reals:\n${realsYaml}`,
  ).join('\n');
  return parseConfig(`interface: eth0\nconn_table_size: 65536\nservices:\n${svcs}\n`);
}

const loaded: Datapath[] = [];
let bpffs = '';
async function datapath(): Promise<Datapath> {
  const dp = await Datapath.load({ connTableSize: 65536 });
  loaded.push(dp);
  dp.setDirectorMac(DIRECTOR_MAC);
  return dp;
}

before(() => {
  requirePrivileges('BPF in-place table tests');
  bpffs = fs.mkdtempSync('/run/xlvs-inplace-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
});
after(() => {
  for (const dp of loaded) dp.close();
  if (bpffs) {
    execFileSync('umount', [bpffs]);
    fs.rmdirSync(bpffs);
  }
});

const mapIdOf = (dp: Datapath, svcId: number) => dp.maps.xlvs_tbl.lookup(abi.u32Key(svcId))!.readUInt32LE(0);

/** The real MAC each of n new mh/sh flows (fixed seed) goes to through dp. */
async function destinations(dp: Datapath, svc: number, n: number, salt: number): Promise<string[]> {
  let seed = 0x2468ace + salt;
  const rand = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = rand();
    const spec = {
      saddr: `100.${64 + (x & 63)}.${(x >>> 6) & 255}.${(x >>> 14) & 255}`,
      sport: 1024 + (rand() % 60000),
      daddr: vipOf(svc),
      dport: 80,
      tcpFlags: SYN,
    };
    const r = await native().testRun(dp.programFd(), { data: frame(spec), repeat: 1 });
    assert.equal(r.retval, XDP_TX, `flow ${i}`);
    out.push(macOf(r.dataOut, 'dst'));
  }
  return out;
}

test('a weight change keeps every inner map and reaches the datapath, readers and new flows alike; a size change swaps', async () => {
  const start = config({ '10.0.0.11': 1, '10.0.0.12': 1, '10.0.0.13': 1 });
  const changed = config({ '10.0.0.11': 5, '10.0.0.12': 1, '10.0.0.13': 1 });

  const a = await datapath();
  const pa = new Provisioner(a);
  const p0 = pa.apply(start, macFor);
  const dir = path.join(bpffs, 'a');
  a.pin(dir);
  const ids = p0.services.map((s) => s.id);
  const before0 = ids.map((id) => mapIdOf(a, id));
  // Flows through the start tables, then the change: mh and sh must move some of them.
  const flows0 = await destinations(a, 0, 400, 1);

  const p1 = pa.apply(changed, macFor);
  const written = p1.ops.filter((o) => o.op === 'putTable').map((o) => (o as { svcId: number }).svcId);
  assert.ok(written.includes(ids[0]!) && written.includes(ids[1]!), 'the weight change rewrote the mh and sh tables');
  for (const [i, id] of ids.entries()) {
    const t = p1.tables.get(id)!;
    if (p0.tables.get(id)!.length === t.length) assert.equal(mapIdOf(a, id), before0[i], `${SCHEDULERS[i]}: same size, same inner map`);
  }
  assert.equal(mapIdOf(a, ids[0]!), before0[0], 'mh: same inner map');
  assert.equal(mapIdOf(a, ids[1]!), before0[1], 'sh: same inner map');

  // Readers: the listing's and realserver's table read, and trace's lookups, see the new tables.
  const pinned = new PinnedDatapath(dir);
  const lk = pinnedLookups(a);
  try {
    for (const id of ids) {
      const want = p1.tables.get(id)!;
      assert.deepEqual(pinned.table(id, want.length), want, `PinnedDatapath.table(${id})`);
      assert.deepEqual(lk.table(id)!.subarray(0, want.length), want, `trace lookups table(${id})`);
      const svc = pinned.snapshot().services.find((s) => s.id === id)!;
      assert.equal(svc.tblSize, want.length, 'tbl_size');
    }
  } finally {
    lk.close();
    pinned.close();
  }

  // New flows (another set, none tracked yet) go where a director started with the changed config sends them.
  const b = await datapath();
  new Provisioner(b).apply(changed, macFor);
  for (const svc of [0, 1]) {
    const [fa, fb] = [await destinations(a, svc, 400, 7 + svc), await destinations(b, svc, 400, 7 + svc)];
    assert.deepEqual(fa, fb, `${SCHEDULERS[svc]}: in place schedules as a fresh table does`);
  }
  const c = await datapath();
  new Provisioner(c).apply(start, macFor);
  const [fc, fb] = [await destinations(c, 0, 400, 7), await destinations(b, 0, 400, 7)];
  assert.ok(
    fc.some((m, i) => m !== fb[i]),
    'the change moved some mh buckets (else the check above proves nothing)',
  );
  assert.ok(flows0.length === 400);

  // A size change (another Maglev size) swaps in new inner maps.
  const mid = ids.map((id) => mapIdOf(a, id));
  const p2 = pa.apply(config({ '10.0.0.11': 5, '10.0.0.12': 1, '10.0.0.13': 1 }, 509), macFor);
  assert.equal(p2.tables.get(ids[0]!)!.length, 509);
  assert.notEqual(mapIdOf(a, ids[0]!), mid[0], 'mh: a new size, a new inner map');
  assert.notEqual(mapIdOf(a, ids[1]!), mid[1], 'sh: a new size, a new inner map');
  const b2 = await datapath();
  new Provisioner(b2).apply(config({ '10.0.0.11': 5, '10.0.0.12': 1, '10.0.0.13': 1 }, 509), macFor);
  assert.deepEqual(await destinations(a, 0, 200, 11), await destinations(b2, 0, 200, 11), 'mh after the swap');
});

test('a real removed from a same-size table: written in place, then the real deleted, and no new flow goes to it', async () => {
  const a = await datapath();
  const pa = new Provisioner(a);
  const p0 = pa.apply(config({ '10.0.0.11': 1, '10.0.0.12': 1, '10.0.0.13': 1 }), macFor);
  const mh = p0.services[0]!.id;
  const id0 = mapIdOf(a, mh);
  const p1 = pa.apply(config({ '10.0.0.11': 1, '10.0.0.12': 1 }), macFor);
  assert.ok(
    p1.ops.some((o) => o.op === 'deleteReal'),
    'the plan deletes the real',
  );
  assert.equal(mapIdOf(a, mh), id0, 'mh: same size, same inner map');
  const gone = macFor('10.0.0.13');
  for (const svc of [0, 1]) {
    const macs = await destinations(a, svc, 300, 21 + svc);
    assert.ok(!macs.includes(gone), `${SCHEDULERS[svc]}: no new flow to the removed real`);
    assert.equal(new Set(macs).size, 2, `${SCHEDULERS[svc]}: both remaining reals get flows`);
  }
});

test("removed services' tables go in one write: each slot holds the shared placeholder, read as no table; ids reused get clean tables", async () => {
  const a = await datapath();
  const pa = new Provisioner(a);
  const reals = { '10.0.0.11': 1, '10.0.0.12': 1, '10.0.0.13': 1 };
  const full = config(reals);
  const p0 = pa.apply(full, macFor);
  const removed = p0.services.slice(1).map((s) => s.id);
  // Only the first service (mh) stays.
  pa.apply({ ...full, services: full.services.slice(0, 1) }, macFor);
  const placeholders = new Set(removed.map((id) => mapIdOf(a, id)));
  assert.equal(placeholders.size, 1, 'one placeholder for every removed slot');
  const m = native().BpfMap.fromId([...placeholders][0]!);
  try {
    assert.equal(m.maxEntries, 1);
    assert.equal(m.lookup(abi.u32Key(0))!.readUInt32LE(0), abi.REAL_NONE);
  } finally {
    m.close();
  }
  for (const id of removed) assert.equal(a.tables.live(id), null, `service ${id}: no table`);
  const gone = await native().testRun(a.programFd(), { data: frame({ daddr: vipOf(2), dport: 80, tcpFlags: SYN }), repeat: 1 });
  assert.equal(gone.retval, XDP_PASS, "a removed service's VIP is passed");
  // Added again, the services take ids (reused or not) with new tables of their own, carrying no marks from the slots.
  const p2 = pa.apply(full, macFor);
  for (const s of p2.services.slice(1)) {
    const live = a.tables.live(s.id)!;
    assert.ok(live && live.length > 1, `${s.scheduler}: a table of its own`);
    assert.ok(
      live.every((v) => v === abi.REAL_NONE || !(v & (abi.TBL_MOVED | abi.TBL_HELD))),
      `${s.scheduler}: no marks carried from the placeholder`,
    );
    assert.ok(!placeholders.has(mapIdOf(a, s.id)));
  }
  for (const svc of [1, 2, 3]) assert.equal(new Set(await destinations(a, svc, 60, 40 + svc)).size, 3, `${SCHEDULERS[svc]} schedules again`);
});
