// SPDX-License-Identifier: Apache-2.0
// ipvssync.test.ts: the IPVS sync v1 codec: byte-exact fixtures from the documented layout, round trips, every way a bad message is dropped.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CS } from '../../src/core/abi';
import {
  CONN_F,
  connsPerMessage,
  encodeSyncMessage,
  ipvsToXlvsState,
  SYNC_V4_SIZE,
  SYNC_V6_SIZE,
  type SyncConn,
  SyncMessageBuilder,
  syncFlags,
  syncMaxlen,
  TCP_S,
  xlvsToIpvsState,
} from '../../src/core/ipvssync';
import { decodeSyncMessage } from '../../src/core/ipvssync-decode';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const conn: SyncConn = {
  protocol: 6,
  flags: CONN_F.DROUTE | CONN_F.NOOUTPUT,
  state: TCP_S.ESTABLISHED,
  caddr: '10.0.0.2',
  cport: 40000,
  vaddr: '10.0.0.100',
  vport: 80,
  daddr: '10.0.0.11',
  dport: 80,
  fwmark: 0,
  timeout: 900,
};

/*
 * One TCP entry, syncid 7, laid out by hand from struct ip_vs_sync_mesg and struct ip_vs_sync_v4 (ip_vs_sync.c):
 *   header: 00 reserved | 07 syncid | 00 2c size 44 = 8 + 36 | 01 nr_conns | 01 version | 00 00 spare
 *   entry:  00 type IPv4 | 06 TCP | 00 24 ver 0, size 36 | 00 00 00 83 flags DROUTE(3)|NOOUTPUT(0x80)
 *           00 01 state ESTABLISHED | 9c 40 cport 40000 | 00 50 vport 80 | 00 50 dport 80
 *           00 00 00 00 fwmark | 00 00 03 84 timeout 900 s
 *           0a 00 00 02 caddr | 0a 00 00 64 vaddr | 0a 00 00 0b daddr
 */
const ONE = hex(`
  00 07 00 2c 01 01 00 00
  00 06 00 24 00 00 00 83 00 01 9c 40 00 50 00 50
  00 00 00 00 00 00 03 84 0a 00 00 02 0a 00 00 64 0a 00 00 0b`);

test('one entry encodes to the bytes of the documented layout', () => {
  assert.deepEqual(encodeSyncMessage(7, [conn]), ONE);
});

test('the fixture decodes to the entry it was built from', () => {
  const d = decodeSyncMessage(ONE);
  assert.equal(d.kind, 'ok');
  if (d.kind !== 'ok') return;
  assert.equal(d.syncid, 7);
  assert.deepEqual(d.conns, [conn]);
});

test('round trip of many entries; the builder stops at maxlen and at 255 entries', () => {
  const many = Array.from({ length: 300 }, (_, i) => ({ ...conn, cport: 1024 + i, caddr: `10.1.${i >> 8}.${i & 255}`, protocol: i % 2 ? 17 : 6, state: 0 }));
  const b = new SyncMessageBuilder(3, 1472);
  let n = 0;
  while (n < many.length && b.add(many[n]!)) n++;
  // (1472 - 8) / 36 = 40 entries at IPVS's default master maxlen.
  assert.equal(n, 40);
  assert.equal(connsPerMessage(1472), 40);
  const msg = b.finish();
  assert.equal(msg.length, 8 + 40 * SYNC_V4_SIZE);
  const d = decodeSyncMessage(msg, 3);
  assert.equal(d.kind, 'ok');
  if (d.kind === 'ok') assert.deepEqual(d.conns, many.slice(0, 40));
  const big = new SyncMessageBuilder(3, 65507);
  let m = 0;
  while (m < many.length && big.add(many[m]!)) m++;
  assert.equal(m, 255, 'nr_conns is one byte');
});

test('syncid filter: 0 takes every syncid, another syncid is ignored, not malformed', () => {
  assert.equal(decodeSyncMessage(ONE, 0).kind, 'ok');
  assert.equal(decodeSyncMessage(ONE, 7).kind, 'ok');
  assert.deepEqual(decodeSyncMessage(ONE, 8), { kind: 'ignored', syncid: 7 });
});

