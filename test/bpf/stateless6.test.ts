// SPDX-License-Identifier: Apache-2.0
// stateless6.test.ts: established IPv6 packets of hash services forwarded without xlvs_conn6, xlvs_seen6 and the marks IPv6 entries hold.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { type Config, parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { flowHash } from '../../src/core/flowhash';
import { ipToBytes } from '../../src/core/net/addr';
import { schedHash } from '../../src/core/sched';
import { XDP_TX } from '../../src/core/verdictmodel';
import { ACK, DIRECTOR_MAC, FIN, type Frame6Spec, frame6, macOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';
import { keptAliveByBit, liveTableOf, promotedByBit, type StatelessFamily } from '../lib/statelesscases';

const VIP = '2001:db8::100';
const CLIENT = '2001:db8:1::10';
const config = (w12: number) => `
interface: eth0
conn_table_size: 65536
services:
  - vip: ${VIP}
    port: 80
    protocol: tcp
    maglev_size: 251
    reals:
      - { address: 2001:db8::11, weight: 1 }
      - { address: 2001:db8::12, weight: ${w12} }
  - vip: ${VIP}
    port: 81
    protocol: tcp
    scheduler: sh
    maglev_size: 251
    reals:
      - { address: 2001:db8::11, weight: 1 }
      - { address: 2001:db8::12, weight: 1 }
      - { address: 2001:db8::13, weight: 1 }
`;
const MACS: Record<string, string> = {
  '2001:db8::11': '02:00:00:00:00:11',
  '2001:db8::12': '02:00:00:00:00:12',
  '2001:db8::13': '02:00:00:00:00:13',
};

let dp: Datapath;
let prov: Provisioner;
let services: ServiceState[];
let tables: Map<number, Uint32Array>;
let ncpu: number;

const apply = (cfg: Config) => {
  const plan = prov.apply(cfg, (a) => MACS[a] ?? null);
  tables = plan.tables;
  services = plan.services;
};
const svcOf = (port: number) => services.find((s) => s.port === port)!;

before(async () => {
  requirePrivileges('BPF IPv6 stateless-path tests');
  ncpu = native().numPossibleCpus();
  dp = await Datapath.load({ connTableSize: 65536 });
  dp.setDirectorMac(DIRECTOR_MAC);
  prov = new Provisioner(dp);
  apply(parseConfig(config(1)));
});

after(() => dp?.close());

const verdicts = () => abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
const run = (f: Frame6Spec) => native().testRun(dp.programFd(), { data: frame6(f), repeat: 1 });
const spec = (sport: number, tcpFlags: number, dport = 80): Frame6Spec => ({ saddr: CLIENT, sport, dport, tcpFlags });
const ckey = (sport: number, dport = 80): abi.Conn6Key => ({
  saddr: Buffer.from(ipToBytes(CLIENT)),
  daddr: Buffer.from(ipToBytes(VIP)),
  sport,
  dport,
  proto: 6,
});
const bucketOf = (sport: number) => flowHash(CLIENT, VIP, sport, 80, 6) % svcOf(80).tblSize!;
const macOfReal = (s: ServiceState, id: number) => MACS[s.reals.find((r) => r.id === id)!.address];

const liveTable = (s: ServiceState) => liveTableOf(dp, s.id);

/** The IPv6 flows of the port-80 service, for the cases both families share. */
const fam = (): StatelessFamily => ({
  dp,
  run: (sport, tcpFlags) => run(spec(sport, tcpFlags)),
  entry: (sport) => dp.conns6.get(ckey(sport)),
  put: (sport, val) => dp.conns6.put(ckey(sport), val),
  macOfReal: (id) => macOfReal(svcOf(80), id)!,
});
/** Opens a connection (SYN) to port dport, returning its entry's real. */
async function open(sport: number, dport = 80): Promise<number> {
  const r = await run(spec(sport, SYN, dport));
  assert.equal(r.retval, XDP_TX);
  return dp.conns6.get(ckey(sport, dport))!.real_id;
}

test('an established IPv6 ACK of an mh service goes to its bucket owner without touching its entry; the sweeper promotes SYN_RECV from its bit', async () => {
  await promotedByBit(fam(), 41000);
  // FIN still takes the entry: the state change is recorded.
  const v1 = verdicts();
  await run(spec(41000, FIN | ACK));
  assert.equal(verdicts().tx_existing - v1.tx_existing, 1n);
  assert.equal(dp.conns6.get(ckey(41000))!.state, abi.CS.FIN_WAIT);
});

test('the sweeper keeps an established IPv6 entry alive on its bit past its idle timeout, and expires it without', () => keptAliveByBit(fam(), 41010));

test('a moved bucket keeps its IPv6 flow on its real (tx_existing); the IPv6 entry holds MOVED until it ends', async () => {
  const s = svcOf(80);
  const before = tables.get(s.id)!;
  const opened: { sport: number; real: number }[] = [];
  for (let sport = 42000; opened.length < 200; sport++) opened.push({ sport, real: await open(sport) });
  for (const o of opened) await run(spec(o.sport, ACK));
  apply(parseConfig(config(5)));
  const next = tables.get(s.id)!;
  const moved = opened.find((o) => before[bucketOf(o.sport)] !== next[bucketOf(o.sport)]);
  assert.ok(moved, 'a flow whose bucket changed owner');
  const b = bucketOf(moved.sport);
  assert.ok(liveTable(s)[b]! & abi.TBL_MOVED, 'the changed bucket is marked');
  const v0 = verdicts();
  const r = await run(spec(moved.sport, ACK));
  assert.equal(macOf(r.dataOut, 'dst'), macOfReal(s, moved.real), 'still its original real');
  assert.equal(verdicts().tx_existing - v0.tx_existing, 1n);
  // Passes with the IPv6 entry live: the sweeper holds the mark (ct_hold6), where without it two passes clear it.
  await dp.sweep();
  await dp.sweep();
  await dp.sweep();
  assert.ok(liveTable(s)[b]! & abi.TBL_MOVED, 'MOVED while a live IPv6 entry names another real');
  for (const o of opened) dp.conns6.delete(ckey(o.sport));
  await dp.sweep();
  assert.equal(liveTable(s)[b]! & abi.TBL_MOVED, 0, 'MOVED cleared once no entry differs');
  const v1 = verdicts();
  const r2 = await run(spec(moved.sport, ACK));
  assert.equal(macOf(r2.dataOut, 'dst'), macOfReal(s, next[b]!));
  assert.equal(verdicts().tx_stateless - v1.tx_stateless, 1n);
});

test('a synced IPv6 entry whose real is not its bucket owner marks the bucket, and its packets reach the synced real', async () => {
  const s = svcOf(80);
  await dp.sweep();
  await dp.sweep();
  const t = liveTable(s);
  let sport = 43000;
  while (t[bucketOf(sport)]! & abi.TBL_MOVED) sport++;
  const owner = t[bucketOf(sport)]!;
  const other = s.reals.find((r) => r.id !== owner)!;
  const res = dp.insertSynced([
    { proto: 6, caddr: CLIENT, cport: sport, vaddr: VIP, vport: 80, svcId: s.id, realId: other.id, state: abi.CS.ESTABLISHED, template: false },
  ]);
  assert.equal(res.inserted, 1);
  assert.equal((liveTable(s)[bucketOf(sport)]! & abi.TBL_MOVED) >>> 0, abi.TBL_MOVED >>> 0);
  const r = await run(spec(sport, ACK));
  assert.equal(macOf(r.dataOut, 'dst'), MACS[other.address], 'the synced real');
});

test('sh over IPv6: the stateless bucket is the hash of the folded client address, as the control plane computes it', async () => {
  const s = svcOf(81);
  const t = liveTable(s);
  const v0 = verdicts();
  let sent = 0;
  for (let i = 0; sent < 300; i++) {
    const saddr = `2001:db8:7::${(i + 1).toString(16)}`;
    const owner = t[schedHash('sh', { port: false }, { saddr, daddr: VIP, sport: 50000 + i, dport: 81, proto: 6 }) % s.tblSize!]!;
    if (owner & abi.TBL_MOVED) continue;
    const r = await run({ saddr, sport: 50000 + i, dport: 81, tcpFlags: ACK });
    assert.equal(macOf(r.dataOut, 'dst'), macOfReal(s, owner & abi.TBL_REAL_MASK), `client ${saddr}`);
    sent++;
  }
  assert.equal(verdicts().tx_stateless - v0.tx_stateless, 300n);
});

test('past the new-connection budget an IPv6 SYN of a hash service goes by the hash, unrecorded and counted', async () => {
  const s = svcOf(80);
  dp.setNewConnBudget(1);
  try {
    // The budget is per CPU per second: spend it, then SYNs within the same second are over it.
    let over = 0;
    for (let sport = 44000; sport < 44010; sport++) {
      const v0 = verdicts();
      const r = await run(spec(sport, SYN));
      assert.equal(r.retval, XDP_TX);
      const v = verdicts();
      if (v.ct_over_budget - v0.ct_over_budget === 1n) {
        over++;
        assert.equal(v.tx_new - v0.tx_new, 1n, 'a new connection all the same');
        assert.equal(dp.conns6.get(ckey(sport)), null, 'not recorded');
        assert.equal(macOf(r.dataOut, 'dst'), macOfReal(s, liveTable(s)[bucketOf(sport)]! & abi.TBL_REAL_MASK), 'to its bucket owner');
      }
    }
    assert.ok(over >= 8, `${over} of 10 SYNs over a budget of 1`);
  } finally {
    dp.setNewConnBudget(0);
  }
});

test('the IPv6 service cache never outlives a service write: persistence turned on in place takes the connection table at the next packet', async () => {
  apply(parseConfig(config(1)));
  const s = svcOf(80);
  await open(45000);
  await dp.sweep();
  await dp.sweep(); // no marks left from the earlier table changes
  const v0 = verdicts();
  await run(spec(45000, ACK)); // fills this CPU's slot
  assert.equal(verdicts().tx_stateless - v0.tx_stateless, 1n);
  // The same table (same reals and weights): only the service's value changes, and a stale slot would still forward.
  apply(
    parseConfig(
      config(1).replace(
        '    maglev_size: 251\n    reals:\n      - { address: 2001:db8::11',
        '    maglev_size: 251\n    persistence: { timeout: 60 }\n    reals:\n      - { address: 2001:db8::11',
      ),
    ),
  );
  assert.ok(svcOf(80).persistTimeout, 'persistence on');
  assert.equal(svcOf(80).id, s.id, 'changed in place');
  const v1 = verdicts();
  await run(spec(45000, ACK));
  const v2 = verdicts();
  assert.equal(v2.tx_stateless - v1.tx_stateless, 0n, 'not by a stale slot');
  assert.equal(v2.tx_existing - v1.tx_existing, 1n, 'by its entry');
  apply(parseConfig(config(1)));
});
