// SPDX-License-Identifier: Apache-2.0
// xdp6.test.ts: the IPv6 datapath through BPF_PROG_TEST_RUN: verdicts, exact output bytes, counters, connection states, schedulers, persistence, extension headers, fragments, ICMPv6.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { readObserved } from '../../src/adapters/pinned';
import { Provisioner } from '../../src/adapters/provision';
import { pinnedLookups } from '../../src/adapters/trace';
import * as abi from '../../src/core/abi';
import { type Config, parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { addrWord, flowHash, flowHashWords } from '../../src/core/flowhash';
import { bytesToIp, ipToBytes } from '../../src/core/net/addr';
import { plan } from '../../src/core/plan';
import { trace } from '../../src/core/trace';
import { XDP_PASS, XDP_TX } from '../../src/core/verdictmodel';
import { ACK, DIRECTOR_MAC, extHeader, FIN, type Frame6Spec, fragHeader, frame6, RST, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const VIP = '2001:db8::100';
const CONFIG = `
interface: eth0
conn_table_size: 65536
services:
  - vip: 2001:DB8:0::100
    port: 80
    protocol: tcp
    maglev_size: 251
    reals:
      - { address: 2001:db8::11, weight: 1 }
      - { address: 2001:db8::12, weight: 1 }
      - { address: 2001:db8::13, weight: 1 }
  - vip: ${VIP}
    port: 53
    protocol: udp
    scheduler: wrr
    reals:
      - { address: 2001:db8::11, weight: 2 }
      - { address: 2001:db8::12, weight: 1 }
  - vip: ${VIP}
    port: 81
    protocol: tcp
    scheduler: lc
    reals:
      - { address: 2001:db8::11, weight: 1 }
      - { address: 2001:db8::12, weight: 1 }
  - vip: ${VIP}
    port: 443
    protocol: tcp
    scheduler: sh
    persistence: { timeout: 300, netmask: 64 }
    maglev_size: 251
    reals:
      - { address: 2001:db8::11, weight: 1 }
      - { address: 2001:db8::12, weight: 1 }
      - { address: 2001:db8::13, weight: 1 }
  - vip: 10.0.0.100
    port: 80
    reals:
      - { address: 10.0.0.11 }
`;
const MAC: Record<string, string> = {
  '2001:db8::11': '02:00:00:00:00:11',
  '2001:db8::12': '02:00:00:00:00:12',
  '2001:db8::13': '02:00:00:00:00:13',
  '10.0.0.11': '02:00:00:00:00:11',
};

let dp: Datapath;
let cfg: Config;
let services: ServiceState[];
let tables: Map<number, Uint32Array>;
let ncpu: number;

function verdicts(): abi.Verdicts {
  return abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
}

/** Runs a frame; checks the verdict and that exactly one verdict counter moved, the one given. */
async function expect(f: Buffer, verdict: number, counter: keyof abi.Verdicts, what: string): Promise<Buffer> {
  const v0 = verdicts();
  const out = await native().testRun(dp.programFd(), { data: f, repeat: 1 });
  assert.equal(out.retval, verdict, `${what}: verdict`);
  const v1 = verdicts();
  for (const k of [...abi.verdictFields]) assert.equal(v1[k] - v0[k], k === counter ? 1n : 0n, `${what}: counter ${k}`);
  if (verdict !== XDP_TX) assert.deepEqual(out.dataOut, f, `${what}: passed untouched`);
  else {
    assert.deepEqual(out.dataOut.subarray(12), f.subarray(12), `${what}: only the MACs change`);
    assert.equal(abi.bytesToMac(out.dataOut.subarray(6, 12)), DIRECTOR_MAC, `${what}: source MAC`);
  }
  return out.dataOut;
}

const dstMac = (out: Buffer) => abi.bytesToMac(out.subarray(0, 6));
const svcOf = (port: number) => services.find((s) => s.port === port && s.vip === VIP)!;
const realMac = (s: ServiceState, id: number) => MAC[s.reals.find((r) => r.id === id)!.address]!;

function conns(s: ServiceState): { active: number; inactive: number } {
  const all = dp.realConns(s.reals.map((r) => r.id));
  let active = 0,
    inactive = 0;
  for (const c of all.values()) {
    active += Number(c.active);
    inactive += Number(c.inactive);
  }
  return { active, inactive };
}

before(async () => {
  requirePrivileges('BPF IPv6 packet tests');
  ncpu = native().numPossibleCpus();
  cfg = parseConfig(CONFIG);
  dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC);
  ({ services, tables } = new Provisioner(dp).apply(cfg, (a) => MAC[a] ?? null));
});

after(() => dp?.close());

test('the config keeps IPv6 addresses canonical, and the services read back from the maps as written', () => {
  assert.equal(services[0]!.vip, VIP, '2001:DB8:0::100 is stored as 2001:db8::100');
  const seen = dp.maps.xlvs_svc6.lookup(abi.svc6Key.encode({ vip: Buffer.from('20010db8000000000000000000000100', 'hex'), port: 443, proto: 6 }));
  assert.ok(seen, 'the service is in xlvs_svc6');
  const v = abi.svc.decode(seen!);
  assert.equal(v.persist_plen6, 64);
  assert.equal(v.id, svcOf(443).id);
  assert.equal(abi.real6.decode(dp.maps.xlvs_raddr6.lookup(abi.u32Key(svcOf(80).reals[0]!.id))!).addr.toString('hex'), '20010db8000000000000000000000011');
});

test('a restart reads the IPv6 services back from the pins (VIP, prefix length, reals): planning the same config again writes nothing', () => {
  const bpffs = fs.mkdtempSync('/run/xlvs-dp6-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
  const dir = path.join(bpffs, 'eth0');
  try {
    dp.pin(dir);
    const observed = readObserved(dir);
    const s443 = observed.find((o) => o.vip === VIP && o.port === 443)!;
    assert.ok(s443, 'the IPv6 service is read from xlvs_svc6');
    assert.equal(s443.persistMask, '64');
    assert.deepEqual(s443.reals.map((r) => r.address).sort(), ['2001:db8::11', '2001:db8::12', '2001:db8::13'], "the reals' addresses from xlvs_raddr6");
    assert.ok(
      observed.some((o) => o.vip === '10.0.0.100'),
      'IPv4 beside it',
    );
    const again = plan(cfg.services, observed, new Map(Object.entries(MAC)));
    assert.deepEqual(
      again.ops.filter((o) => o.op !== 'putTable' || tables.get(o.svcId)!.length !== o.table.length),
      [],
      'no service, real or resized table to write',
    );
  } finally {
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    fs.rmdirSync(dir);
    execFileSync('umount', [bpffs]);
    fs.rmdirSync(bpffs);
  }
});

test('TCP: SYN scheduled by mh (the flow hash over both addresses), ACK by the stateless path, FIN and RST on its entry, and the state counts', async () => {
  const s = svcOf(80);
  const f: Frame6Spec = { sport: 41000 };
  const want = realMac(s, tables.get(s.id)![flowHash('2001:db8:1::10', VIP, 41000, 80, 6) % s.tblSize!]!);
  assert.equal(dstMac(await expect(frame6({ ...f, tcpFlags: SYN }), XDP_TX, 'tx_new', 'SYN')), want, 'SYN to the Maglev-chosen real');
  assert.deepEqual(conns(s), { active: 0, inactive: 1 }, 'SYN_RECV counts inactive');
  // The handshake's ACK goes to the owner of its unmarked bucket without the entry; the sweeper reads its bit.
  assert.equal(dstMac(await expect(frame6({ ...f, tcpFlags: ACK }), XDP_TX, 'tx_stateless', 'ACK')), want);
  assert.deepEqual(conns(s), { active: 0, inactive: 1 }, 'the entry untouched by the ACK');
  await dp.sweep();
  assert.deepEqual(conns(s), { active: 1, inactive: 0 }, 'ESTABLISHED (from its bit) counts active');
  assert.equal(dstMac(await expect(frame6({ ...f, tcpFlags: FIN | ACK }), XDP_TX, 'tx_existing', 'FIN')), want);
  assert.deepEqual(conns(s), { active: 0, inactive: 1 }, 'FIN_WAIT counts inactive');
  assert.equal(dstMac(await expect(frame6({ ...f, tcpFlags: RST }), XDP_TX, 'tx_existing', 'RST')), want);
  const st = abi.sumPerCpu(abi.counters, dp.maps.xlvs_st_svc.lookup(abi.u32Key(s.id))!, ncpu);
  assert.equal(st.packets, 4n);
  assert.equal(st.conns, 1n);
  assert.equal(st.bytes, 4n * 60n, 'bytes: payload length + 40 per packet');
  // Many clients of one /64 spread over the reals, as IPv4 clients do.
  const hit = new Set<string>();
  for (let i = 0; i < 40; i++)
    hit.add(dstMac(await expect(frame6({ saddr: `2001:db8:1::${(i + 0x20).toString(16)}`, sport: 42000 + i }), XDP_TX, 'tx_new', 'spread')));
  assert.equal(hit.size, 3, 'every real takes some of them');
});

test('the IPv6 connection table reads back from user space: the flows, their states and reals (what xlvsadm -Lnc lists)', async () => {
  const s = svcOf(80);
  const out = await expect(frame6({ sport: 48000, tcpFlags: SYN }), XDP_TX, 'tx_new', 'SYN');
  await expect(frame6({ sport: 48000, tcpFlags: ACK }), XDP_TX, 'tx_stateless', 'ACK');
  await dp.sweep(); // ESTABLISHED from the ACK's bit
  const key = { saddr: Buffer.from(ipToBytes('2001:db8:1::10')), daddr: Buffer.from(ipToBytes(VIP)), sport: 48000, dport: 80, proto: 6 };
  const c = dp.conns6.get(key);
  assert.ok(c, 'found where ct_bucket6() put it (the nine-word hash, seeded)');
  assert.equal(c!.state, abi.CS.ESTABLISHED);
  assert.equal(realMac(s, c!.real_id), dstMac(out));
  const listed = [...dp.conns6.records()].filter((r) => r.key.sport === 48000);
  assert.equal(listed.length, 1);
  assert.equal(bytesToIp(listed[0]!.key.saddr), '2001:db8:1::10');
  assert.equal(bytesToIp(listed[0]!.key.daddr), VIP);
  assert.ok(dp.connsOf(new Set([c!.real_id])) >= 1, 'counted per real across both tables');
});

test('a purge frees exactly the entries of the reals it names, in both tables, and keeps every other', () => {
  const val = (real_id: number): abi.Conn => ({ real_id, svc_id: 1, state: abi.CS.ESTABLISHED, flags: 0, last_seen: 1, hits: 0, hits_seen: 0 });
  const k4 = (i: number): abi.ConnKey => ({
    saddr: abi.ipv4ToU32(`203.0.113.${i + 1}`),
    daddr: abi.ipv4ToU32('10.0.0.100'),
    sport: 5000 + i,
    dport: 80,
    proto: 6,
  });
  const k6 = (i: number): abi.Conn6Key => ({
    saddr: Buffer.from(ipToBytes(`2001:db8:99::${i + 1}`)),
    daddr: Buffer.from(ipToBytes(VIP)),
    sport: 5000 + i,
    dport: 80,
    proto: 6,
  });
  const [gone, kept] = [4001, 4002]; // ids no real holds: the entries are the test's own
  for (let i = 0; i < 40; i++) dp.conns.put(k4(i), val(i % 4 ? kept : gone));
  for (let i = 0; i < 12; i++) dp.conns6.put(k6(i), val(i % 3 ? kept : gone));
  const of = (id: number) => [...dp.conns.records(), ...dp.conns6.records()].filter((r) => r.val.real_id === id).length;
  assert.deepEqual([of(gone), of(kept)], [14, 38]);
  try {
    assert.equal(dp.conns.removeByReal(new Set([gone])) + dp.conns6.removeByReal(new Set([gone])), 14);
    assert.deepEqual([of(gone), of(kept)], [0, 38], 'the named real has no entry left, the other every one');
    assert.equal(dp.conns.get(k4(0)), null);
    assert.equal(dp.conns6.get(k6(0)), null);
    assert.equal(dp.conns.get(k4(1))!.real_id, kept, 'a kept entry still found where its hash puts it');
    assert.equal(dp.conns6.get(k6(1))!.real_id, kept);
    assert.equal(dp.conns.removeByReal(new Set([gone])), 0, 'a second purge finds nothing');
    // The plan's purge op names the tables of the reals' families: an IPv4 purge leaves the IPv6 table alone.
    dp.conns.put(k4(0), val(gone));
    dp.conns6.put(k6(0), val(gone));
    dp.apply([{ op: 'purgeConns', realIds: [gone], tables: [4] }]);
    assert.deepEqual([dp.conns.get(k4(0)), dp.conns6.get(k6(0))?.real_id], [null, gone]);
    dp.apply([{ op: 'purgeConns', realIds: [gone], tables: [6] }]);
    assert.equal(dp.conns6.get(k6(0)), null);
  } finally {
    dp.conns.removeByReal(new Set([gone, kept]));
    dp.conns6.removeByReal(new Set([gone, kept]));
  }
});

test('xlvs trace predicts IPv6 flows as the datapath decides them: a new flow (mh), a persistent /64, an existing entry', async () => {
  const lk = pinnedLookups(dp);
  try {
    const realOf = (t: ReturnType<typeof trace>) => (t.verdict.kind === 'new' || t.verdict.kind === 'existing' ? t.verdict.real.address : null);
    const addrOfMac = (m: string) => Object.entries(MAC).find(([a, x]) => x === m && a.includes(':'))![0];
    const t1 = trace({ client: '2001:db8:7::1', cport: 49000, vip: VIP, vport: 80, proto: 6 }, lk);
    assert.equal(t1.verdict.kind, 'new');
    const out1 = await expect(frame6({ saddr: '2001:db8:7::1', sport: 49000 }), XDP_TX, 'tx_new', 'traced flow');
    assert.equal(realOf(t1), addrOfMac(dstMac(out1)), 'the traced real is the one the datapath picked');
    const t2 = trace({ client: '2001:db8:7::1', cport: 49000, vip: VIP, vport: 80, proto: 6 }, lk);
    assert.equal(t2.verdict.kind, 'existing');
    assert.equal(realOf(t2), realOf(t1));
    const t3 = trace({ client: '2001:db8:6::ffff', cport: 1, vip: VIP, vport: 443, proto: 6 }, lk);
    assert.equal(t3.persistence?.client, '2001:db8:6::', 'the /64 the template is keyed by');
    const out3 = await expect(frame6({ saddr: '2001:db8:6::ffff', sport: 1, dport: 443 }), XDP_TX, 'tx_new', 'persistent');
    assert.equal(realOf(t3), addrOfMac(dstMac(out3)));
  } finally {
    lk.close();
  }
});

test('UDP by wrr follows the weighted cycle; lc picks the real with fewest connections', async () => {
  const u = svcOf(53);
  const macs: string[] = [];
  for (let i = 0; i < 6; i++) macs.push(dstMac(await expect(frame6({ proto: 17, dport: 53, sport: 5000 + i }), XDP_TX, 'tx_new', 'UDP')));
  const seq = tables.get(u.id)!;
  assert.deepEqual(
    macs,
    Array.from({ length: 6 }, (_, i) => realMac(u, seq[i % seq.length]!)),
    'the wrr cycle, position by position',
  );
  assert.equal(macs.filter((m) => m === '02:00:00:00:00:11').length, 4, 'weight 2 : 1');
  const l = svcOf(81);
  const first = dstMac(await expect(frame6({ dport: 81, sport: 6000 }), XDP_TX, 'tx_new', 'lc 1'));
  const second = dstMac(await expect(frame6({ dport: 81, sport: 6001 }), XDP_TX, 'tx_new', 'lc 2'));
  assert.notEqual(first, second, 'the second connection goes to the real without one');
  assert.deepEqual(conns(l), { active: 0, inactive: 2 });
});

test('persistence with netmask 64: every client of a /64 goes to one real (sh hashes the folded source), another /64 may not', async () => {
  const s = svcOf(443);
  const h = flowHashWords(addrWord('2001:db8:5::1'), 0, 0, 0);
  const owner = realMac(s, tables.get(s.id)![h % s.tblSize!]!);
  assert.equal(
    dstMac(await expect(frame6({ saddr: '2001:db8:5::1', dport: 443, sport: 7000 }), XDP_TX, 'tx_new', 'first client')),
    owner,
    'sh: the hash of the folded source',
  );
  for (let i = 2; i < 12; i++) {
    const out = await expect(frame6({ saddr: `2001:db8:5::${i.toString(16)}:${i}`, dport: 443, sport: 7000 + i }), XDP_TX, 'tx_new', 'same /64');
    assert.equal(dstMac(out), owner, `2001:db8:5::${i}:${i} follows the /64's template`);
  }
  const t = dp.maps.xlvs_persist6.lookup(abi.persist6Key.encode({ caddr: Buffer.from('20010db8000500000000000000000000', 'hex'), svc_id: s.id }));
  assert.ok(t, 'one template, keyed by the /64');
});

test('extension headers: hop-by-hop and destination options before TCP are walked; a chain past the limit is passed', async () => {
  const s = svcOf(80);
  const f: Frame6Spec = {
    sport: 43000,
    ext: [
      [0, extHeader(8)],
      [60, extHeader(16)],
    ],
  };
  const want = realMac(s, tables.get(s.id)![flowHash('2001:db8:1::10', VIP, 43000, 80, 6) % s.tblSize!]!);
  assert.equal(dstMac(await expect(frame6(f), XDP_TX, 'tx_new', 'hop-by-hop + dest opts')), want);
  const long: [number, Buffer][] = [[0, extHeader()], ...Array.from({ length: abi.IPV6_EXT_MAX }, (): [number, Buffer] => [60, extHeader()])];
  await expect(frame6({ sport: 43001, ext: long }), XDP_PASS, 'pass_ipv6_ext', 'seven extension headers');
  await expect(
    frame6({
      sport: 43002,
      ext: [
        [60, extHeader()],
        [0, extHeader()],
      ],
    }),
    XDP_PASS,
    'pass_malformed',
    'hop-by-hop not first',
  );
});

test('fragments are passed, first or later; an atomic fragment (offset 0, no more) is a whole datagram and forwarded', async () => {
  await expect(frame6({ sport: 44000, ext: [[44, fragHeader(0, true)]] }), XDP_PASS, 'pass_fragment6', 'first fragment');
  await expect(frame6({ sport: 44001, ext: [[44, fragHeader(185, false)]] }), XDP_PASS, 'pass_fragment6', 'last fragment');
  await expect(frame6({ sport: 44002, ext: [[44, fragHeader(0, false)]] }), XDP_TX, 'tx_new', 'atomic fragment');
});

test('neighbour discovery and echo are the kernel’s: passed untouched', async () => {
  for (const type of [133, 134, 135, 136, 137, 128])
    await expect(frame6({ proto: 58, icmp: { type }, daddr: type === 128 ? VIP : 'ff02::1:ff00:100' }), XDP_PASS, 'pass_no_service', `ICMPv6 type ${type}`);
});

test("packet-too-big quoting a known flow goes unchanged to that flow's real; quoting an unknown flow it is passed", async () => {
  const s = svcOf(80);
  const est = await expect(frame6({ sport: 45000, tcpFlags: SYN }), XDP_TX, 'tx_new', 'the flow');
  const before = conns(s);
  // The real's reply, VIP -> client, as the router that could not forward it quotes it.
  const reply = frame6({ saddr: VIP, daddr: '2001:db8:1::10', sport: 80, dport: 45000, tcpFlags: SYN | ACK }).subarray(14, 14 + 60);
  const ptb = frame6({ proto: 58, saddr: '2001:db8:ffff::1', daddr: VIP, icmp: { type: 2, mtu: 1280, quote: reply } });
  assert.equal(dstMac(await expect(ptb, XDP_TX, 'tx_icmp6', 'packet too big')), dstMac(est), "to the flow's real");
  assert.deepEqual(conns(s), before, 'the entry is not touched');
  const unreach = frame6({ proto: 58, saddr: '2001:db8:ffff::1', daddr: VIP, icmp: { type: 1, code: 4, quote: reply } });
  await expect(unreach, XDP_TX, 'tx_icmp6', 'destination unreachable');
  const other = frame6({ saddr: VIP, daddr: '2001:db8:1::10', sport: 80, dport: 45999 }).subarray(14, 14 + 60);
  await expect(frame6({ proto: 58, daddr: VIP, icmp: { type: 2, mtu: 1280, quote: other } }), XDP_PASS, 'pass_icmp6_no_flow', 'unknown flow');
  await expect(frame6({ proto: 58, daddr: VIP, icmp: { type: 2, quote: reply.subarray(0, 30) } }), XDP_PASS, 'pass_malformed', 'quote cut short');
});

test("VLAN-tagged IPv6 (one tag, QinQ) is forwarded with its tags kept; a tagged packet-too-big reaches its flow's real; three tags are passed", async () => {
  const s = svcOf(80);
  const c0 = conns(s);
  const one = await expect(frame6({ vlan: 10, sport: 45100, tcpFlags: SYN }), XDP_TX, 'tx_new', 'one tag');
  assert.equal(one.readUInt16BE(12), 0x8100, 'the tag stays');
  const qinq = await expect(frame6({ outerVlan: 20, vlan: 10, sport: 45101, tcpFlags: SYN }), XDP_TX, 'tx_new', 'QinQ');
  assert.deepEqual([qinq.readUInt16BE(12), qinq.readUInt16BE(16)], [0x88a8, 0x8100], 'both tags stay');
  assert.deepEqual(conns(s), { active: c0.active, inactive: c0.inactive + 2 }, 'two new flows counted');
  await expect(frame6({ vlan: 10, sport: 45100, tcpFlags: ACK }), XDP_TX, 'tx_stateless', 'the tagged flow again');
  const reply = frame6({ saddr: VIP, daddr: '2001:db8:1::10', sport: 80, dport: 45100, tcpFlags: SYN | ACK }).subarray(14, 14 + 60);
  const ptb = frame6({ vlan: 10, proto: 58, saddr: '2001:db8:ffff::1', daddr: VIP, icmp: { type: 2, mtu: 1280, quote: reply } });
  assert.equal(dstMac(await expect(ptb, XDP_TX, 'tx_icmp6', 'tagged packet too big')), dstMac(one), "to the flow's real");
  const three = frame6({ outerVlan: 20, vlan: 10, sport: 45102 });
  const t3 = Buffer.concat([three.subarray(0, 16), Buffer.from([0x81, 0x00, 0x00, 0x1e]), three.subarray(16)]);
  await expect(t3, XDP_PASS, 'pass_not_ipv4', 'three tags');
  await expect(frame6({ vlan: 10, sport: 45103 }).subarray(0, 18 + 30), XDP_PASS, 'pass_malformed', 'tagged, header cut short');
});

test('malformed IPv6: truncated header, payload length beyond the frame or zero, a source the kernel drops', async () => {
  const f = frame6({ sport: 46000 });
  await expect(f.subarray(0, 14 + 30), XDP_PASS, 'pass_malformed', 'truncated header');
  const long = Buffer.from(f);
  long.writeUInt16BE(21, 18);
  await expect(long, XDP_PASS, 'pass_malformed', 'payload length beyond the frame');
  const zero = Buffer.from(f);
  zero.writeUInt16BE(0, 18);
  await expect(zero, XDP_PASS, 'pass_malformed', 'payload length 0 (jumbogram)');
  await expect(frame6({ saddr: '::ffff:10.0.0.1', sport: 46001 }), XDP_PASS, 'pass_malformed', 'IPv4-mapped source');
  await expect(frame6({ sport: 46002, dst: '02:00:00:00:00:99' }), XDP_PASS, 'pass_not_for_us', 'another host’s MAC');
});

test('the sweeper expires idle IPv6 entries and uncounts them', async () => {
  const s = svcOf(81);
  dp.setTimeouts({ tcp: 1, tcp_fin: 1, udp: 1 });
  try {
    const c0 = conns(s);
    await expect(frame6({ dport: 81, sport: 47000, tcpFlags: ACK }), XDP_TX, 'tx_new', 'an established flow');
    assert.deepEqual(conns(s), { active: c0.active + 1, inactive: c0.inactive });
    const st0 = await dp.sweep();
    await new Promise((r) => setTimeout(r, 2600));
    const st1 = await dp.sweep();
    assert.ok(st1.expired > st0.expired, `expired ${st0.expired} -> ${st1.expired}`);
    // The SYN_RECV entries of the lc test keep IPVS's fixed 60 s; the established one is past its 1 s.
    assert.deepEqual(conns(s), { active: 0, inactive: c0.inactive }, 'the established entry expired and was uncounted');
  } finally {
    dp.setTimeouts({ tcp: 900, tcp_fin: 120, udp: 300 });
  }
});