test('malformed messages are dropped with their reason, never thrown', () => {
  const reason = (b: Buffer) => {
    const d = decodeSyncMessage(b);
    return d.kind === 'malformed' ? d.reason : d.kind;
  };
  assert.equal(reason(ONE.subarray(0, 6)), 'short header');
  // Truncated in transit: the size field no longer matches.
  assert.equal(reason(ONE.subarray(0, 30)), 'size mismatch');
  const withSize = (b: Buffer) => {
    const c = Buffer.from(b);
    c.writeUInt16BE(c.length, 2);
    return c;
  };
  // Size consistent but the entry cut short: nr_conns promises more than is there.
  assert.equal(reason(withSize(ONE.subarray(0, 30))), 'entry truncated');
  const twoPromised = Buffer.from(ONE);
  twoPromised[4] = 2;
  assert.equal(reason(twoPromised), 'entry truncated');
  const v0 = Buffer.from(ONE);
  v0[5] = 0;
  assert.equal(reason(v0), 'version');
  const reserved = Buffer.from(ONE);
  reserved[0] = 1;
  assert.equal(reason(reserved), 'version');
  const spare = Buffer.from(ONE);
  spare[7] = 1;
  assert.equal(reason(spare), 'version');
  const entryVer = Buffer.from(ONE);
  entryVer.writeUInt16BE((1 << 12) | 36, 10);
  assert.equal(reason(entryVer), 'entry version');
  const pastEnd = Buffer.from(ONE);
  pastEnd.writeUInt16BE(40, 10);
  assert.equal(reason(pastEnd), 'entry past message');
  const small = Buffer.from(ONE);
  small.writeUInt16BE(20, 10);
  assert.equal(reason(small), 'entry too small');
  const type = Buffer.from(ONE);
  type[8] = 2;
  assert.equal(reason(type), 'entry type');
  assert.equal(reason(Buffer.alloc(0)), 'short header');
});

/** ONE with `opts` appended to its entry (entry size and message size fixed up). */
function withOptions(opts: Buffer): Buffer {
  const b = Buffer.concat([ONE, opts]);
  b.writeUInt16BE(36 + opts.length, 10);
  b.writeUInt16BE(b.length, 2);
  return b;
}

test('options: skipped by their length; bad lengths drop the message; unknown mandatory ones skip the entry', () => {
  // Sequence data: type 1, length 24 (two struct ip_vs_seq), as a NAT master sends it.
  const seq = Buffer.concat([hex('01 18'), Buffer.alloc(24, 0xee)]);
  let d = decodeSyncMessage(withOptions(seq));
  assert.equal(d.kind, 'ok');
  if (d.kind === 'ok') assert.deepEqual(d.conns, [conn]);
  // An optional parameter (bit 6 set) xlvs does not know: skipped, the entry kept.
  d = decodeSyncMessage(withOptions(hex('45 02 ab cd')));
  assert.equal(d.kind === 'ok' && d.conns.length, 1);
  // An unknown mandatory option: the entry is skipped, the message is not dropped.
  d = decodeSyncMessage(withOptions(hex('05 02 ab cd')));
  assert.equal(d.kind, 'ok');
  if (d.kind === 'ok') {
    assert.equal(d.conns.length, 0);
    assert.equal(d.skipped.mandatoryOption, 1);
  }
  const drop = (o: string) => {
    const r = decodeSyncMessage(withOptions(hex(o)));
    return r.kind === 'malformed' ? r.reason : r.kind;
  };
  assert.equal(drop('01 00'), 'option length', 'length 0');
  assert.equal(drop('45 09 ab cd'), 'option length', 'runs past the entry');
  assert.equal(drop('01 02 ab cd'), 'option length', 'sequence data must be 24 bytes');
  assert.equal(drop('45'), 'option header');
  assert.equal(drop('03 01 61 03 01 62'), 'option repeated');
});

