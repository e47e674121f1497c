// SPDX-License-Identifier: Apache-2.0
// vlanicmp.test.ts: VLAN and QinQ frames, ICMP errors for a flow and fragments through BPF_PROG_TEST_RUN: verdict, exact output bytes and counters (issue 18).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Datapath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import { Provisioner } from '../../src/adapters/provision';
import * as abi from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import type { ServiceState } from '../../src/core/director';
import { XDP_PASS, XDP_TX, xdpActionName } from '../../src/core/verdictmodel';
import { ACK, arpRequest, DIRECTOR_MAC, type FrameSpec, frame, macOf, quoteOf, SYN } from '../lib/packets';
import { requirePrivileges } from '../lib/privileged';

const CONFIG = `
interface: eth0
conn_table_size: 65536
services:
  - { vip: 10.0.0.100, port: 80, protocol: tcp, reals: [ { address: 10.0.0.11, weight: 1 }, { address: 10.0.0.12, weight: 1 } ] }
  - { vip: 10.0.0.100, port: 53, protocol: udp, reals: [ { address: 10.0.0.12, weight: 1 } ] }
`;
const MACS: Record<string, string> = { '10.0.0.11': '02:00:00:00:00:11', '10.0.0.12': '02:00:00:00:00:12' };
const ROUTER = '198.51.100.1';
const FRAG_NEEDED = { type: 3, code: 4 };

let dp: Datapath;
let services: ServiceState[];
let ncpu: number;

before(async () => {
  requirePrivileges('BPF packet tests');
  ncpu = native().numPossibleCpus();
  const cfg = parseConfig(CONFIG);
  dp = await Datapath.load({ connTableSize: cfg.conn_table_size });
  dp.setDirectorMac(DIRECTOR_MAC, []);
  ({ services } = new Provisioner(dp).apply(cfg, (a) => MACS[a] ?? null));
});

after(() => dp?.close());

const run = (data: Buffer) => native().testRun(dp.programFd(), { data, repeat: 1 });
const verdicts = (): abi.Verdicts => abi.sumPerCpu(abi.verdicts, dp.maps.xlvs_verdicts.lookup(abi.u32Key(0))!, ncpu);
const counters = (map: 'xlvs_st_svc' | 'xlvs_st_real', id: number): abi.Counters => abi.sumPerCpu(abi.counters, dp.maps[map].lookup(abi.u32Key(id))!, ncpu);

function rewritten(input: Buffer, mac: string): Buffer {
  const out = Buffer.from(input);
  abi.macToBytes(mac).copy(out, 0);
  abi.macToBytes(DIRECTOR_MAC).copy(out, 6);
  return out;
}

/** Opens a flow with an untagged SYN (or UDP datagram) and returns the MAC of the real it went to. */
async function open(spec: FrameSpec): Promise<string> {
  const r = await run(frame(spec));
  assert.equal(xdpActionName(r.retval), 'XDP_TX', 'the flow opens');
  return macOf(r.dataOut, 'dst');
}

/** The real's reply of a client flow, as a router quotes it in an ICMP error: VIP:port -> client:port. */
function replyOf(spec: FrameSpec, tcpFlags = ACK): Buffer {
  const sport = spec.dport ?? (spec.proto === 17 ? 53 : 80); // frame()'s defaults, turned round
  return frame({ proto: spec.proto, saddr: spec.daddr ?? '10.0.0.100', daddr: spec.saddr, sport, dport: spec.sport ?? 40000, tcpFlags, payload: spec.payload });
}

/** An ICMP error from the router to the VIP quoting the given datagram. */
function icmpError(quote: Buffer, icmp = FRAG_NEEDED, extra: FrameSpec = {}): Buffer {
  return frame({ proto: 1, saddr: ROUTER, daddr: '10.0.0.100', icmp: { ...icmp, rest: 1400, quote }, ...extra });
}

interface Fixture {
  description: string;
  input: Buffer;
  verdict: number;
  output?: Buffer;
  counter: keyof abi.Verdicts;
}

