// SPDX-License-Identifier: Apache-2.0
// stateless.test.ts: established mh packets forwarded without the connection table, the sweeper's activity bits and the MOVED/HELD marks.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { type Config, parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { flowHash } from '../../src/core/flowhash';
import { ACK, DIRECTOR_MAC, type FrameSpec, frame, macOf } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';
import { keptAliveByBit, liveTableOf, openFlow, promotedByBit, type StatelessFamily } from '../lib/statelesscases';

const config = (w12: number) => `
interface: eth0
conn_table_size: 65536
services:
  - vip: 10.0.0.100
    port: 80
    protocol: tcp
    maglev_size: 251
    reals:
      - { address: 10.0.0.11, weight: 1 }
      - { address: 10.0.0.12, weight: ${w12} }
`;
const MACS: Record<string, string> = { '10.0.0.11': '02:00:00:00:00:11', '10.0.0.12': '02:00:00:00:00:12' };

let dp: Datapath;
let prov: Provisioner;
let svc: ServiceState;
let tables: Map<number, Uint32Array>;
let ncpu: number;

const apply = (cfg: Config) => {
  const plan = prov.apply(cfg, (a) => MACS[a] ?? null);
  tables = plan.tables;
  svc = plan.services[0]!;
};

before(async () => {
  requirePrivileges('BPF stateless-path tests');
  ncpu = native().numPossibleCpus();
  dp = await Datapath.load({ connTableSize: 65536 });
  dp.setDirectorMac(DIRECTOR_MAC);
  prov = new Provisioner(dp);
  apply(parseConfig(config(1)));
});

after(() => dp?.close());

const verdicts = () => abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
const run = (f: FrameSpec) => native().testRun(dp.programFd(), { data: frame(f), repeat: 1 });
const spec = (sport: number, tcpFlags: number): FrameSpec => ({ saddr: '198.51.100.9', sport, tcpFlags });
const ckey = (sport: number): abi.ConnKey => ({ saddr: abi.ipv4ToU32('198.51.100.9'), daddr: abi.ipv4ToU32('10.0.0.100'), sport, dport: 80, proto: 6 });
const bucketOf = (sport: number) => flowHash('198.51.100.9', '10.0.0.100', sport, 80, 6) % svc.tblSize!;
const macOfReal = (id: number) => MACS[svc.reals.find((r) => r.id === id)!.address];

/** The IPv4 flows of the service, for the cases both families share. */
const fam = (): StatelessFamily => ({
  dp,
  run: (sport, tcpFlags) => run(spec(sport, tcpFlags)),
  entry: (sport) => dp.conns.get(ckey(sport)),
  put: (sport, val) => dp.conns.put(ckey(sport), val),
  macOfReal,
});
const open = (sport: number) => openFlow(fam(), sport);
const liveTable = () => liveTableOf(dp, svc.id);

test('an established ACK of an mh service goes to the bucket owner without touching its entry; the sweeper promotes SYN_RECV from its bit', () =>
  promotedByBit(fam(), 41000));

test('the sweeper keeps an established entry alive on its bit past its idle timeout, and expires it without', () => keptAliveByBit(fam(), 41010));

test('a moved bucket keeps its flow on its real (tx_existing); MOVED clears a pass after no entry differs, not before', async () => {
  const before = tables.get(svc.id)!;
  // 200 flows: some bucket changes owner when 10.0.0.12 goes to weight 5.
  const opened: { sport: number; real: number }[] = [];
  for (let sport = 42000; opened.length < 200; sport++) opened.push({ sport, real: await open(sport) });
  for (const o of opened) await run(spec(o.sport, ACK));
  apply(parseConfig(config(5)));
  const next = tables.get(svc.id)!;
  const moved = opened.find((o) => before[bucketOf(o.sport)] !== next[bucketOf(o.sport)]);
  assert.ok(moved, 'a flow whose bucket changed owner');
  const b = bucketOf(moved.sport);
  assert.equal((liveTable()[b]! & (abi.TBL_MOVED | abi.TBL_HELD)) >>> 0, (abi.TBL_MOVED | abi.TBL_HELD) >>> 0, 'the changed bucket is marked');
  const v0 = verdicts();
  const r = await run(spec(moved.sport, ACK));
  assert.equal(macOf(r.dataOut, 'dst'), macOfReal(moved.real), 'still its original real');
  assert.equal(verdicts().tx_existing - v0.tx_existing, 1n);
  // A pass with the entry live: HELD again, MOVED stays.
  await dp.sweep();
  assert.ok(liveTable()[b]! & abi.TBL_MOVED, 'MOVED while a live entry names another real');
  await dp.sweep();
  assert.ok(liveTable()[b]! & abi.TBL_MOVED);
  // The flow ends: the next pass finds no entry differing, and MOVED goes.
  for (const o of opened) dp.conns.delete(ckey(o.sport));
  await dp.sweep();
  assert.equal(liveTable()[b]! & abi.TBL_MOVED, 0, 'MOVED cleared');
  const v1 = verdicts();
  const r2 = await run(spec(moved.sport, ACK));
  assert.equal(macOf(r2.dataOut, 'dst'), macOfReal(next[b]!));
  assert.equal(verdicts().tx_stateless - v1.tx_stateless, 1n);
});

