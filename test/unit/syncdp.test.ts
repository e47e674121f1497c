// SPDX-License-Identifier: Apache-2.0
// syncdp.test.ts: connection sync's pure half: records decoded into events, entries encoded and checked, and emission planned through the controller.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as abi from '../../src/core/abi';
import { validateConfig } from '../../src/core/config';
import { Controller } from '../../src/core/controller';
import { bytesToIp, ipToBytes } from '../../src/core/net/addr';
import {
  decodeSyncRecords,
  encodeSyncInserts,
  encodeSyncInserts6,
  type SyncInsert,
  syncBackupProblem,
  syncInsertProblems,
  tallySyncResults,
} from '../../src/core/syncdp';
import { FakeDatapath } from '../lib/fakedatapath';

const key = (saddr: string, daddr: string, sport: number, dport: number, proto = 6) =>
  abi.connKey.encode({ saddr: abi.ipv4ToU32(saddr), daddr: abi.ipv4ToU32(daddr), sport, dport, proto });

test('records decode into events: addresses, ports, template flag, ids and age from the stamp', () => {
  const buf = Buffer.concat([
    abi.syncRec.encode({
      stamp: 1_000_000_000n,
      key: key('198.51.100.7', '10.0.0.100', 40001, 80),
      real_id: 3,
      raddr: abi.ipv4ToU32('10.0.0.12'),
      svc_id: 1,
      state: 2,
      flags: 0,
    }),
    abi.syncRec.encode({
      stamp: 1_500_000_000n,
      key: key('198.51.100.0', '10.0.0.100', 0, 0, 17),
      real_id: 4,
      raddr: abi.ipv4ToU32('10.0.0.13'),
      svc_id: 2,
      state: 0,
      flags: abi.SYNC_F_TEMPLATE,
    }),
  ]);
  assert.deepEqual(decodeSyncRecords(buf, 1_250_000_000n), [
    {
      proto: 6,
      caddr: '198.51.100.7',
      cport: 40001,
      vaddr: '10.0.0.100',
      vport: 80,
      raddr: '10.0.0.12',
      state: 2,
      template: false,
      svcId: 1,
      realId: 3,
      ageMs: 250,
    },
    // A stamp after "now" (read on another CPU a moment later) is age 0, never negative.
    { proto: 17, caddr: '198.51.100.0', cport: 0, vaddr: '10.0.0.100', vport: 0, raddr: '10.0.0.13', state: 0, template: true, svcId: 2, realId: 4, ageMs: 0 },
  ]);
  assert.throws(() => decodeSyncRecords(Buffer.alloc(41), 0n), /1 bytes at 40 are less than a 40-byte record/);
});

test('entries encode as xlvs_sync_in (template: client port 0, state NONE, the flag) and results are tallied', () => {
  const e: SyncInsert = { proto: 6, caddr: '198.51.100.7', cport: 40001, vaddr: '10.0.0.100', vport: 80, svcId: 5, realId: 9, state: 2, template: false };
  const buf = encodeSyncInserts([e, { ...e, template: true, caddr: '198.51.100.0', state: 3 }], 0, 2);
  assert.equal(buf.length, 2 * abi.syncIn.size);
  const [a, b] = [abi.syncIn.decode(buf, 0), abi.syncIn.decode(buf, abi.syncIn.size)];
  assert.deepEqual(abi.connKey.decode(a.key), { saddr: abi.ipv4ToU32('198.51.100.7'), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 40001, dport: 80, proto: 6 });
  assert.deepEqual([a.svc_id, a.real_id, a.state, a.flags, a.result], [5, 9, 2, 0, 0]);
  assert.deepEqual([abi.connKey.decode(b.key).sport, b.state, b.flags], [0, abi.CS.NONE, abi.SYNC_F_TEMPLATE]);
  buf.writeUInt8(abi.SYNC_R.INSERTED, 26);
  buf.writeUInt8(abi.SYNC_R.NO_REAL, abi.syncIn.size + 26);
  const total = { inserted: 0, updated: 0, refused: 0 };
  assert.deepEqual(tallySyncResults(buf, 2, total), [abi.SYNC_R.INSERTED, abi.SYNC_R.NO_REAL]);
  assert.deepEqual(total, { inserted: 1, updated: 0, refused: 1 });
});

test('entry checks name the field and value', () => {
  const e: SyncInsert = { proto: 6, caddr: '198.51.100.7', cport: 40001, vaddr: '10.0.0.100', vport: 80, svcId: 5, realId: 9, state: 2, template: false };
  assert.deepEqual(syncInsertProblems(e, 'e'), []);
  assert.deepEqual(syncInsertProblems({ ...e, proto: 1, cport: 70000, vaddr: '0.0.0.0', svcId: -1, realId: 1.5, state: 0 }, 'e'), [
    'e.proto: 1 is not 6 (tcp) or 17 (udp)',
    'e.vaddr: "0.0.0.0" is not a non-zero IPv4 or IPv6 address',
    'e.cport: 70000 is not a port (0-65535)',
    `e.svcId: -1 is not a service id (0-${abi.MAX_SERVICES - 1})`,
    `e.realId: 1.5 is not a real id (0-${abi.MAX_REALS - 1})`,
    'e.state: 0 is not a connection state (1-5)',
  ]);
  assert.deepEqual(syncInsertProblems({ ...e, template: true, state: 0 }, 'e'), [], 'a template has no state');
  assert.deepEqual(syncInsertProblems({ ...e, caddr: '2001:db8:1::7', vaddr: '2001:db8::100' }, 'e'), [], 'IPv6');
  assert.deepEqual(syncInsertProblems({ ...e, caddr: '2001:db8:1::7' }, 'e'), ['e.caddr: "2001:db8:1::7" is not of the family of vaddr 10.0.0.100']);
  assert.deepEqual(syncInsertProblems({ ...e, caddr: '::', vaddr: '2001:db8::100' }, 'e'), ['e.caddr: "::" is not a non-zero IPv4 or IPv6 address']);
  assert.match(syncBackupProblem(true)!, /^conn_table_per_cpu: true/);
  assert.equal(syncBackupProblem(false), undefined);
});