async function check(fixtures: Fixture[]): Promise<void> {
  for (const f of fixtures) {
    const v0 = verdicts();
    const r = await run(f.input);
    assert.equal(xdpActionName(r.retval), xdpActionName(f.verdict), f.description);
    assert.equal(r.dataOut.toString('hex'), (f.output ?? f.input).toString('hex'), `${f.description}: output bytes`);
    const v1 = verdicts();
    for (const k of abi.verdictFields) assert.equal(v1[k] - v0[k], k === f.counter ? 1n : 0n, `${f.description}: counter ${k}`);
  }
}

describe('VLAN tags', () => {
  test('tagged and QinQ frames are forwarded with their tags; a third tag, a cut tag, tagged ARP and foreign MACs are passed', async () => {
    const syn: FrameSpec = { saddr: '203.0.113.20', sport: 42000, tcpFlags: SYN };
    const tagged = frame({ ...syn, vlan: 10 });
    const real = macOf((await run(tagged)).dataOut, 'dst');
    assert.ok(Object.values(MACS).includes(real), `tagged SYN went to a real (${real})`);
    const qinq = frame({ ...syn, sport: 42001, outerVlan: 200, vlan: 10 });
    const dot1ad = frame({ ...syn, sport: 42002, outerVlan: 300 });
    const threeTags = Buffer.concat([qinq.subarray(0, 20), Buffer.from([0x81, 0x00, 0x00, 0x05]), qinq.subarray(20)]);
    const ack = frame({ ...syn, tcpFlags: ACK, vlan: 10 });
    await check([
      { description: 'ACK of the tagged flow: same real, tag 10 kept', input: ack, verdict: XDP_TX, output: rewritten(ack, real), counter: 'tx_stateless' }, // mh: its bucket kept its owner
      {
        description: 'QinQ (802.1ad 200, 802.1Q 10) SYN: forwarded, both tags kept',
        input: qinq,
        verdict: XDP_TX,
        output: rewritten(qinq, macOf((await run(frame({ ...syn, sport: 42001 }))).dataOut, 'dst')),
        counter: 'tx_existing', // the untagged twin above opened the flow: tags are no part of the connection key
      },
      {
        description: 'a lone 802.1ad tag: forwarded',
        input: dot1ad,
        verdict: XDP_TX,
        output: rewritten(dot1ad, macOf((await run(frame({ ...syn, sport: 42002 }))).dataOut, 'dst')),
        counter: 'tx_existing',
      },
      { description: 'three tags: passed', input: threeTags, verdict: XDP_PASS, counter: 'pass_not_ipv4' },
      { description: 'tag cut short (16 bytes): passed', input: tagged.subarray(0, 16), verdict: XDP_PASS, counter: 'pass_malformed' },
      { description: 'inner tag of QinQ cut short (20 bytes): passed', input: qinq.subarray(0, 20), verdict: XDP_PASS, counter: 'pass_malformed' },
      {
        description: 'tagged ARP request for the VIP: passed (the VLAN device answers)',
        input: Buffer.concat([
          arpRequest('10.0.0.1', '10.0.0.100').subarray(0, 12),
          Buffer.from([0x81, 0, 0, 10]),
          arpRequest('10.0.0.1', '10.0.0.100').subarray(12),
        ]),
        verdict: XDP_PASS,
        counter: 'pass_not_ipv4',
      },
      {
        description: "tagged SYN addressed to another host's MAC: passed",
        input: frame({ ...syn, sport: 42003, vlan: 10, dst: '02:00:00:00:00:11' }),
        verdict: XDP_PASS,
        counter: 'pass_not_for_us',
      },
      {
        description: 'tagged fragment: passed',
        input: frame({ ...syn, sport: 42004, vlan: 10, fragOff: 0x2000 }),
        verdict: XDP_PASS,
        counter: 'pass_fragment',
      },
      { description: 'tagged echo request to the VIP: passed', input: frame({ proto: 1, vlan: 10 }), verdict: XDP_PASS, counter: 'pass_no_service' },
    ]);
  });
});