test('a table change marks changed buckets MOVED | HELD: one pass clears HELD only, the next MOVED', async () => {
  for (const sport of [41000, 41001, 41010, 41011]) dp.conns.delete(ckey(sport)); // no live entry to hold a bucket
  const before = tables.get(svc.id)!;
  apply(parseConfig(config(2)));
  const next = tables.get(svc.id)!;
  const t = liveTable();
  const marked = [...next.keys()].filter((i) => next[i] !== before[i]);
  assert.ok(marked.length > 0, `marked ${marked.length}`);
  assert.ok(
    marked.every((i) => t[i]! & abi.TBL_HELD),
    'HELD with MOVED',
  );
  await dp.sweep();
  const t1 = liveTable();
  assert.ok(
    marked.every((i) => t1[i]! & abi.TBL_MOVED && !(t1[i]! & abi.TBL_HELD)),
    'first pass: MOVED kept, HELD cleared',
  );
  await dp.sweep();
  const t2 = liveTable();
  assert.ok(
    marked.every((i) => !(t2[i]! & (abi.TBL_MOVED | abi.TBL_HELD))),
    'second pass: clean',
  );
});

test('a synced entry whose real is not its bucket owner marks the bucket', async () => {
  const t = liveTable();
  let sport = 43000;
  while (t[bucketOf(sport)]! & abi.TBL_MOVED) sport++;
  const owner = t[bucketOf(sport)]!;
  const other = svc.reals.find((r) => r.id !== owner)!;
  const res = dp.insertSynced([
    {
      proto: 6,
      caddr: '198.51.100.9',
      cport: sport,
      vaddr: '10.0.0.100',
      vport: 80,
      svcId: svc.id,
      realId: other.id,
      state: abi.CS.ESTABLISHED,
      template: false,
    },
  ]);
  assert.equal(res.inserted, 1);
  assert.equal((liveTable()[bucketOf(sport)]! & abi.TBL_MOVED) >>> 0, abi.TBL_MOVED >>> 0);
  const r = await run(spec(sport, ACK));
  assert.equal(macOf(r.dataOut, 'dst'), MACS[other.address], 'the synced real');
});

test("the stateless path's bucket is the hash modulo the table size, for the smallest and largest tables", async () => {
  // As the control plane computes it (src/core/flowhash.ts): a bucket one off sends a flow to a neighbouring bucket's owner.
  for (const size of [251, 1048573]) {
    apply(parseConfig(config(3).replace('maglev_size: 251', `maglev_size: ${size}`)));
    // A new table's changed buckets are MOVED until two sweeps have found no entry of another real in them.
    await dp.sweep();
    await dp.sweep();
    const t = liveTable();
    assert.equal(t.length, size);
    const v0 = verdicts();
    let sent = 0;
    for (let sport = 50000; sent < 2000; sport++) {
      const owner = t[bucketOf(sport)]!;
      if (owner & abi.TBL_MOVED) continue;
      const r = await run(spec(sport, ACK));
      assert.equal(macOf(r.dataOut, 'dst'), macOfReal(owner & abi.TBL_REAL_MASK), `port ${sport}, bucket ${bucketOf(sport)} of ${size}`);
      sent++;
    }
    assert.equal(verdicts().tx_stateless - v0.tx_stateless, 2000n);
  }
  apply(parseConfig(config(1)));
});