test('entries after a padded one start 4-aligned; an IPv6 entry among IPv4 ones is read; unknown protocols are skipped and counted', () => {
  // Entry 1: IPv4 with a 4-byte optional option (size 40); entry 2: UDP with a 3-byte one (size 39, padded to 40);
  // entry 3: IPv6 (72); entry 4: SCTP (protocol 132); entry 5: plain TCP, found only if the padding was honoured.
  const e = (proto: number, opt: Buffer) => {
    const b = Buffer.concat([encodeSyncMessage(0, [{ ...conn, protocol: proto, state: proto === 17 ? 0 : conn.state }]).subarray(8), opt]);
    b.writeUInt16BE(b.length, 2);
    return b;
  };
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length & 3)) & 3)]);
  const v6 = Buffer.alloc(72);
  v6[0] = 1;
  v6[1] = 6;
  v6.writeUInt16BE(72, 2);
  const entries = [e(6, hex('45 02 aa bb')), e(17, hex('45 01 aa')), v6, e(132, Buffer.alloc(0)), e(6, Buffer.alloc(0))];
  const body = Buffer.concat([...entries.slice(0, -1).map(pad), entries.at(-1)!]);
  const head = hex('00 00 00 00 05 01 00 00');
  const msg = Buffer.concat([head, body]);
  msg.writeUInt16BE(msg.length, 2);
  const d = decodeSyncMessage(msg);
  assert.equal(d.kind, 'ok');
  if (d.kind !== 'ok') return;
  assert.deepEqual(
    d.conns.map((c) => c.protocol),
    [6, 17, 6, 6],
  );
  assert.equal(d.conns[2]!.caddr, '::');
  assert.equal(d.skipped.protocol, 1);
});

test('a TCP state past IP_VS_TCP_S_LAST skips the entry', () => {
  const b = Buffer.from(ONE);
  b.writeUInt16BE(TCP_S.LAST, 16);
  const d = decodeSyncMessage(b);
  assert.equal(d.kind === 'ok' && d.skipped.state, 1);
});

test('state mapping both ways, and the flags an xlvs entry is sent with', () => {
  assert.equal(xlvsToIpvsState(CS.ESTABLISHED, 6, false), TCP_S.ESTABLISHED);
  assert.equal(xlvsToIpvsState(CS.SYN_RECV, 6, false), TCP_S.SYN_RECV);
  assert.equal(xlvsToIpvsState(CS.FIN_WAIT, 6, false), TCP_S.FIN_WAIT);
  assert.equal(xlvsToIpvsState(CS.CLOSE, 6, false), TCP_S.CLOSE);
  assert.equal(xlvsToIpvsState(CS.UDP, 17, false), 0);
  assert.equal(xlvsToIpvsState(CS.ESTABLISHED, 6, true), 0);
  for (const cs of [CS.SYN_RECV, CS.ESTABLISHED, CS.FIN_WAIT, CS.CLOSE]) assert.equal(ipvsToXlvsState(xlvsToIpvsState(cs, 6, false), 6, false), cs);
  assert.equal(ipvsToXlvsState(TCP_S.TIME_WAIT, 6, false), CS.FIN_WAIT);
  assert.equal(ipvsToXlvsState(TCP_S.SYNACK, 6, false), CS.SYN_RECV);
  assert.equal(ipvsToXlvsState(0, 17, false), CS.UDP);
  assert.equal(syncFlags(CS.ESTABLISHED, false), 0x83);
  assert.equal(syncFlags(CS.SYN_RECV, false), 0x183);
  assert.equal(syncFlags(CS.ESTABLISHED, true), 0x1083);
});

test('sync_maxlen defaults and clamps as start_sync_thread', () => {
  assert.equal(syncMaxlen('master', 9000), 1472);
  assert.equal(syncMaxlen('backup', 9000), 8972);
  assert.equal(syncMaxlen('backup', 1280), 1472);
  assert.equal(syncMaxlen('backup', 1500, 100), 1024);
  assert.equal(syncMaxlen('master', 1500, 70000), 65507);
  assert.equal(syncMaxlen('master', 1500, 500), 500);
});

