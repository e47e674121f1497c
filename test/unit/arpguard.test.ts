// SPDX-License-Identifier: Apache-2.0
// arpguard.test.ts: the ARP guard without root: which ARP frames claim a VIP, how long a claim lasts, and the guard over a fake packet socket (passive watch between rounds, active rounds, a failing socket).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArpGuard, type FrameSocket } from '../../src/adapters/arpguard';
import { CLEAR_AFTER, ClaimBook, classifyArp } from '../../src/core/arpguard';
import { parseFrame } from '../../src/core/packetparse';
import { ARP_REPLY, ARP_REQUEST, buildArp, macBytes } from '../../src/core/packets';
import { arpRequest, DIRECTOR_MAC, frame, ROUTER_MAC } from '../lib/packets';

const VIP = '10.0.0.100';
const VIPS = new Set([VIP, '10.0.0.101']);
const REAL_MAC = '02:00:00:00:00:11';
const DIRECTOR_IP = '10.0.0.2';
const ROUTER_IP = '10.0.0.1';

/** An ARP reply "spa is at sha" to `to` (the Ethernet source is sha unless given). */
const arpReply = (spa: string, sha: string, tpa = DIRECTOR_IP, to = DIRECTOR_MAC, ethSrc = sha) => {
  const b = buildArp({ op: ARP_REPLY, srcMac: sha, dstMac: to, spa, tpa, tha: to });
  // buildArp takes the sender hardware address from the Ethernet source; a proxy may send another one.
  macBytes(ethSrc).copy(b, 6);
  return b;
};
const classify = (b: Buffer) => classifyArp(parseFrame(b), DIRECTOR_MAC, VIPS);

test('classify: replies, gratuitous ARP and announcements from the VIP by another MAC are claims', () => {
  assert.deepEqual(classify(arpReply(VIP, REAL_MAC)), { vip: VIP, mac: REAL_MAC, kind: 'reply', answer: true });
  assert.deepEqual(
    classify(arpReply(VIP, REAL_MAC, VIP, 'ff:ff:ff:ff:ff:ff')),
    { vip: VIP, mac: REAL_MAC, kind: 'reply', answer: false },
    'an unsolicited reply (arping -A) answers nobody',
  );
  assert.deepEqual(classify(arpRequest(VIP, VIP, REAL_MAC)), { vip: VIP, mac: REAL_MAC, kind: 'gratuitous', answer: false });
  assert.deepEqual(
    classify(arpRequest('10.0.0.101', ROUTER_IP, REAL_MAC)),
    { vip: '10.0.0.101', mac: REAL_MAC, kind: 'request', answer: false },
    'arp_announce=0: asking for the router from the VIP',
  );
  assert.deepEqual(
    classify(arpReply(VIP, '02:AA:00:00:00:11')),
    { vip: VIP, mac: '02:aa:00:00:00:11', kind: 'reply', answer: true },
    'MACs compare lower-case',
  );
  assert.deepEqual(
    classify(arpReply(VIP, REAL_MAC, DIRECTOR_IP, DIRECTOR_MAC, ROUTER_MAC)),
    { vip: VIP, mac: REAL_MAC, kind: 'reply', answer: true },
    'the sender hardware address is what hearers learn, whoever framed it',
  );
});

