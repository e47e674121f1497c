// SPDX-License-Identifier: Apache-2.0
// sync.test.ts: connection sync through BPF_PROG_TEST_RUN: records out of xlvs_syncq (keys, states, reals, templates, losses), entries into xlvs_syncin.

import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import type { SyncEvent, SyncInsert } from '../../src/core/syncdp';
import { XDP_TX } from '../../src/core/verdictmodel';
import { ACK, DIRECTOR_MAC, FIN, type FrameSpec, frame, frame6, macOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const REALS = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
const macFor = (address: string) => `02:00:00:00:00:${(address.split(/[.:]/).at(-1) || '0').padStart(2, '0')}`;
const WRR = `services:\n  - vip: 10.0.0.100\n    port: 80\n    scheduler: wrr\n    reals:\n${REALS.slice(0, 2)
  .map((a, i) => `      - { address: ${a}, weight: ${2 - i} }`)
  .join('\n')}\n`;
const PERSIST = [
  'services:',
  '  - vip: 10.0.0.100\n    port: 80\n    scheduler: rr\n    persistence: { timeout: 300, netmask: 255.255.255.0 }\n    reals:',
  ...REALS.map((a) => `      - { address: ${a}, weight: 1 }`),
  '  - vip: 10.0.0.101\n    port: 443\n    scheduler: rr\n    reals:\n      - { address: 10.0.0.14, weight: 1 }\n',
].join('\n');

interface Lab {
  dp: Datapath;
  prov: Provisioner;
  services: ServiceState[];
}
let lab: Lab | undefined;

/** A fresh datapath with the services, provisioned the daemon's way; emit: sync emission through plan/apply. */
async function load(yaml: string, emit: boolean, opts: { syncQueueBytes?: number } = {}): Promise<Lab> {
  const cfg = parseConfig(`interface: eth0\nconn_table_size: 65536\n${yaml}`);
  const dp = await Datapath.load({ connTableSize: cfg.conn_table_size, ...opts });
  dp.setDirectorMac(DIRECTOR_MAC);
  const prov = new Provisioner(dp);
  const { services } = prov.apply(cfg, macFor, new Set(), { emit });
  lab = { dp, prov, services };
  return lab;
}

before(() => requirePrivileges('BPF connection sync tests'));
afterEach(() => {
  lab?.dp.close();
  lab = undefined;
});
after(() => lab?.dp.close());

async function send(dp: Datapath, spec: FrameSpec): Promise<{ retval: number; mac: string }> {
  const r = await native().testRun(dp.programFd(), { data: frame({ daddr: '10.0.0.100', dport: 80, ...spec }), repeat: 1 });
  return { retval: r.retval, mac: macOf(r.dataOut, 'dst') };
}

const realOf = (l: Lab, address: string, svc = 0) => l.services[svc]!.reals.find((r) => r.address === address)!;
const conns = (l: Lab, id: number) => abi.realConns.decode(l.dp.maps.xlvs_rconn.lookup(abi.u32Key(id))!);
/** An event without its age (which the test cannot know) for deepEqual. */
const shape = ({ ageMs: _, ...e }: SyncEvent) => e;

test('emission on: a SYN, ACK and FIN of a wrr flow are recorded with its key, each state and the real it went to', async () => {
  const l = await load(WRR, true);
  const flow = { saddr: '198.51.100.7', sport: 40001 };
  const sent = [await send(l.dp, { ...flow, tcpFlags: SYN }), await send(l.dp, { ...flow, tcpFlags: ACK }), await send(l.dp, { ...flow, tcpFlags: FIN | ACK })];
  assert.deepEqual(
    sent.map((s) => s.retval),
    [XDP_TX, XDP_TX, XDP_TX],
  );
  // wrr 2:1 starts with the weight-2 real.
  const real = realOf(l, '10.0.0.11');
  assert.equal(sent[0]!.mac, real.mac);
  // An established packet that changes nothing records nothing.
  await send(l.dp, { ...flow, tcpFlags: ACK });
  const ev = await l.dp.readSyncEvents(100);
  const base = { proto: 6, caddr: '198.51.100.7', cport: 40001, vaddr: '10.0.0.100', vport: 80, raddr: '10.0.0.11', template: false };
  assert.deepEqual(ev.map(shape), [
    { ...base, state: abi.CS.SYN_RECV, svcId: l.services[0]!.id, realId: real.id },
    { ...base, state: abi.CS.ESTABLISHED, svcId: l.services[0]!.id, realId: real.id },
    { ...base, state: abi.CS.FIN_WAIT, svcId: l.services[0]!.id, realId: real.id },
  ]);
  for (const e of ev) assert.ok(e.ageMs >= 0 && e.ageMs < 5000, `age ${e.ageMs} ms`);
  assert.deepEqual(await l.dp.readSyncEvents(20), [], 'the queue is drained');
  // A second flow goes to the other real (wrr 2:1 -> 11, 11, 12): the record names that real.
  await send(l.dp, { saddr: '198.51.100.8', sport: 40002, tcpFlags: SYN });
  await send(l.dp, { saddr: '198.51.100.9', sport: 40003, tcpFlags: SYN });
  const two = await l.dp.readSyncEvents(100);
  assert.deepEqual(
    two.map((e) => [e.caddr, e.raddr, e.realId]),
    [
      ['198.51.100.8', '10.0.0.11', real.id],
      ['198.51.100.9', '10.0.0.12', realOf(l, '10.0.0.12').id],
    ],
  );
  assert.equal(l.dp.syncLosses(), 0);
});

test('emission off (after every load, and once a plan turns it off): nothing is recorded', async () => {
  const l = await load(WRR, false);
  assert.equal(abi.cfg.decode(l.dp.maps.xlvs_cfg.lookup(abi.u32Key(0))!).sync_emit, 0);
  await send(l.dp, { saddr: '198.51.100.7', sport: 40001, tcpFlags: SYN });
  await send(l.dp, { saddr: '198.51.100.7', sport: 40001, tcpFlags: ACK });
  assert.deepEqual(await l.dp.readSyncEvents(50), []);
  const cfg = parseConfig(`interface: eth0\nconn_table_size: 65536\n${WRR}`);
  l.prov.apply(cfg, macFor, new Set(), { emit: true });
  await send(l.dp, { saddr: '198.51.100.8', sport: 40001, tcpFlags: SYN });
  assert.equal((await l.dp.readSyncEvents(100)).length, 1);
  l.prov.apply(cfg, macFor, new Set(), { emit: false });
  await send(l.dp, { saddr: '198.51.100.9', sport: 40001, tcpFlags: SYN });
  await send(l.dp, { saddr: '198.51.100.8', sport: 40001, tcpFlags: ACK });
  assert.deepEqual(await l.dp.readSyncEvents(50), []);
});

test('a persistent service records its template (masked client, port 0) once, when it is written', async () => {
  const l = await load(PERSIST, true);
  const first = await send(l.dp, { saddr: '198.51.100.7', sport: 40001, tcpFlags: SYN });
  const ev = await l.dp.readSyncEvents(100);
  const real = l.services[0]!.reals.find((r) => r.mac === first.mac)!;
  assert.deepEqual(ev.map(shape), [
    {
      proto: 6,
      caddr: '198.51.100.7',
      cport: 40001,
      vaddr: '10.0.0.100',
      vport: 80,
      raddr: real.address,
      state: abi.CS.SYN_RECV,
      template: false,
      svcId: l.services[0]!.id,
      realId: real.id,
    },
    {
      proto: 6,
      caddr: '198.51.100.0',
      cport: 0,
      vaddr: '10.0.0.100',
      vport: 80,
      raddr: real.address,
      state: abi.CS.NONE,
      template: true,
      svcId: l.services[0]!.id,
      realId: real.id,
    },
  ]);
  // Another connection of the same /24 follows the template: a connection record, no template record.
  const second = await send(l.dp, { saddr: '198.51.100.9', sport: 40002, tcpFlags: SYN });
  assert.equal(second.mac, first.mac);
  assert.deepEqual(
    (await l.dp.readSyncEvents(100)).map((e) => [e.caddr, e.template]),
    [['198.51.100.9', false]],
  );
});

test('xlvs_syncin: a synced flow is forwarded to its synced real, not the scheduler pick; a held key is updated and recounted', async () => {
  const l = await load(WRR, false);
  const svcId = l.services[0]!.id;
  const a = realOf(l, '10.0.0.11');
  const b = realOf(l, '10.0.0.12');
  const entry: SyncInsert = {
    proto: 6,
    caddr: '198.51.100.50',
    cport: 50000,
    vaddr: '10.0.0.100',
    vport: 80,
    svcId,
    realId: b.id,
    state: abi.CS.ESTABLISHED,
    template: false,
  };
  const r1 = l.dp.insertSynced([entry]);
  assert.deepEqual(r1, { inserted: 1, updated: 0, refused: 0, results: [abi.SYNC_R.INSERTED] });
  assert.deepEqual([conns(l, b.id).active, conns(l, b.id).inactive, conns(l, a.id).active], [1n, 0n, 0n]);
  // The scheduler's next pick is the weight-2 real (a), but the mid-stream ACK finds the synced entry.
  const mid = await send(l.dp, { saddr: '198.51.100.50', sport: 50000, tcpFlags: ACK });
  assert.equal(mid.retval, XDP_TX);
  assert.equal(mid.mac, b.mac);
  const fresh = await send(l.dp, { saddr: '198.51.100.51', sport: 50000, tcpFlags: ACK });
  assert.equal(fresh.mac, a.mac, 'an unsynced mid-stream flow is scheduled (to a)');
  assert.deepEqual([conns(l, a.id).active, conns(l, b.id).active], [1n, 1n]);
  // The same key again, now on a and closing: updated, b's count moves to a's inactive.
  const r2 = l.dp.insertSynced([{ ...entry, realId: a.id, state: abi.CS.FIN_WAIT }]);
  assert.deepEqual([r2.inserted, r2.updated, r2.refused], [0, 1, 0]);
  assert.deepEqual([conns(l, b.id).active, conns(l, b.id).inactive], [0n, 0n]);
  assert.deepEqual([conns(l, a.id).active, conns(l, a.id).inactive], [1n, 1n]);
  assert.equal((await send(l.dp, { saddr: '198.51.100.50', sport: 50000, tcpFlags: ACK })).mac, a.mac);
  // Same real, new state: moved between active and inactive only.
  l.dp.insertSynced([{ ...entry, realId: a.id, state: abi.CS.ESTABLISHED }]);
  assert.deepEqual([conns(l, a.id).active, conns(l, a.id).inactive], [2n, 0n]);
  // What the table holds is what was synced, stamped with this director's clock.
  const rec = [...l.dp.conns.records()].find((r) => r.key.saddr === abi.ipv4ToU32('198.51.100.50'))!;
  assert.deepEqual([rec.val.real_id, rec.val.svc_id, rec.val.state], [a.id, svcId, abi.CS.ESTABLISHED]);
  assert.ok(Math.abs(rec.val.last_seen - abi.monoSeconds(process.hrtime.bigint())) <= 2);
});

test('xlvs_syncin refuses unknown service and real ids, a real of another service, and bad states; checks fields before inserting any', async () => {
  const l = await load(PERSIST, false);
  const svcId = l.services[0]!.id;
  const other = l.services[1]!;
  const ok: SyncInsert = {
    proto: 6,
    caddr: '198.51.100.60',
    cport: 1000,
    vaddr: '10.0.0.100',
    vport: 80,
    svcId,
    realId: realOf(l, '10.0.0.11').id,
    state: abi.CS.ESTABLISHED,
    template: false,
  };
  const r = l.dp.insertSynced([
    { ...ok, svcId: other.id },
    { ...ok, cport: 1001, realId: other.reals[0]!.id },
    { ...ok, cport: 1002, realId: 99999 },
    { ...ok, cport: 1003, vaddr: '10.0.0.199' },
    { ...ok, cport: 1004 },
  ]);
  assert.deepEqual(r, {
    inserted: 1,
    updated: 0,
    refused: 4,
    results: [abi.SYNC_R.NO_SVC, abi.SYNC_R.NO_REAL, abi.SYNC_R.NO_REAL, abi.SYNC_R.NO_SVC, abi.SYNC_R.INSERTED],
  });
  assert.equal(conns(l, other.reals[0]!.id).active, 0n);
  // A template for a service without persistence is refused; a bad field fails the whole call, naming it.
  assert.equal(l.dp.insertSynced([{ ...ok, vaddr: '10.0.0.101', vport: 443, svcId: other.id, realId: other.reals[0]!.id, template: true }]).refused, 1);
  const before = [...l.dp.conns.records()].length;
  assert.throws(
    () =>
      l.dp.insertSynced([
        { ...ok, cport: 2000 },
        { ...ok, state: 9 },
      ]),
    /entries\[1\]\.state: 9/,
  );
  assert.throws(() => l.dp.insertSynced([{ ...ok, caddr: '300.1.1.1' }]), /entries\[0\]\.caddr: "300\.1\.1\.1"/);
  assert.equal([...l.dp.conns.records()].length, before, 'nothing half-applied');
});

test('xlvs_syncin: a synced template steers a client network new connections; more entries than one run takes are batched', async () => {
  const l = await load(PERSIST, false);
  const svcId = l.services[0]!.id;
  const c = realOf(l, '10.0.0.13');
  const t = l.dp.insertSynced([{ proto: 6, caddr: '198.51.100.0', cport: 0, vaddr: '10.0.0.100', vport: 80, svcId, realId: c.id, state: 0, template: true }]);
  assert.deepEqual([t.inserted, t.refused], [1, 0]);
  // rr would start at 10.0.0.11; the template says 10.0.0.13 for all of 198.51.100.0/24.
  for (const saddr of ['198.51.100.1', '198.51.100.200']) assert.equal((await send(l.dp, { saddr, sport: 3000, tcpFlags: SYN })).mac, c.mac);
  assert.equal(
    l.dp.insertSynced([{ proto: 6, caddr: '198.51.100.0', cport: 0, vaddr: '10.0.0.100', vport: 80, svcId, realId: c.id, state: 0, template: true }]).updated,
    1,
  );
  // 250 connections: three runs of xlvs_syncin; each counted once on its real.
  const many: SyncInsert[] = Array.from({ length: 250 }, (_, i) => ({
    proto: 17,
    caddr: `203.0.113.${(i % 250) + 1}`,
    cport: 20000 + i,
    vaddr: '10.0.0.100',
    vport: 80,
    svcId,
    realId: c.id,
    state: abi.CS.UDP,
    template: false,
  }));
  // UDP to a TCP-only service: no service for the key.
  assert.equal(l.dp.insertSynced(many).refused, 250);
  const tcp = many.map((e) => ({ ...e, proto: 6, state: abi.CS.ESTABLISHED }));
  const before = conns(l, c.id).active;
  const r = l.dp.insertSynced(tcp);
  assert.deepEqual([r.inserted, r.updated, r.refused], [250, 0, 0]);
  assert.equal(conns(l, c.id).active - before, 250n);
});

test('a full queue drops records and counts them; every frame is still forwarded', async () => {
  // One page: 4096 / (40-byte record + 8-byte header) = 85 records.
  const l = await load(WRR, true, { syncQueueBytes: 4096 });
  let tx = 0;
  for (let i = 0; i < 200; i++) if ((await send(l.dp, { saddr: `198.18.0.${i + 1}`, sport: 7000, tcpFlags: SYN })).retval === XDP_TX) tx++;
  assert.equal(tx, 200);
  const ev = await l.dp.readSyncEvents(100, 1000);
  assert.equal(ev.length, 85);
  assert.equal(l.dp.syncLosses(), 115);
  assert.equal(abi.sumPerCpu(abi.verdicts, l.dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus()).tx_new, 200n);
  // Room again once read.
  await send(l.dp, { saddr: '198.18.1.1', sport: 7000, tcpFlags: SYN });
  assert.equal((await l.dp.readSyncEvents(100)).length, 1);
});

test('readSyncEvents: maxEvents caps one read, the rest waits for the next; one reader at a time; [] on timeout', async () => {
  const l = await load(WRR, true);
  for (let i = 0; i < 10; i++) await send(l.dp, { saddr: `198.18.2.${i + 1}`, sport: 7000, tcpFlags: SYN });
  const first = await l.dp.readSyncEvents(100, 4);
  assert.deepEqual(
    first.map((e) => e.caddr),
    ['198.18.2.1', '198.18.2.2', '198.18.2.3', '198.18.2.4'],
  );
  assert.equal((await l.dp.readSyncEvents(100, 100)).length, 6);
  const t0 = Date.now();
  const pending = l.dp.readSyncEvents(300);
  await assert.rejects(l.dp.readSyncEvents(10), /one reader at a time/);
  assert.deepEqual(await pending, []);
  assert.ok(Date.now() - t0 >= 250, 'waited for its timeout');
  // A record arriving during a wait ends it early.
  const waiting = l.dp.readSyncEvents(5000);
  await new Promise((r) => setTimeout(r, 50));
  await send(l.dp, { saddr: '198.18.3.1', sport: 7000, tcpFlags: SYN });
  const t1 = Date.now();
  assert.equal((await waiting).length, 1);
  assert.ok(Date.now() - t1 < 2000);
});

const PERSIST6 = [
  'services:',
  '  - vip: 2001:db8::100\n    port: 80\n    scheduler: rr\n    persistence: { timeout: 300, netmask: 64 }\n    reals:',
  '      - { address: 2001:db8::11, weight: 1 }',
  '      - { address: 2001:db8::12, weight: 1 }',
  '      - { address: 2001:db8::13, weight: 1 }\n',
].join('\n');

test('IPv6: a flow records its connection and template (xlvs_sync_rec6); xlvs_syncin6 makes a second datapath forward it to the same real', async () => {
  const l = await load(PERSIST6, true);
  const flow = { saddr: '2001:db8:1::7', daddr: '2001:db8::100', sport: 40001, dport: 80 };
  const r = await native().testRun(l.dp.programFd(), { data: frame6({ ...flow, tcpFlags: SYN }), repeat: 1 });
  assert.equal(r.retval, XDP_TX);
  const mac = macOf(r.dataOut, 'dst');
  const real = l.services[0]!.reals.find((x) => x.mac === mac)!;
  assert.ok(real, `the SYN went to a real (${mac})`);
  const ev = await l.dp.readSyncEvents(100);
  const svcId = l.services[0]!.id;
  assert.deepEqual(ev.map(shape), [
    {
      proto: 6,
      caddr: '2001:db8:1::7',
      cport: 40001,
      vaddr: '2001:db8::100',
      vport: 80,
      raddr: real.address,
      state: abi.CS.SYN_RECV,
      template: false,
      svcId,
      realId: real.id,
    },
    {
      proto: 6,
      caddr: '2001:db8:1::',
      cport: 0,
      vaddr: '2001:db8::100',
      vport: 80,
      raddr: real.address,
      state: abi.CS.NONE,
      template: true,
      svcId,
      realId: real.id,
    },
  ]);
  l.dp.close();
  lab = undefined;
  // The backup: its own datapath, the same config; the records become its inserts (ids mapped by address).
  const b = await load(PERSIST6, false);
  const mine = b.services[0]!.reals.find((x) => x.address === real.address)!;
  const entries: SyncInsert[] = ev.map((e) => ({ ...e, svcId: b.services[0]!.id, realId: mine.id, state: e.template ? 0 : abi.CS.ESTABLISHED }));
  const res = b.dp.insertSynced(entries);
  assert.deepEqual([res.inserted, res.updated, res.refused], [2, 0, 0]);
  assert.equal(conns(b, mine.id).active, 1n, 'the synced ESTABLISHED entry is counted on its real');
  // The flow's next packet on the backup follows the synced entry; a new port of the same /64 follows the template.
  const next = await native().testRun(b.dp.programFd(), { data: frame6({ ...flow, tcpFlags: ACK }), repeat: 1 });
  assert.equal(macOf(next.dataOut, 'dst'), mine.mac);
  const other = await native().testRun(b.dp.programFd(), { data: frame6({ ...flow, saddr: '2001:db8:1::99', sport: 40100, tcpFlags: SYN }), repeat: 1 });
  assert.equal(macOf(other.dataOut, 'dst'), mine.mac);
  assert.equal(abi.sumPerCpu(abi.verdicts, b.dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, native().numPossibleCpus()).tx_existing, 1n);
  // Again: the held key is updated, not inserted twice; a v6 entry with a v4 VIP is refused by name before any insert.
  assert.equal(b.dp.insertSynced(entries.slice(0, 1)).updated, 1);
  assert.throws(() => b.dp.insertSynced([{ ...entries[0]!, vaddr: '10.0.0.100' }]), /entries\[0\]\.caddr: "2001:db8:1::7" is not of the family of vaddr/);
});