const conn6: SyncConn = {
  ...conn,
  caddr: '2001:db8:1::2',
  vaddr: '2001:db8::100',
  daddr: '2001:db8::b',
};

/*
 * One IPv6 TCP entry, syncid 7, laid out by hand from struct ip_vs_sync_v6 (ip_vs_sync.c): the first 24 bytes as the
 * IPv4 entry's but type 01 (STYPE_F_INET6) and size 00 48 (72), then three struct in6_addr in network order:
 *   header: 00 | 07 | 00 50 size 80 = 8 + 72 | 01 | 01 | 00 00
 *   entry:  01 type IPv6 | 06 TCP | 00 48 ver 0, size 72 | 00 00 00 83 flags | 00 01 state | 9c 40 | 00 50 | 00 50
 *           00 00 00 00 fwmark | 00 00 03 84 timeout
 *           20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 02  caddr 2001:db8:1::2
 *           20 01 0d b8 00 00 00 00 00 00 00 00 00 00 01 00  vaddr 2001:db8::100
 *           20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0b  daddr 2001:db8::b
 */
const ONE6 = hex(`
  00 07 00 50 01 01 00 00
  01 06 00 48 00 00 00 83 00 01 9c 40 00 50 00 50
  00 00 00 00 00 00 03 84
  20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 02
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 01 00
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0b`);

test('an IPv6 entry encodes to the bytes of struct ip_vs_sync_v6 and decodes back', () => {
  assert.deepEqual(encodeSyncMessage(7, [conn6]), ONE6);
  const d = decodeSyncMessage(ONE6);
  assert.equal(d.kind, 'ok');
  if (d.kind === 'ok') assert.deepEqual(d.conns, [conn6]);
});

test('IPv6 addresses come back in canonical text whatever spelling was sent', () => {
  const d = decodeSyncMessage(encodeSyncMessage(0, [{ ...conn6, caddr: '2001:DB8:1:0:0:0:0:2' }]));
  assert.equal(d.kind === 'ok' && d.conns[0]!.caddr, '2001:db8:1::2');
});

test('mixed families in one message: each entry keeps its own size and 4-alignment; a template round-trips', () => {
  const tpl: SyncConn = { ...conn6, caddr: '2001:db8:1::', cport: 0, flags: CONN_F.DROUTE | CONN_F.NOOUTPUT | CONN_F.TEMPLATE, state: 0, timeout: 360 };
  const list = [conn, conn6, tpl, { ...conn, protocol: 17, state: 0 }];
  const msg = encodeSyncMessage(1, list);
  assert.equal(msg.length, 8 + 36 + 72 + 72 + 36);
  assert.equal(msg[8 + 36], 1, 'the IPv6 entry starts right after the 36-byte IPv4 one');
  const d = decodeSyncMessage(msg);
  assert.equal(d.kind, 'ok');
  if (d.kind === 'ok') assert.deepEqual(d.conns, list);
});

test('the builder counts IPv6 entries at 72 bytes against maxlen', () => {
  const b = new SyncMessageBuilder(0, 1472);
  let n = 0;
  while (n < 100 && b.add({ ...conn6, cport: 2000 + n })) n++;
  assert.equal(n, Math.floor((1472 - 8) / SYNC_V6_SIZE));
});

test('an entry whose addresses mix families is refused', () => {
  assert.throws(() => encodeSyncMessage(0, [{ ...conn6, daddr: '10.0.0.11' }]), /not of one address family/);
});

test('an IPv6 entry shorter than 72 bytes drops the message', () => {
  const b = Buffer.from(ONE6);
  b.writeUInt16BE(36, 10);
  const cut = Buffer.concat([b.subarray(0, 8 + 36)]);
  cut.writeUInt16BE(cut.length, 2);
  const d = decodeSyncMessage(cut);
  assert.equal(d.kind === 'malformed' && d.reason, 'entry too small');
});