describe('ICMP errors for a flow', () => {
  test('fragmentation needed, port unreachable, time exceeded quoting a known TCP or UDP flow go to its real, tagged or not; the rest passes', async () => {
    const tcp: FrameSpec = { saddr: '203.0.113.30', sport: 43000, tcpFlags: SYN };
    const udp: FrameSpec = { proto: 17, saddr: '203.0.113.30', sport: 5300, dport: 53, payload: Buffer.from('query') };
    const tcpReal = await open(tcp);
    const udpReal = await open(udp);
    const fragNeeded = icmpError(quoteOf(replyOf(tcp)));
    const udpUnreach = icmpError(quoteOf(replyOf(udp)), { type: 3, code: 3 });
    const longQuote = icmpError(quoteOf(replyOf({ ...tcp, payload: Buffer.alloc(500, 7) }), 520));
    const timeExceeded = icmpError(quoteOf(replyOf(tcp)), { type: 11, code: 0 });
    const sourceQuench = icmpError(quoteOf(replyOf(udp)), { type: 4, code: 0 });
    const taggedErr = icmpError(quoteOf(replyOf(tcp)), FRAG_NEEDED, { vlan: 10 });
    const unknown = icmpError(quoteOf(replyOf({ ...tcp, sport: 43999 })));
    const otherVip = icmpError(quoteOf(replyOf({ ...tcp, daddr: '10.0.0.99' })));
    const quotedIcmp = icmpError(quoteOf(frame({ proto: 1, saddr: '10.0.0.100', daddr: '203.0.113.30' })));
    const laterFrag = quoteOf(replyOf(tcp));
    laterFrag.writeUInt16BE(185, 6);
    const firstFrag = quoteOf(replyOf(tcp));
    firstFrag.writeUInt16BE(0x2000, 6); // MF, offset 0: the first fragment still quotes the ports
    const shortQuote = icmpError(quoteOf(replyOf(tcp), 4));
    const badIhl = quoteOf(replyOf(tcp));
    badIhl[0] = 0x44;
    const badVersion = quoteOf(replyOf(tcp));
    badVersion[0] = 0x65;
    const icmpHdrCut = icmpError(Buffer.alloc(0));
    icmpHdrCut.writeUInt16BE(20 + 4, 16); // the datagram ends 4 bytes into the ICMP header
    await check([
      {
        description: 'fragmentation needed quoting a TCP flow: to its real',
        input: fragNeeded,
        verdict: XDP_TX,
        output: rewritten(fragNeeded, tcpReal),
        counter: 'tx_icmp',
      },
      {
        description: 'port unreachable quoting a UDP flow: to its real',
        input: udpUnreach,
        verdict: XDP_TX,
        output: rewritten(udpUnreach, udpReal),
        counter: 'tx_icmp',
      },
      { description: 'a 520-byte quote (RFC 1812): to its real', input: longQuote, verdict: XDP_TX, output: rewritten(longQuote, tcpReal), counter: 'tx_icmp' },
      { description: 'time exceeded: to its real', input: timeExceeded, verdict: XDP_TX, output: rewritten(timeExceeded, tcpReal), counter: 'tx_icmp' },
      { description: 'source quench: to its real', input: sourceQuench, verdict: XDP_TX, output: rewritten(sourceQuench, udpReal), counter: 'tx_icmp' },
      {
        description: 'fragmentation needed on VLAN 10: to its real, tag kept',
        input: taggedErr,
        verdict: XDP_TX,
        output: rewritten(taggedErr, tcpReal),
        counter: 'tx_icmp',
      },
      {
        description: 'quote of a first fragment (MF, offset 0): to its real',
        input: icmpError(firstFrag),
        verdict: XDP_TX,
        output: rewritten(icmpError(firstFrag), tcpReal),
        counter: 'tx_icmp',
      },
      { description: 'quote of a flow the table does not hold: passed', input: unknown, verdict: XDP_PASS, counter: 'pass_icmp_no_flow' },
      { description: 'quote of a flow from another address: passed', input: otherVip, verdict: XDP_PASS, counter: 'pass_icmp_no_flow' },
      { description: 'quote of an ICMP datagram: passed', input: quotedIcmp, verdict: XDP_PASS, counter: 'pass_icmp_no_flow' },
      { description: 'quote of a later fragment (no ports): passed', input: icmpError(laterFrag), verdict: XDP_PASS, counter: 'pass_icmp_no_flow' },
      { description: 'quote with 4 transport bytes: passed', input: shortQuote, verdict: XDP_PASS, counter: 'pass_malformed' },
      { description: 'quote with ihl 4: passed', input: icmpError(badIhl), verdict: XDP_PASS, counter: 'pass_malformed' },
      { description: 'quote with IP version 6: passed', input: icmpError(badVersion), verdict: XDP_PASS, counter: 'pass_malformed' },
      { description: 'ICMP header beyond the IP total length: passed', input: icmpHdrCut, verdict: XDP_PASS, counter: 'pass_malformed' },
      ...[34, 41, 42, 61].map((len) => ({
        description: `fragmentation needed truncated to ${len} bytes: passed`,
        input: fragNeeded.subarray(0, len),
        verdict: XDP_PASS,
        counter: 'pass_malformed' as keyof abi.Verdicts,
      })),
      { description: 'echo request to the VIP: passed (the kernel answers)', input: frame({ proto: 1 }), verdict: XDP_PASS, counter: 'pass_no_service' },
      {
        description: 'redirect quoting a known flow: passed (IPVS forwards only the three error types)',
        input: icmpError(quoteOf(replyOf(tcp)), { type: 5, code: 1 }),
        verdict: XDP_PASS,
        counter: 'pass_no_service',
      },
      {
        description: 'an ICMP error that is itself a fragment: passed',
        input: icmpError(quoteOf(replyOf(tcp)), FRAG_NEEDED, { fragOff: 0x2000 }),
        verdict: XDP_PASS,
        counter: 'pass_fragment',
      },
    ]);
  });

  test("an ICMP error leaves its connection as it was (state, hits, clock) and counts in the service's and real's packets", async () => {
    const tcp: FrameSpec = { saddr: '203.0.113.31', sport: 43100, tcpFlags: SYN };
    const mac = await open(tcp);
    const s = services[0]!;
    const real = s.reals.find((r) => r.mac === mac)!;
    const key: abi.ConnKey = { saddr: abi.ipv4ToU32('203.0.113.31'), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 43100, dport: 80, proto: 6 };
    const c0 = dp.conns.get(key)!;
    const svc0 = counters('xlvs_st_svc', s.id);
    const real0 = counters('xlvs_st_real', real.id);
    const err = icmpError(quoteOf(replyOf(tcp)));
    for (let i = 0; i < 3; i++) assert.equal((await run(err)).retval, XDP_TX);
    assert.deepEqual(dp.conns.get(key), c0, 'the entry is unchanged');
    const svc1 = counters('xlvs_st_svc', s.id);
    const real1 = counters('xlvs_st_real', real.id);
    assert.deepEqual([svc1.packets - svc0.packets, svc1.bytes - svc0.bytes, svc1.conns - svc0.conns], [3n, BigInt(3 * (err.length - 14)), 0n]);
    assert.deepEqual([real1.packets - real0.packets, real1.conns - real0.conns], [3n, 0n]);
  });

  test('an ICMP error for a flow whose real lost its MAC is passed, and a flow the error names is never created', async () => {
    const tcp: FrameSpec = { saddr: '203.0.113.32', sport: 43200, tcpFlags: ACK };
    const key: abi.ConnKey = { saddr: abi.ipv4ToU32('203.0.113.32'), daddr: abi.ipv4ToU32('10.0.0.100'), sport: 43200, dport: 80, proto: 6 };
    const v0 = verdicts();
    assert.equal((await run(icmpError(quoteOf(replyOf(tcp))))).retval, XDP_PASS);
    assert.equal(dp.conns.get(key), null, 'no entry made for the quoted flow');
    const mac = await open(tcp);
    const s = services[0]!;
    const real = s.reals.find((r) => r.mac === mac)!;
    dp.apply([{ op: 'putReal', real: { ...real, mac: null }, fresh: false }]);
    try {
      assert.equal((await run(icmpError(quoteOf(replyOf(tcp))))).retval, XDP_PASS);
    } finally {
      dp.apply([{ op: 'putReal', real, fresh: false }]);
    }
    assert.equal(verdicts().pass_icmp_no_flow - v0.pass_icmp_no_flow, 2n);
  });
});
