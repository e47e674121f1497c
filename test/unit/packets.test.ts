// SPDX-License-Identifier: Apache-2.0
// packets.test.ts: the doctor's frame builders, IPv4 and IPv6 (byte-exact against the fixtures' builders, valid checksums), the never-throwing parser, and the packet-socket BPF filter run through a small cBPF interpreter.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipOf, parseFrame } from '../../src/core/packetparse';
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpWhoHas,
  buildArp,
  buildIcmp6,
  buildIcmpEcho,
  buildTcp,
  buildUdp,
  ETH_P_ARP,
  ETH_P_IPV6,
  ICMP_ECHO,
  ICMP_UNREACH,
  ICMP6_ECHO,
  ICMP6_ECHO_REPLY,
  ICMP6_UNREACH,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  inetChecksum,
  intToIpv4,
  ipv4ToInt,
  ipv6Bytes,
  isMac,
  macBytes,
  pseudoHeaderSum,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from '../../src/core/packets';
import { probeFilter } from '../../src/core/probefilter';
import { arpRequest, frame, frame6 } from '../lib/packets';

const DIR = '02:00:00:00:00:02';
const RS = '02:00:00:00:00:11';

/** Sum over the IPv4 header and over pseudo-header + L4: both must fold to zero for a valid packet. */
function checksumsValid(f: Buffer): boolean {
  const ihl = (f[14]! & 0x0f) * 4;
  if (inetChecksum(f.subarray(14, 14 + ihl)) !== 0) return false;
  const proto = f[23]!;
  const l4 = f.subarray(14 + ihl, 14 + f.readUInt16BE(16));
  if (proto === IPPROTO_ICMP) return inetChecksum(l4) === 0;
  const pseudo = Buffer.concat([f.subarray(26, 34), Buffer.from([0, proto]), Buffer.alloc(2)]);
  pseudo.writeUInt16BE(l4.length, 10);
  return inetChecksum(Buffer.concat([pseudo, l4])) === 0;
}

/** An IPv6 frame's upper-layer checksum, over the pseudo-header, folds to zero (no extension headers). */
function checksums6Valid(f: Buffer): boolean {
  const nh = f[20]!;
  const body = f.subarray(54, 54 + f.readUInt16BE(18));
  const src = f.subarray(22, 38);
  const dst = f.subarray(38, 54);
  const text = (b: Buffer) => Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i).toString(16)).join(':');
  return inetChecksum(body, pseudoHeaderSum(text(src), text(dst), nh, body.length)) === 0;
}

test('buildTcp is byte for byte what the fixture builder makes for the same SYN', () => {
  const mine = buildTcp({
    dstMac: DIR,
    srcMac: '02:00:00:00:00:01',
    saddr: '203.0.113.10',
    daddr: '10.0.0.100',
    ttl: 63,
    id: 0x1234,
    sport: 40000,
    dport: 80,
    seq: 0x01020304,
    flags: TCP_SYN,
  });
  assert.deepEqual(mine, frame({ sport: 40000, dport: 80 }));
  assert.ok(checksumsValid(mine));
});

test('buildUdp is byte for byte what the fixture builder makes, payload included', () => {
  const payload = Buffer.from('hello, real');
  const mine = buildUdp({
    dstMac: DIR,
    srcMac: '02:00:00:00:00:01',
    saddr: '203.0.113.10',
    daddr: '10.0.0.100',
    ttl: 63,
    id: 0x1234,
    sport: 40000,
    dport: 53,
    payload,
  });
  assert.deepEqual(mine, frame({ proto: 17, sport: 40000, dport: 53, payload }));
  assert.ok(checksumsValid(mine));
});

test('a SYN with an MSS option has valid checksums and parses back field for field', () => {
  const f = buildTcp({
    dstMac: RS,
    srcMac: DIR,
    saddr: '10.0.0.2',
    daddr: '10.0.0.100',
    sport: 54321,
    dport: 443,
    seq: 0xfffffff0,
    flags: TCP_SYN,
    mss: 1460,
    id: 7,
  });
  assert.equal(f.length, 14 + 20 + 24);
  assert.ok(checksumsValid(f));
  assert.equal(f.readUInt16BE(20) & 0x4000, 0x4000, 'DF set');
  const p = parseFrame(f)!;
  assert.equal(p.dstMac, RS);
  assert.equal(p.srcMac, DIR);
  assert.deepEqual(p.ipv4?.tcp, { sport: 54321, dport: 443, seq: 0xfffffff0, ack: 0, flags: TCP_SYN, mss: 1460 });
  assert.equal(p.ipv4?.saddr, '10.0.0.2');
  assert.equal(p.ipv4?.daddr, '10.0.0.100');
});