test('classify: the director itself, questions for the VIP, other addresses, probes and non-ARP frames are not', () => {
  assert.equal(classify(arpRequest(VIP, VIP, DIRECTOR_MAC)), null, 'the director announcing its own VIP');
  assert.equal(classifyArp(parseFrame(arpReply(VIP, DIRECTOR_MAC)), DIRECTOR_MAC.toUpperCase(), VIPS), null, 'own MAC given in upper case');
  assert.equal(classify(arpRequest(ROUTER_IP, VIP, ROUTER_MAC)), null, 'the router asking who has the VIP');
  assert.equal(classify(arpRequest(ROUTER_IP, DIRECTOR_IP, REAL_MAC)), null, 'a request for a non-VIP');
  assert.equal(classify(arpReply('10.0.0.11', REAL_MAC)), null, 'a reply for a non-VIP');
  assert.equal(classify(arpRequest('0.0.0.0', VIP, REAL_MAC)), null, 'an ARP probe (RFC 5227) claims nothing');
  assert.equal(classify(arpReply(VIP, '00:00:00:00:00:00')), null);
  assert.equal(classify(arpReply(VIP, '01:00:5e:00:00:01')), null, 'a multicast sender address');
  const op3 = arpReply(VIP, REAL_MAC);
  op3.writeUInt16BE(3, 20); // RARP request
  assert.equal(classify(op3), null);
  assert.equal(classify(arpReply(VIP, REAL_MAC).subarray(0, 40)), null, 'truncated');
  assert.equal(classify(frame({ saddr: VIP, daddr: ROUTER_IP })), null, 'IPv4, not ARP');
  assert.equal(classifyArp(null, DIRECTOR_MAC, VIPS), null);
  assert.equal(classifyArp(parseFrame(arpReply(VIP, REAL_MAC)), DIRECTOR_MAC, new Set()), null, 'no VIPs configured');
});

test('claims: one per (VIP, MAC); an answering claim ends after CLEAR_AFTER silent rounds, an announced one also needs holdMs', () => {
  const b = new ClaimBook(10_000);
  const realOf = (m: string) => (m === REAL_MAC ? '10.0.0.11' : null);
  const first = b.seen({ vip: VIP, mac: REAL_MAC, kind: 'reply', answer: true }, realOf, 1000);
  assert.deepEqual(first, { vip: VIP, mac: REAL_MAC, real: '10.0.0.11', since: 1000, lastSeen: 1000 });
  assert.equal(b.seen({ vip: VIP, mac: REAL_MAC, kind: 'reply', answer: true }, realOf, 1500), null, 'seen again: no new claim');
  assert.deepEqual(b.seen({ vip: VIP, mac: '02:00:00:00:00:99', kind: 'gratuitous', answer: false }, realOf, 1500)?.real, null);
  assert.deepEqual(
    b.list(VIP).map((c) => c.mac),
    [REAL_MAC, '02:00:00:00:00:99'],
  );
  assert.deepEqual(b.round([VIP], 2000), [], 'seen during the round');
  for (let i = 1; i < CLEAR_AFTER; i++) assert.deepEqual(b.round([VIP], 2000 + i * 2000), []);
  const ended = b.round([VIP], 2000 + CLEAR_AFTER * 2000);
  assert.deepEqual(ended, [{ vip: VIP, mac: REAL_MAC, real: '10.0.0.11', since: 1000, lastSeen: 1500 }]);
  assert.deepEqual(
    b.list().map((c) => c.mac),
    ['02:00:00:00:00:99'],
    'the gratuitous one is still held',
  );
  assert.deepEqual(b.round([VIP], 11_499), [], 'held until 10 s after its last frame');
  assert.deepEqual(
    b.round([VIP], 11_500).map((c) => c.mac),
    ['02:00:00:00:00:99'],
  );
  // A frame resets the count; a VIP leaving the config drops its claims without an "ended".
  b.seen({ vip: '10.0.0.101', mac: REAL_MAC, kind: 'reply', answer: true }, realOf, 20_000);
  b.round(['10.0.0.101'], 20_100);
  b.round(['10.0.0.101'], 20_200);
  b.seen({ vip: '10.0.0.101', mac: REAL_MAC, kind: 'reply', answer: true }, realOf, 20_250);
  b.round(['10.0.0.101'], 20_300);
  assert.deepEqual(b.round(['10.0.0.101'], 20_400), [], 'the count restarted at the frame');
  assert.deepEqual(b.round([VIP], 20_500), []);
  assert.deepEqual(b.list(), []);
});

/** A packet socket in memory: frames pushed by the test come out of recv, frames sent are kept (and answered by `answer`). */
class FakeSocket implements FrameSocket {
  sent: Buffer[] = [];
  closed = false;
  answer: ((b: Buffer) => Buffer | null) | undefined;
  private readonly queue: Buffer[] = [];
  private waiter: { resolve(b: Buffer | null): void; reject(e: Error): void } | undefined;

