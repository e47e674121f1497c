// SPDX-License-Identifier: Apache-2.0
// ndp.test.ts: neighbour discovery frames: the solicitation built (bytes, groups, checksum), solicitations and advertisements read back, and which of them claim a VIP for another host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildNeighborSolicit, classifyNdp, doctorNdpVip, multicastMac, type NdpFrame, parseNdp, solicitedNode } from '../../src/core/ndp';
import { inetChecksum } from '../../src/core/packets';

const DIR_MAC = '02:00:00:00:00:02';
const RS_MAC = '02:00:00:00:00:11';
const VIP6 = '2001:db8::100';

/** An NA as the kernel sends it: solicited/override flags, target link-layer option. */
function advert(o: { from: string; to: string; target: string; srcIp: string; dstIp: string; flags?: number; tlla?: string }): Buffer {
  const ns = buildNeighborSolicit(o.from, o.srcIp, o.target);
  const f = Buffer.from(ns);
  f.write(o.to.replace(/:/g, ''), 0, 'hex');
  f.write(o.from.replace(/:/g, ''), 6, 'hex');
  Buffer.from(o.dstIp === 'ff02::1' ? 'ff020000000000000000000000000001' : '', 'hex').copy(f, 14 + 24);
  const icmp = 14 + 40;
  f[icmp] = 136;
  f[icmp + 4] = o.flags ?? 0x60;
  f[icmp + 24] = 2;
  f.write((o.tlla ?? o.from).replace(/:/g, ''), icmp + 26, 'hex');
  return f;
}

test('the solicitation: to the solicited-node group and its 33:33 MAC, hop limit 255, source option, valid ICMPv6 checksum', () => {
  assert.equal(solicitedNode(VIP6), 'ff02::1:ff00:100');
  assert.equal(solicitedNode('2001:db8::abcd:ef12'), 'ff02::1:ffcd:ef12');
  assert.equal(multicastMac('ff02::1:ff00:100'), '33:33:ff:00:01:00');
  const f = buildNeighborSolicit(DIR_MAC, '2001:db8::2', VIP6);
  assert.equal(f.length, 14 + 40 + 32);
  assert.equal(f.subarray(0, 14).toString('hex'), `3333ff000100${DIR_MAC.replace(/:/g, '')}86dd`);
  assert.equal(f[14 + 7], 255);
  // The checksum over pseudo-header and message comes out zero when verified.
  const pseudo = Buffer.concat([f.subarray(14 + 8, 14 + 40), Buffer.from([0, 0, 0, 32, 0, 0, 0, 58])]);
  assert.equal(inetChecksum(Buffer.concat([pseudo, f.subarray(54)])), 0);
  assert.deepEqual(parseNdp(f), {
    type: 'ns',
    ethSrc: DIR_MAC,
    ethDst: '33:33:ff:00:01:00',
    srcIp: '2001:db8::2',
    dstIp: 'ff02::1:ff00:100',
    target: VIP6,
    solicited: false,
    override: false,
    lladdr: DIR_MAC,
  } satisfies NdpFrame);
});

test('parseNdp ignores what is not NDP, and NDP not sent with hop limit 255', () => {
  const f = buildNeighborSolicit(DIR_MAC, '2001:db8::2', VIP6);
  const hop = Buffer.from(f);
  hop[14 + 7] = 64;
  assert.equal(parseNdp(hop), null);
  const echo = Buffer.from(f);
  echo[54] = 128;
  assert.equal(parseNdp(echo), null);
  assert.equal(parseNdp(f.subarray(0, 60)), null);
  const arp = Buffer.from(f);
  arp.writeUInt16BE(0x0806, 12);
  assert.equal(parseNdp(arp), null);
});

test('claims: an advertisement for the VIP from a real, solicited by the director or not; a solicitation from the VIP with a source option', () => {
  const vips = new Set([VIP6]);
  const answer = parseNdp(advert({ from: RS_MAC, to: DIR_MAC, target: VIP6, srcIp: VIP6, dstIp: '2001:db8::2' }));
  assert.equal(answer?.type, 'na');
  assert.equal(answer?.solicited, true);
  assert.deepEqual(classifyNdp(answer, DIR_MAC, vips), { vip: VIP6, mac: RS_MAC, kind: 'advert', answer: true });
  const unsolicited = parseNdp(advert({ from: RS_MAC, to: '33:33:00:00:00:01', target: VIP6, srcIp: VIP6, dstIp: 'ff02::1', flags: 0x20 }));
  assert.deepEqual(classifyNdp(unsolicited, DIR_MAC, vips), { vip: VIP6, mac: RS_MAC, kind: 'advert', answer: false });
  const fromVip = parseNdp(buildNeighborSolicit(RS_MAC, VIP6, '2001:db8::1'));
  assert.deepEqual(classifyNdp(fromVip, DIR_MAC, vips), { vip: VIP6, mac: RS_MAC, kind: 'request', answer: false });
});

test('no claim: the director itself, another target, a real soliciting from its own address, duplicate address detection', () => {
  const vips = new Set([VIP6]);
  const own = parseNdp(advert({ from: DIR_MAC, to: RS_MAC, target: VIP6, srcIp: VIP6, dstIp: '2001:db8::11' }));
  assert.equal(classifyNdp(own, DIR_MAC, vips), null);
  const other = parseNdp(advert({ from: RS_MAC, to: DIR_MAC, target: '2001:db8::11', srcIp: '2001:db8::11', dstIp: '2001:db8::2' }));
  assert.equal(classifyNdp(other, DIR_MAC, vips), null);
  const ordinary = parseNdp(buildNeighborSolicit(RS_MAC, '2001:db8::11', '2001:db8::1'));
  assert.equal(classifyNdp(ordinary, DIR_MAC, vips), null);
  const dad = parseNdp(buildNeighborSolicit(RS_MAC, '2001:db8::11', VIP6));
  assert.ok(dad);
  assert.equal(classifyNdp({ ...dad, srcIp: '::', lladdr: null }, DIR_MAC, vips), null);
  assert.equal(classifyNdp(null, DIR_MAC, vips), null);
});

test("doctor's ndp-vip: another MAC answering fails naming the real; none passes; no IPv6 source address skips", () => {
  const reals = new Map([[RS_MAC, '2001:db8::11']]);
  const bad = doctorNdpVip(VIP6, DIR_MAC, [DIR_MAC, RS_MAC, RS_MAC], reals, true);
  assert.equal(bad.status, 'fail');
  assert.match(bad.detail, /answered by 02:00:00:00:00:11 \(real 2001:db8::11\)/);
  assert.match(bad.hint!, /on 2001:db8::11: xlvs realserver check --vip 2001:db8::100/);
  assert.equal(doctorNdpVip(VIP6, DIR_MAC, [DIR_MAC], reals, true).status, 'pass');
  assert.match(doctorNdpVip(VIP6, DIR_MAC, [], reals, false).detail, /does not hold 2001:db8::100 now/);
  assert.equal(doctorNdpVip(VIP6, DIR_MAC, null, reals, true).status, 'skip');
});