test('SYN-ACK and RST parse with their flags and acknowledgement', () => {
  const sa = parseFrame(
    buildTcp({
      dstMac: DIR,
      srcMac: RS,
      saddr: '10.0.0.100',
      daddr: '10.0.0.2',
      sport: 80,
      dport: 50000,
      seq: 9,
      ack: 101,
      flags: TCP_SYN | TCP_ACK,
      mss: 8960,
    }),
  )!;
  assert.deepEqual(sa.ipv4?.tcp, { sport: 80, dport: 50000, seq: 9, ack: 101, flags: TCP_SYN | TCP_ACK, mss: 8960 });
  const rst = parseFrame(
    buildTcp({ dstMac: DIR, srcMac: RS, saddr: '10.0.0.100', daddr: '10.0.0.2', sport: 80, dport: 50000, seq: 0, ack: 101, flags: TCP_RST | TCP_ACK }),
  )!;
  assert.equal(rst.ipv4?.tcp?.flags, TCP_RST | TCP_ACK);
  assert.equal(rst.ipv4?.tcp?.mss, undefined);
});

test('an ICMP echo has a valid checksum and parses; a port unreachable quotes the datagram it answers', () => {
  const echo = buildIcmpEcho({ dstMac: RS, srcMac: DIR, saddr: '192.0.2.1', daddr: '10.0.0.100', ident: 0xbeef, seq: 3, payload: Buffer.from('odd') });
  assert.ok(checksumsValid(echo));
  assert.deepEqual(parseFrame(echo)?.ipv4?.icmp, { type: ICMP_ECHO, code: 0, ident: 0xbeef, seq: 3 });

  // What a real sends back for a datagram to a closed port: ICMP 3/3 quoting our IPv4 header and first 8 bytes.
  const udp = buildUdp({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.2', daddr: '10.0.0.100', sport: 40001, dport: 9000 });
  const quoted = udp.subarray(14, 14 + 28);
  const icmp = Buffer.concat([Buffer.from([ICMP_UNREACH, 3, 0, 0, 0, 0, 0, 0]), quoted]);
  icmp.writeUInt16BE(inetChecksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = IPPROTO_ICMP;
  Buffer.from([10, 0, 0, 100]).copy(ip, 12);
  Buffer.from([10, 0, 0, 2]).copy(ip, 16);
  const eth = Buffer.concat([macBytes(DIR), macBytes(RS), Buffer.from([0x08, 0x00])]);
  const p = parseFrame(Buffer.concat([eth, ip, icmp]))!;
  assert.equal(p.ipv4?.icmp?.type, ICMP_UNREACH);
  assert.deepEqual(p.ipv4?.icmp?.quoted, { saddr: '10.0.0.2', daddr: '10.0.0.100', proto: IPPROTO_UDP, sport: 40001, dport: 9000 });
});

const D6 = '2001:db8::2';
const V6 = '2001:db8::100';

test('IPv6: buildTcp, buildUdp and buildIcmpEcho are byte for byte what the IPv6 fixture builder makes', () => {
  const l2 = { dstMac: DIR, srcMac: '02:00:00:00:00:01' };
  const c6 = '2001:db8:1::10';
  const syn = buildTcp({ ...l2, saddr: c6, daddr: V6, sport: 40000, dport: 80, seq: 0x01020304, flags: TCP_SYN });
  assert.deepEqual(syn, frame6({ proto: IPPROTO_TCP, saddr: c6, daddr: V6, sport: 40000, dport: 80 }));
  assert.ok(checksums6Valid(syn));
  const payload = Buffer.from('hello, real');
  const udp = buildUdp({ ...l2, saddr: c6, daddr: V6, sport: 40000, dport: 53, payload });
  assert.deepEqual(udp, frame6({ proto: IPPROTO_UDP, saddr: c6, daddr: V6, sport: 40000, dport: 53, payload }));
  assert.ok(checksums6Valid(udp));
  // The fixture writes identifier and sequence as the 4 bytes after the checksum.
  const echo = buildIcmpEcho({ ...l2, saddr: c6, daddr: V6, ident: 0xbeef, seq: 3, payload: Buffer.from('odd') });
  assert.deepEqual(echo, frame6({ proto: IPPROTO_ICMPV6, saddr: c6, daddr: V6, icmp: { type: ICMP6_ECHO, mtu: 0xbeef0003 }, payload: Buffer.from('odd') }));
  assert.ok(checksums6Valid(echo));
  // Hop limit from ttl, no IPv4 identification; mixing families is refused.
  assert.equal(buildTcp({ ...l2, saddr: c6, daddr: V6, ttl: 255, id: 9, sport: 1, dport: 2, seq: 0, flags: TCP_SYN })[21], 255);
  assert.throws(() => buildTcp({ ...l2, saddr: c6, daddr: '10.0.0.100', sport: 1, dport: 2, seq: 0, flags: TCP_SYN }), /not an IPv6 address/);
  assert.throws(() => ipv6Bytes('10.0.0.1'));
});

test('IPv6: SYN-ACK with MSS, echo reply and a port unreachable quoting the datagram parse back, addresses canonical', () => {
  const sa = parseFrame(
    buildTcp({ dstMac: DIR, srcMac: RS, saddr: '2001:DB8:0::100', daddr: D6, sport: 80, dport: 50000, seq: 9, ack: 101, flags: TCP_SYN | TCP_ACK, mss: 1440 }),
  )!;
  assert.equal(sa.ethertype, ETH_P_IPV6);
  assert.equal(sa.ipv4, undefined);
  assert.deepEqual({ saddr: sa.ipv6?.saddr, daddr: sa.ipv6?.daddr, proto: sa.ipv6?.proto }, { saddr: V6, daddr: D6, proto: IPPROTO_TCP });
  assert.deepEqual(sa.ipv6?.tcp, { sport: 80, dport: 50000, seq: 9, ack: 101, flags: TCP_SYN | TCP_ACK, mss: 1440 });
  assert.equal(ipOf(sa, V6), sa.ipv6);
  assert.equal(ipOf(sa, '10.0.0.100'), undefined);

  const reply = buildIcmp6({ dstMac: DIR, srcMac: RS, saddr: V6, daddr: '100::1', type: ICMP6_ECHO_REPLY, body: Buffer.from([0xbe, 0xef, 0, 3, 1, 2]) });
  assert.ok(checksums6Valid(reply));
  assert.deepEqual(parseFrame(reply)?.ipv6?.icmp, { type: ICMP6_ECHO_REPLY, code: 0, ident: 0xbeef, seq: 3 });
  assert.equal(parseFrame(reply)?.ipv6?.daddr, '100::1');

  // What a real sends back for a datagram to a closed port: ICMPv6 1/4 quoting the packet from its IPv6 header on.
  const udp = buildUdp({ dstMac: RS, srcMac: DIR, saddr: D6, daddr: V6, sport: 40001, dport: 9000, payload: Buffer.from('x') });
  const unreach = buildIcmp6({
    dstMac: DIR,
    srcMac: RS,
    saddr: V6,
    daddr: D6,
    type: ICMP6_UNREACH,
    code: 4,
    body: Buffer.concat([Buffer.alloc(4), udp.subarray(14)]),
  });
  assert.ok(checksums6Valid(unreach));
  const p = parseFrame(unreach)!;
  assert.equal(p.ipv6?.icmp?.type, ICMP6_UNREACH);
  assert.equal(p.ipv6?.icmp?.code, 4);
  assert.deepEqual(p.ipv6?.icmp?.quoted, { saddr: D6, daddr: V6, proto: IPPROTO_UDP, sport: 40001, dport: 9000 });
  // ICMP's type numbers mean nothing in ICMPv6: an IPv6 "type 8" is no echo.
  assert.equal(parseFrame(buildIcmp6({ dstMac: DIR, srcMac: RS, saddr: V6, daddr: D6, type: ICMP_ECHO, body: Buffer.alloc(4) }))?.ipv6?.icmp?.ident, undefined);
});

test('IPv6: parseFrame never throws on truncations, leaves out what a short or extension-headed packet hides', () => {
  const samples = [
    buildTcp({ dstMac: RS, srcMac: DIR, saddr: D6, daddr: V6, sport: 1, dport: 2, seq: 3, flags: TCP_SYN, mss: 1440 }),
    buildUdp({ dstMac: RS, srcMac: DIR, saddr: D6, daddr: V6, sport: 1, dport: 2, payload: Buffer.alloc(30, 1) }),
    buildIcmpEcho({ dstMac: RS, srcMac: DIR, saddr: D6, daddr: V6, ident: 1, seq: 1 }),
  ];
  for (const s of samples) for (let n = 0; n <= s.length; n++) parseFrame(s.subarray(0, n));
  let seed = 777;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(Array.from({ length: rnd() % 140 }, rnd));
    if (b.length > 13) b.writeUInt16BE(ETH_P_IPV6, 12);
    if (b.length > 14 && i % 2) b[14] = 0x60;
    parseFrame(b);
  }
  // Cut inside the TCP header: addresses yes, ports no.
  const cut = parseFrame(samples[0]!.subarray(0, 54 + 10))!;
  assert.equal(cut.ipv6?.saddr, D6);
  assert.equal(cut.ipv6?.tcp, undefined);
  // A hop-by-hop header before TCP: the upper layer is not read.
  const ext = frame6({ proto: IPPROTO_TCP, saddr: D6, daddr: V6, ext: [[0, Buffer.from([0, 0, 1, 4, 0, 0, 0, 0])]] });
  assert.equal(parseFrame(ext)?.ipv6?.proto, 0);
  assert.equal(parseFrame(ext)?.ipv6?.tcp, undefined);
});

test('arpWhoHas matches the fixture ARP request and is padded to the Ethernet minimum', () => {
  const mine = arpWhoHas(DIR, '10.0.0.2', '10.0.0.100');
  assert.equal(mine.length, 60);
  assert.deepEqual(mine.subarray(0, 42), arpRequest('10.0.0.2', '10.0.0.100', DIR));
  assert.deepEqual(mine.subarray(42), Buffer.alloc(18));
  assert.deepEqual(parseFrame(mine)?.arp, { op: ARP_REQUEST, sha: DIR, spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.100' });
  const reply = parseFrame(buildArp({ op: ARP_REPLY, srcMac: RS, dstMac: DIR, spa: '10.0.0.100', tpa: '10.0.0.2', tha: DIR }))!;
  assert.equal(reply.ethertype, ETH_P_ARP);
  assert.deepEqual(reply.arp, { op: ARP_REPLY, sha: RS, spa: '10.0.0.100', tha: DIR, tpa: '10.0.0.2' });
});

test('parseFrame never throws: every truncation of real frames, and random bytes', () => {
  const samples = [
    buildTcp({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.2', daddr: '10.0.0.100', sport: 1, dport: 2, seq: 3, flags: TCP_SYN, mss: 1460 }),
    buildUdp({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.2', daddr: '10.0.0.100', sport: 1, dport: 2, payload: Buffer.alloc(30, 1) }),
    buildIcmpEcho({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.2', daddr: '10.0.0.100', ident: 1, seq: 1 }),
    arpWhoHas(DIR, '10.0.0.2', '10.0.0.100'),
  ];
  for (const s of samples) for (let n = 0; n <= s.length; n++) parseFrame(s.subarray(0, n));
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(Array.from({ length: rnd() % 90 }, rnd));
    if (b.length > 13 && i % 2) b.writeUInt16BE(i % 4 ? 0x0800 : 0x0806, 12);
    if (b.length > 14 && i % 3) b[14] = 0x45;
    parseFrame(b);
  }
  assert.equal(parseFrame(Buffer.alloc(13)), null);
  // A later fragment carries no transport header: addresses yes, ports no.
  const frag = buildTcp({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.2', daddr: '10.0.0.100', sport: 1, dport: 2, seq: 3, flags: TCP_SYN });
  frag.writeUInt16BE(0x0010, 20);
  const p = parseFrame(frag)!;
  assert.equal(p.ipv4?.saddr, '10.0.0.2');
  assert.equal(p.ipv4?.tcp, undefined);
});

test('address and MAC helpers round-trip and refuse junk', () => {
  assert.equal(intToIpv4(ipv4ToInt('255.0.10.1')), '255.0.10.1');
  assert.equal(ipv4ToInt('10.0.0.2'), 0x0a000002);
  assert.ok(isMac('aa:BB:cc:00:11:22'));
  assert.ok(!isMac('aa:bb:cc:00:11'));
  assert.throws(() => macBytes('nope'));
  assert.throws(() => buildTcp({ dstMac: RS, srcMac: DIR, saddr: '10.0.0.256', daddr: '10.0.0.1', sport: 1, dport: 2, seq: 0, flags: 0 }));
});

/** Runs a classic BPF program (the subset probeFilter emits) over a frame: returns the accepted length. */
function runCbpf(prog: Buffer, le: boolean, pkt: Buffer): number {
  let a = 0;
  for (let pc = 0; pc * 8 < prog.length; ) {
    const code = le ? prog.readUInt16LE(pc * 8) : prog.readUInt16BE(pc * 8);
    const jt = prog[pc * 8 + 2]!;
    const jf = prog[pc * 8 + 3]!;
    const k = le ? prog.readUInt32LE(pc * 8 + 4) : prog.readUInt32BE(pc * 8 + 4);
    switch (code) {
      case 0x28: // ldh [k]
        if (k + 2 > pkt.length) return 0;
        a = pkt.readUInt16BE(k);
        pc++;
        break;
      case 0x20: // ld [k]
        if (k + 4 > pkt.length) return 0;
        a = pkt.readUInt32BE(k);
        pc++;
        break;
      case 0x15: // jeq #k
        pc += 1 + (a === k ? jt : jf);
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

test('the packet-socket filter keeps ARP and IPv4 to the listed addresses, in either byte order', () => {
  for (const endianness of ['LE', 'BE'] as const) {
    const prog = probeFilter(['10.0.0.2', '192.0.2.1', '10.9.9.9'], endianness);
    const le = endianness === 'LE';
    const to = (daddr: string): Buffer =>
      buildTcp({ dstMac: DIR, srcMac: RS, saddr: '10.0.0.100', daddr, sport: 80, dport: 5, seq: 0, flags: TCP_SYN | TCP_ACK });
    assert.ok(runCbpf(prog, le, to('10.0.0.2')) > 0);
    assert.ok(runCbpf(prog, le, to('192.0.2.1')) > 0);
    assert.ok(runCbpf(prog, le, to('10.9.9.9')) > 0);
    assert.equal(runCbpf(prog, le, to('10.0.0.3')), 0);
    assert.ok(runCbpf(prog, le, arpWhoHas(RS, '10.0.0.11', '10.0.0.200')) > 0);
    const v6 = Buffer.alloc(60);
    v6.writeUInt16BE(0x86dd, 12);
    assert.equal(runCbpf(prog, le, v6), 0);
    assert.equal(runCbpf(prog, le, Buffer.alloc(10)), 0);
  }
  // Both families in one filter: IPv6 to a listed address (all four words compared), nothing else.
  for (const endianness of ['LE', 'BE'] as const) {
    const le = endianness === 'LE';
    const prog = probeFilter(['10.0.0.2', D6, '192.0.2.1', '100::1'], endianness);
    const to6 = (daddr: string): Buffer => buildIcmpEcho({ dstMac: DIR, srcMac: RS, saddr: V6, daddr, ident: 1, seq: 1 });
    assert.ok(runCbpf(prog, le, to6(D6)) > 0);
    assert.ok(runCbpf(prog, le, to6('100::1')) > 0);
    for (const other of ['2001:db8::3', '2001:db9::2', '3001:db8::2', '2001:db8:0:1::2', '100::2']) assert.equal(runCbpf(prog, le, to6(other)), 0, other);
    assert.ok(
      runCbpf(prog, le, buildTcp({ dstMac: DIR, srcMac: RS, saddr: '10.0.0.100', daddr: '192.0.2.1', sport: 80, dport: 5, seq: 0, flags: TCP_SYN })) > 0,
    );
    assert.ok(runCbpf(prog, le, arpWhoHas(RS, '10.0.0.11', '10.0.0.2')) > 0);
    assert.equal(runCbpf(prog, le, buildUdp({ dstMac: DIR, srcMac: RS, saddr: '10.0.0.100', daddr: '10.0.0.3', sport: 1, dport: 2 })), 0);
    // Only IPv6 listed: IPv4 is dropped.
    const only6 = probeFilter([D6], endianness);
    assert.ok(runCbpf(only6, le, to6(D6)) > 0);
    assert.equal(runCbpf(only6, le, buildUdp({ dstMac: DIR, srcMac: RS, saddr: '10.0.0.100', daddr: '10.0.0.2', sport: 1, dport: 2 })), 0);
  }
  // An IPv6 address costs 8 instructions: the jumps past them are 8 bits wide, so the filter refuses what does not fit.
  const six = (n: number) => Array.from({ length: n }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
  const wide = probeFilter(['10.0.0.2', ...six(30)], 'LE');
  assert.ok(runCbpf(wide, true, buildIcmpEcho({ dstMac: DIR, srcMac: RS, saddr: V6, daddr: '2001:db8::1e', ident: 1, seq: 1 })) > 0);
  assert.throws(() => probeFilter(six(32), 'LE'), /8-bit jumps/);
  assert.throws(() => probeFilter(['10.0.0.2', 'nope'], 'LE'), /not an IP address/);
  // Many addresses still fit the 8-bit jump offsets.
  const many = Array.from({ length: 200 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const big = probeFilter(many, 'LE');
  const last = buildUdp({ dstMac: DIR, srcMac: RS, saddr: '1.1.1.1', daddr: many[199]!, sport: 1, dport: 2 });
  assert.ok(runCbpf(big, true, last) > 0);
  assert.throws(() => probeFilter([], 'LE'));
  assert.throws(() => probeFilter([...many, '1.2.3.4'], 'LE'));
});
