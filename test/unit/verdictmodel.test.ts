// SPDX-License-Identifier: Apache-2.0
// verdictmodel.test.ts: the verdict model against the fixture frames of test/bpf/xdp.test.ts (one per README row), and the fuzzer's determinism from its seed.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameFuzzer, type FuzzWorld } from '../../src/core/framefuzz';
import { Rng } from '../../src/core/rng';
import { compileWorld, modelVerdict, outputProblem, VERDICT_CLASSES, type VerdictClass } from '../../src/core/verdictmodel';
import { ACK, arpRequest, DIRECTOR_MAC, frame, ipv6Frame, quoteOf, SYN } from '../lib/packets';

const VMAC = '00:00:5e:00:01:33';
const world = compileWorld({
  nicMac: DIRECTOR_MAC,
  acceptMacs: [VMAC],
  services: [
    { vip: '10.0.0.100', port: 80, proto: 6, realMacs: ['02:00:00:00:00:11', '02:00:00:00:00:12'] },
    { vip: '10.0.0.100', port: 53, proto: 17, realMacs: ['02:00:00:00:00:11'] },
    { vip: '10.0.0.101', port: 80, proto: 6, realMacs: [] },
    { vip: '10.0.0.102', port: 0, proto: 6, realMacs: ['02:00:00:00:00:12'] },
  ],
});

describe('verdict model', () => {
  const syn = { sport: 41000, tcpFlags: SYN };
  const udp = { proto: 17, dport: 53, sport: 5353, payload: Buffer.from('query') };
  const at = (f: Buffer, edit: (b: Buffer) => void) => {
    const b = Buffer.from(f);
    edit(b);
    return b;
  };
  const cases: [string, Buffer, VerdictClass, string][] = [
    ['TCP SYN to a service', frame(syn), 'forward', 'XDP_TX'],
    ['ACK to a service', frame({ ...syn, tcpFlags: ACK }), 'forward', 'XDP_TX'],
    ['UDP to a service', frame(udp), 'forward', 'XDP_TX'],
    ['IPv4 options', frame({ ...syn, ipOptions: Buffer.from([1, 1, 1, 0]) }), 'forward', 'XDP_TX'],
    ['Ethernet padding', Buffer.concat([frame(syn), Buffer.alloc(6)]), 'forward', 'XDP_TX'],
    ['to the VRRP MAC', frame({ ...syn, dst: VMAC }), 'forward', 'XDP_TX'],
    ['port-0 service, any port', frame({ ...syn, daddr: '10.0.0.102', dport: 12345 }), 'forward', 'XDP_TX'],
    ['no real can take it', frame({ ...syn, daddr: '10.0.0.101' }), 'forward', 'XDP_DROP'],
    ["another host's MAC", frame({ ...syn, dst: '02:00:00:00:00:11' }), 'pass_not_for_us', 'XDP_PASS'],
    ['broadcast', frame({ ...syn, dst: 'ff:ff:ff:ff:ff:ff' }), 'pass_not_for_us', 'XDP_PASS'],
    [
      'malformed IPv4 to another MAC: the MAC is checked first',
      at(frame({ ...syn, dst: '02:00:00:00:00:11' }), (b) => {
        b[14] = 0x44;
      }),
      'pass_not_for_us',
      'XDP_PASS',
    ],
    ['another port', frame({ ...syn, dport: 443 }), 'pass_no_service', 'XDP_PASS'],
    ['UDP to the TCP port', frame({ ...udp, dport: 80 }), 'pass_no_service', 'XDP_PASS'],
    ['ICMP to the VIP', frame({ proto: 1 }), 'pass_no_service', 'XDP_PASS'],
    ['ARP', arpRequest('10.0.0.1', '10.0.0.100'), 'pass_not_ipv4', 'XDP_PASS'],
    ['IPv6 to no service', ipv6Frame(), 'pass_no_service', 'XDP_PASS'],
    ['VLAN-tagged', frame({ ...syn, vlan: 100 }), 'forward', 'XDP_TX'],
    ['QinQ', frame({ ...syn, outerVlan: 200, vlan: 100 }), 'forward', 'XDP_TX'],
    ['VLAN tag cut short', frame({ ...syn, vlan: 100 }).subarray(0, 16), 'pass_malformed', 'XDP_PASS'],
    ['three tags', at(frame({ ...syn, outerVlan: 200, vlan: 100 }), (b) => b.writeUInt16BE(0x8100, 20)), 'pass_not_ipv4', 'XDP_PASS'],
    [
      'fragmentation needed quoting a flow of a service',
      frame({ proto: 1, icmp: { type: 3, code: 4, quote: quoteOf(frame({ saddr: '10.0.0.100', daddr: '203.0.113.10', sport: 80, dport: 41000 })) } }),
      'icmp_error',
      'XDP_TX',
    ],
    [
      'port unreachable quoting no service',
      frame({ proto: 1, icmp: { type: 3, code: 3, quote: quoteOf(frame({ saddr: '10.0.0.100', daddr: '203.0.113.10', sport: 81, dport: 41000 })) } }),
      'pass_icmp_no_flow',
      'XDP_PASS',
    ],
    [
      'ICMP error quoting 4 transport bytes',
      frame({ proto: 1, icmp: { type: 3, code: 4, quote: quoteOf(frame({ saddr: '10.0.0.100', daddr: '203.0.113.10', sport: 80 }), 4) } }),
      'pass_malformed',
      'XDP_PASS',
    ],
    ['first fragment', frame({ ...syn, fragOff: 0x2000 }), 'pass_fragment', 'XDP_PASS'],
    ['later fragment', frame({ ...udp, fragOff: 185 }), 'pass_fragment', 'XDP_PASS'],
    ['the reserved flag bit is no fragment', frame({ ...syn, fragOff: 0x8000 }), 'forward', 'XDP_TX'],
    [
      'ihl 4',
      at(frame(syn), (b) => {
        b[14] = 0x44;
      }),
      'pass_malformed',
      'XDP_PASS',
    ],
    [
      'version 6',
      at(frame(syn), (b) => {
        b[14] = 0x65;
      }),
      'pass_malformed',
      'XDP_PASS',
    ],
    ['total length below the header', at(frame(syn), (b) => b.writeUInt16BE(19, 16)), 'pass_malformed', 'XDP_PASS'],
    ['total length beyond the frame', at(frame(syn), (b) => b.writeUInt16BE(41, 16)), 'pass_malformed', 'XDP_PASS'],
    [
      'TCP doff 4',
      at(frame(syn), (b) => {
        b[14 + 20 + 12] = 4 << 4;
      }),
      'pass_malformed',
      'XDP_PASS',
    ],
    [
      'TCP doff past the segment',
      at(frame(syn), (b) => {
        b[14 + 20 + 12] = 15 << 4;
      }),
      'pass_malformed',
      'XDP_PASS',
    ],
    ['TCP header in the padding', at(frame(syn), (b) => b.writeUInt16BE(30, 16)), 'pass_malformed', 'XDP_PASS'],
    ['UDP length 7', at(frame(udp), (b) => b.writeUInt16BE(7, 14 + 20 + 4)), 'pass_malformed', 'XDP_PASS'],
    ['UDP length past the datagram', at(frame(udp), (b) => b.writeUInt16BE(14, 14 + 20 + 4)), 'pass_malformed', 'XDP_PASS'],
    ['UDP header in the padding', at(frame(udp), (b) => b.writeUInt16BE(24, 16)), 'pass_malformed', 'XDP_PASS'],
    ...[0, 13, 14, 15, 33, 34, 35, 53].map((n): [string, Buffer, VerdictClass, string] => [
      `TCP truncated to ${n}`,
      frame(syn).subarray(0, n),
      'pass_malformed',
      'XDP_PASS',
    ]),
  ];
  for (const [what, f, cls, action] of cases) {
    test(what, () => {
      const v = modelVerdict(world, f);
      assert.equal(v.cls, cls, v.why);
      assert.equal(v.action, action, v.why);
    });
  }

  test('a forwarded frame may change its two MACs only, to a real of its service and the NIC MAC', () => {
    const f = frame(syn);
    const v = modelVerdict(world, f);
    const out = Buffer.from(f);
    Buffer.from('020000000012', 'hex').copy(out, 0);
    Buffer.from(DIRECTOR_MAC.split(':').join(''), 'hex').copy(out, 6);
    assert.equal(outputProblem(world, v, f, out), null);
    assert.match(
      outputProblem(
        world,
        v,
        f,
        at(out, (b) => {
          b[5] = 0x13;
        }),
      )!,
      /not a real/,
    );
    assert.match(
      outputProblem(
        world,
        v,
        f,
        at(out, (b) => {
          b[11] = 0x99;
        }),
      )!,
      /not the NIC MAC/,
    );
    assert.match(
      outputProblem(
        world,
        v,
        f,
        at(out, (b) => {
          b[30]! ^= 1;
        }),
      )!,
      /after the MACs/,
    );
    const pass = modelVerdict(world, frame({ ...syn, dport: 443 }));
    assert.match(outputProblem(world, pass, frame({ ...syn, dport: 443 }), out)!, /XDP_PASS frame changed/);
  });
});