  send(b: Buffer): number {
    this.sent.push(b);
    const a = this.answer?.(b);
    if (a) setImmediate(() => this.push(a));
    return b.length;
  }
  push(b: Buffer): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.resolve(b);
    else this.queue.push(b);
  }
  fail(e: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }
  recv(ms: number): Promise<Buffer | null> {
    if (this.closed) return Promise.resolve(null);
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve(null);
      }, ms);
      this.waiter = {
        resolve: (b) => {
          clearTimeout(t);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
    });
  }
  close(): void {
    this.closed = true;
    this.push(null as unknown as Buffer);
  }
}

interface Ev {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
  at: number;
}

function guard(o: { intervalMs: number; holdMs?: number; address?: string | null; sockets?: FakeSocket[] }) {
  const events: Ev[] = [];
  const sockets = o.sockets ?? [];
  const made: FakeSocket[] = [];
  const g = new ArpGuard({
    ifindex: 7,
    mac: DIRECTOR_MAC.toUpperCase(),
    address: () => (o.address === undefined ? DIRECTOR_IP : o.address),
    vips: () => [...VIPS],
    realOf: (m) => (m === REAL_MAC ? '10.0.0.11' : null),
    intervalMs: o.intervalMs,
    ...(o.holdMs !== undefined ? { holdMs: o.holdMs } : {}),
    event: (level, msg, fields) => void events.push({ level, msg, fields, at: Date.now() }),
    socket: () => {
      const s = sockets.shift() ?? new FakeSocket();
      made.push(s);
      return s;
    },
  });
  const waitFor = async (what: string, pred: () => boolean, ms = 3000) => {
    for (const end = Date.now() + ms; !pred(); ) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const claims = (mac?: string) => events.filter((e) => e.msg === 'VIP claimed by another MAC' && (!mac || e.fields.mac === mac));
  return { g, events, made, waitFor, claims };
}

test('passive watch: an announcement between rounds is reported at once, naming MAC and real, once per (VIP, MAC)', async () => {
  // One round at start, the next an hour later: anything reported meanwhile came from the watch.
  const t = guard({ intervalMs: 3_600_000, address: null });
  t.g.start();
  try {
    const s = t.made[0]!;
    assert.ok(s, 'the watch opened its socket at start, even with no address to ask from');
    s.push(arpRequest(ROUTER_IP, VIP, ROUTER_MAC));
    s.push(arpRequest(VIP, VIP, DIRECTOR_MAC));
    s.push(arpRequest('10.0.0.11', ROUTER_IP, REAL_MAC));
    s.push(arpRequest(VIP, VIP, REAL_MAC));
    await t.waitFor('the gratuitous ARP', () => t.claims().length === 1);
    assert.equal(t.g.frames, 4);
    const e = t.claims()[0]!;
    assert.equal(e.level, 'error');
    assert.deepEqual(e.fields, {
      event: 'arp-guard',
      vip: VIP,
      mac: REAL_MAC,
      real: '10.0.0.11',
      arp: 'gratuitous',
      fix: `on 10.0.0.11: xlvs realserver setup --vip ${VIP} (arp_ignore=1, arp_announce=2)`,
    });
    s.push(arpRequest(VIP, VIP, REAL_MAC));
    s.push(arpReply(VIP, REAL_MAC));
    s.push(arpRequest('10.0.0.101', ROUTER_IP, '02:00:00:00:00:99'));
    await t.waitFor('every frame read', () => t.g.frames === 7);
    assert.deepEqual(
      t.claims().map((c) => [c.fields.vip, c.fields.mac, c.fields.real, c.fields.arp]),
      [
        [VIP, REAL_MAC, '10.0.0.11', 'gratuitous'],
        ['10.0.0.101', '02:00:00:00:00:99', null, 'request'],
      ],
    );
    assert.deepEqual(
      t.g.claimsOf(VIP).map((c) => c.mac),
      [REAL_MAC],
    );
    assert.equal(s.sent.length, 0, 'no address: no questions asked');
  } finally {
    await t.g.stop();
  }
  assert.equal(t.made[0]!.closed, true, 'stop closes the socket');
});

test('active rounds: who-has for every VIP from the director; an answering MAC is one claim until it stops answering', async () => {
  let answering = true;
  const s = new FakeSocket();
  s.answer = (b) => {
    const a = parseFrame(b)?.arp;
    return answering && a?.op === ARP_REQUEST && a.tpa === VIP ? arpReply(VIP, REAL_MAC, a.spa, a.sha) : null;
  };
  const t2 = guard({ intervalMs: 200, holdMs: 60_000, sockets: [s] });
  t2.g.start();
  try {
    await t2.waitFor('the claim', () => t2.claims().length === 1);
    assert.deepEqual([t2.claims()[0]!.fields.mac, t2.claims()[0]!.fields.arp], [REAL_MAC, 'reply']);
    const asked = s.sent.slice(0, 2).map((b) => parseFrame(b)!);
    assert.deepEqual(
      asked.map((f) => [f.dstMac, f.srcMac, f.arp?.op, f.arp?.sha, f.arp?.spa, f.arp?.tpa]),
      [
        ['ff:ff:ff:ff:ff:ff', DIRECTOR_MAC, ARP_REQUEST, DIRECTOR_MAC, DIRECTOR_IP, VIP],
        ['ff:ff:ff:ff:ff:ff', DIRECTOR_MAC, ARP_REQUEST, DIRECTOR_MAC, DIRECTOR_IP, '10.0.0.101'],
      ],
    );
    const r0 = t2.g.rounds;
    await t2.waitFor('more rounds', () => t2.g.rounds >= r0 + CLEAR_AFTER + 1);
    assert.equal(t2.claims().length, 1, 'still one claim while it keeps answering');
    answering = false;
    // A claim last seen as a reply needs no hold: it ends after CLEAR_AFTER rounds without an answer.
    await t2.waitFor('the end of the claim', () => t2.events.some((e) => e.msg === 'VIP claim ended'));
    const end = t2.events.find((e) => e.msg === 'VIP claim ended')!;
    assert.deepEqual([end.level, end.fields], ['info', { event: 'arp-guard', vip: VIP, mac: REAL_MAC, real: '10.0.0.11' }]);
    assert.deepEqual(t2.g.claimsOf(), []);
  } finally {
    await t2.g.stop();
  }
});

test('an announced claim ends only after holdMs of silence; a failing socket is a warning and the next round reopens it', async () => {
  const first = new FakeSocket();
  const t = guard({ intervalMs: 200, holdMs: 1000, sockets: [first] });
  t.g.start();
  try {
    first.push(arpRequest(VIP, VIP, REAL_MAC));
    await t.waitFor('the claim', () => t.claims().length === 1);
    const r0 = t.g.rounds;
    await t.waitFor('the end of the claim', () => t.events.some((e) => e.msg === 'VIP claim ended'), 5000);
    const held = t.events.find((e) => e.msg === 'VIP claim ended')!.at - t.claims()[0]!.at;
    assert.ok(held >= 1000, `ended ${held} ms after its only frame (holdMs 1000)`);
    assert.ok(t.g.rounds - r0 > CLEAR_AFTER, 'CLEAR_AFTER silent rounds alone did not end it');

    first.fail(Object.assign(new Error('recv: Network is down'), { code: 'ENETDOWN' }));
    await t.waitFor('a new socket', () => t.made.length === 2);
    const w = t.events.find((e) => e.msg === 'ARP guard watch failed')!;
    assert.deepEqual([w.level, w.fields], ['warn', { event: 'arp-guard', err: 'recv: Network is down' }]);
    assert.equal(first.closed, true);
    t.made[1]!.push(arpReply(VIP, '02:00:00:00:00:99'));
    await t.waitFor('a claim through the new socket', () => t.claims('02:00:00:00:00:99').length === 1);
  } finally {
    await t.g.stop();
  }
});