test('Controller.setSync: emission is planned as a setSync op, applied once, and off again on request', async () => {
  const dp = new FakeDatapath();
  const ctl = new Controller(validateConfig({ interface: 'eth0', services: [{ vip: '10.0.0.100', port: 80, reals: [{ address: '10.0.0.11' }] }] }), [], {
    datapath: dp,
    resolve: (a) => new Map(a.map((x) => [x, '02:00:00:00:00:11'])),
    check: () => undefined,
    persist: () => undefined,
    log: () => undefined,
    now: () => 0,
  });
  await ctl.sync();
  assert.ok(!dp.applied.flat().some((o) => o.op === 'setSync'), 'off after a load: nothing to write');
  const on = await ctl.setSync({ emit: true });
  assert.deepEqual(on.ops, ['connection sync emission on']);
  assert.deepEqual(dp.sync, { emit: true });
  assert.deepEqual((await ctl.sync()).ops, [], 'a re-sync writes nothing more');
  await ctl.setSync({ emit: false });
  assert.deepEqual(dp.sync, { emit: false });
  assert.deepEqual(
    dp.insertSynced([{ proto: 6, caddr: '1.2.3.4', cport: 1, vaddr: '10.0.0.100', vport: 80, svcId: 0, realId: 0, state: 2, template: false }]),
    {
      inserted: 1,
      updated: 0,
      refused: 0,
    },
  );
});

test('an IPv6 record (xlvs_sync_rec6: a head flagged XLVS_SYNC_F_INET6, then the addresses) decodes between IPv4 ones', () => {
  const v4 = abi.syncRec.encode({
    stamp: 1n,
    key: key('198.51.100.7', '10.0.0.100', 40001, 80),
    real_id: 3,
    raddr: abi.ipv4ToU32('10.0.0.12'),
    svc_id: 1,
    state: 2,
    flags: 0,
  });
  const head = abi.syncRec.encode({
    stamp: 1n,
    key: key('0.0.0.0', '0.0.0.0', 40002, 443),
    real_id: 7,
    raddr: 0,
    svc_id: 4,
    state: 1,
    flags: abi.SYNC_F_INET6,
  });
  const v6 = abi.syncRec6.encode({
    head,
    saddr: Buffer.from(ipToBytes('2001:db8:1::7')),
    daddr: Buffer.from(ipToBytes('2001:db8::100')),
    raddr: Buffer.from(ipToBytes('2001:db8::b')),
  });
  assert.equal(v6.length, 88);
  const evs = decodeSyncRecords(Buffer.concat([v4, v6, v4]), 1n);
  assert.equal(evs.length, 3);
  assert.deepEqual(evs[1], {
    proto: 6,
    caddr: '2001:db8:1::7',
    cport: 40002,
    vaddr: '2001:db8::100',
    vport: 443,
    raddr: '2001:db8::b',
    state: 1,
    template: false,
    svcId: 4,
    realId: 7,
    ageMs: 0,
  });
  assert.equal(evs[2]!.caddr, '198.51.100.7', 'the record after it starts 88 bytes on');
  assert.throws(() => decodeSyncRecords(Buffer.concat([v4, v6.subarray(0, 60)]), 1n), /less than a 88-byte IPv6 record/);
});

test('IPv6 entries encode as xlvs_sync_in6 and their results are tallied at its offsets', () => {
  const e: SyncInsert = {
    proto: 17,
    caddr: '2001:db8:1::7',
    cport: 5353,
    vaddr: '2001:db8::100',
    vport: 53,
    svcId: 5,
    realId: 9,
    state: abi.CS.UDP,
    template: false,
  };
  const buf = encodeSyncInserts6([e, { ...e, caddr: '2001:db8:1::', template: true }], 0, 2);
  assert.equal(buf.length, 2 * 64);
  const [a, b] = [abi.syncIn6.decode(buf, 0), abi.syncIn6.decode(buf, 64)];
  const ka = abi.conn6Key.decode(a.key);
  assert.deepEqual([bytesToIp(ka.saddr), bytesToIp(ka.daddr), ka.sport, ka.dport, ka.proto], ['2001:db8:1::7', '2001:db8::100', 5353, 53, 17]);
  assert.deepEqual([a.svc_id, a.real_id, a.state, a.flags], [5, 9, abi.CS.UDP, 0]);
  assert.deepEqual([abi.conn6Key.decode(b.key).sport, b.state, b.flags], [0, abi.CS.NONE, abi.SYNC_F_TEMPLATE]);
  buf.writeUInt8(abi.SYNC_R.UPDATED, 64 + 58);
  const total = { inserted: 0, updated: 0, refused: 0 };
  assert.deepEqual(tallySyncResults(buf, 2, total, true), [abi.SYNC_R.NONE, abi.SYNC_R.UPDATED]);
  assert.deepEqual(total, { inserted: 0, updated: 1, refused: 1 });
});