describe('frame fuzzer', () => {
  const fw: FuzzWorld = {
    directorMacs: [DIRECTOR_MAC, VMAC],
    otherMacs: ['02:00:00:00:00:11'],
    services: [
      { vip: '10.0.0.100', port: 80, proto: 6 },
      { vip: '10.0.0.102', port: 0, proto: 6 },
    ],
    otherAddrs: ['10.0.0.2'],
    clients: ['203.0.113.1'],
  };

  test('the same seed gives the same frames; another seed others', () => {
    const a = new FrameFuzzer(fw, 42),
      b = new FrameFuzzer(fw, 42),
      c = new FrameFuzzer(fw, 43);
    let same = 0;
    for (let i = 0; i < 2000; i++) {
      const x = a.next(),
        y = b.next(),
        z = c.next();
      assert.equal(x.frame.toString('hex'), y.frame.toString('hex'));
      assert.equal(x.recipe, y.recipe);
      if (x.frame.equals(z.frame)) same++;
    }
    assert.ok(same < 100, `${same} of 2000 frames equal across seeds`);
  });

  test('mulberry32 keeps to its range', () => {
    const r = new Rng(7);
    for (let i = 0; i < 10000; i++) {
      const x = r.range(3, 9);
      assert.ok(x >= 3 && x <= 9 && Number.isInteger(x));
    }
  });

  test('frames are 14..1514 bytes, every class of the model appears', () => {
    const f = new FrameFuzzer(fw, 1);
    const m = compileWorld({ nicMac: DIRECTOR_MAC, acceptMacs: [VMAC], services: fw.services.map((s) => ({ ...s, realMacs: ['02:00:00:00:00:11'] })) });
    const seen = new Set<string>();
    for (let i = 0; i < 20000; i++) {
      const { frame: b } = f.next();
      assert.ok(b.length >= 14 && b.length <= 1514, `${b.length}`);
      seen.add(modelVerdict(m, b).cls);
    }
    assert.equal(seen.size, VERDICT_CLASSES.length, [...seen].join(' '));
  });
});
