// SPDX-License-Identifier: Apache-2.0
// ctgrow6.test.ts: the IPv6 connection table grows and shrinks with its flows (xlvs_ctgeo6, xlvs_ctmove with XLVS_CTMOVE_F_INET6), none lost.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { benchDatapath, segment6, setCycle } from '../../bench/progcost';
import { type Datapath, objectPath } from '../../src/adapters/datapath';
import * as abi from '../../src/core/abi';
import { ct6BucketOf } from '../../src/core/conntable';
import { ctResizeTo, LOADS6 } from '../../src/core/ctgrow';
import { bytesToIp, ipToBytes } from '../../src/core/net/addr';
import { TCP_ACK, TCP_SYN } from '../../src/core/packets';
import { changed, sendRepeat, snapshotOf, verdictsOf } from '../lib/ctflows';
import { requirePrivileges } from '../lib/privileged';

let dp: Datapath | undefined;
after(() => dp?.close());

const verdicts = verdictsOf;
const send = (d: Datapath, flags: number, n: number) => sendRepeat(d, segment6(40001, flags), n);
/** Every held IPv6 entry: its flow (client address and port) and real. */
const snapshot = (d: Datapath) => snapshotOf(d.conns6.records(), (k) => bytesToIp(k.saddr));

/**
 * The bench's n cycling flows (segment6's client address with the sequence folded into its last word) whose bucket at
 * `live` buckets they crowd past its ways. A handful at these loads, for some seeds: the hash's overflow, which every
 * pass over them reshuffles (one replaces another) whatever the resizes do, so the resize checks leave them out.
 */
function crowded(d: Datapath, n: number, live: number): Set<string> {
  const cfg = abi.cfg.decode(d.maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const key = Buffer.alloc(40);
  Buffer.from(ipToBytes('2001:db8:1::10')).copy(key, 0);
  Buffer.from(ipToBytes('2001:db8::100')).copy(key, 16);
  key.writeUInt16BE(40001, 32);
  key.writeUInt16BE(80, 34);
  key[36] = 6;
  const base = key.readUInt32BE(12);
  const byBucket = new Map<number, string[]>();
  for (let i = 1; i <= n; i++) {
    key.writeUInt32BE((base ^ i) >>> 0, 12);
    const b = ct6BucketOf(key, cfg.ct_seed, cfg.ct6_buckets, live);
    const names = byBucket.get(b) ?? [];
    names.push(`${bytesToIp(key.subarray(0, 16))}:40001`);
    byBucket.set(b, names);
  }
  return new Set([...byBucket.values()].filter((names) => names.length > abi.CT6_WAYS).flat());
}

test('a wrr IPv6 table grows from its minimum with its flows: every resize under packets of every flow, none lost or moved', async (t) => {
  requirePrivileges('BPF IPv6 connection-table growth tests');
  dp = await benchDatapath(objectPath('xlvs_bench_fresh'), 'wrr');
  const d = dp;
  d.setNewConnBudget(0);
  const buckets = abi.cfg.decode(d.maps.xlvs_cfg.lookup(abi.u32Key(0))!).ct6_buckets;
  assert.deepEqual(d.walks.resizer6.geo(), { live: abi.CT_MIN_LIVE, prev: 0 }, 'a new IPv6 table starts at its minimum');
  // What xlvs_conn6_table_capacity reports: the size in use, not the array.
  assert.equal(d.conn6Capacity(), abi.CT_MIN_LIVE * abi.CT6_WAYS);
  assert.ok(abi.CT_MIN_LIVE < buckets);
  assert.deepEqual(d.walks.resizer.geo(), { live: abi.CT_MIN_LIVE, prev: 0 }, 'and so does the IPv4 one, on its own');
  const grown: string[] = [];
  // Flows double between sweeps, from 1/32 of the minimum's entries: each doubling reaches the next growth.
  for (const n of [4_096, 8_192, 16_384, 32_768, 65_536]) {
    setCycle(d, n);
    await send(d, TCP_SYN, n);
    await send(d, TCP_ACK, n);
    const geo = d.walks.resizer6.geo();
    const to = ctResizeTo(geo.live, buckets, d.walks.resizer6.occupancy(), abi.CT6_WAYS, abi.CT_MIN_LIVE, LOADS6);
    if (to === null) continue;
    const before = snapshot(d);
    const skip = new Set([...crowded(d, n, geo.live), ...crowded(d, n, to)]);
    const held = [...before.keys()].filter((k) => !skip.has(k)).length;
    assert.equal(held, n - skip.size, `${n} flows held before the resize, but for ${skip.size} the hash crowds`);
    const v0 = verdicts(d);
    await Promise.all([send(d, TCP_ACK, 3 * n), d.sweep()]);
    const v1 = verdicts(d);
    assert.deepEqual(d.walks.resizer6.geo(), { live: to, prev: 0 }, `${n} flows: resized to ${to} buckets, and the resize ended`);
    assert.equal(d.walks.lastResize6?.outcome, 'done');
    // Each crowded flow is rescheduled at most once a pass (its bucket's ways taken): 3 passes.
    assert.ok(v1.tx_new - v0.tx_new <= BigInt(3 * skip.size), `${n} flows: every packet during the resize found its entry`);
    assert.equal(changed(before, snapshot(d), skip), 0, `${n} flows: none lost or moved by the resize ${geo.live} -> ${to}`);
    grown.push(`${n} flows: ${geo.live} -> ${to} buckets, ${d.walks.lastResize6!.moved} moved in ${d.walks.lastResize6!.ms.toFixed(0)} ms`);
  }
  t.diagnostic(grown.join('; '));
  assert.ok(grown.length >= 2, 'grown on the way');
  assert.equal(d.walks.resizer.geo().live, abi.CT_MIN_LIVE, 'the IPv4 table, with no IPv4 flows, stays at its minimum');
  assert.equal(d.conn6Capacity(), d.walks.resizer6.geo().live * abi.CT6_WAYS);
  // User space finds each flow where the datapath put it (ConnTable follows xlvs_ctgeo6).
  const some = [...d.conns6.records()].slice(0, 100);
  for (const r of some) assert.equal(d.conns6.get(r.key)?.real_id, r.val.real_id);
});

test('an IPv6 shrink that finds no room goes back; one that does keeps every flow on its real, and so does growing again', async () => {
  requirePrivileges('BPF IPv6 connection-table growth tests');
  const d = dp!;
  const all = snapshot(d);
  const live = d.walks.resizer6.geo().live;
  // 65,536 flows cannot fit live / 8 buckets of 4 (two a way): the walks leave entries behind, so the resize reverts.
  const back = await d.walks.resize(live / 8, true);
  assert.equal(back.outcome, 'reverted', JSON.stringify(back));
  assert.deepEqual(d.walks.resizer6.geo(), { live, prev: 0 });
  assert.equal(changed(all, snapshot(d)), 0, 'reverted: every flow where it was, on its real');
  // All but one flow in 16 end (spread over every bucket, as records() lists them in bucket order): they fit half the buckets.
  const recs = [...d.conns6.records()].filter((_, i) => i % 16 === 0);
  const keep = new Set(recs.map((r) => `${bytesToIp(r.key.saddr)}:${r.key.sport}`));
  for (const r of d.conns6.records()) if (!keep.has(`${bytesToIp(r.key.saddr)}:${r.key.sport}`)) d.conns6.delete(r.key);
  const kept = snapshot(d);
  assert.equal(kept.size, recs.length);
  const down = await d.walks.resize(live / 2, true);
  assert.ok(down.outcome === 'done' && down.moved > 0, JSON.stringify(down));
  assert.equal(changed(kept, snapshot(d)), 0, 'shrunk: every flow kept');
  const up = await d.walks.resize(live, true);
  assert.ok(up.outcome === 'done' && up.moved === down.moved, JSON.stringify(up));
  assert.equal(changed(kept, snapshot(d)), 0, 'grown: every flow kept');
  for (const r of recs) assert.equal(d.conns6.get(r.key)?.real_id, r.val.real_id, 'found by user space at the size now');
  // A size past the table's buckets is refused, and nothing changes.
  await assert.rejects(d.walks.resize(live * 2, true), /IPv6 connection table: cannot resize/);
  assert.deepEqual(d.walks.resizer6.geo(), { live, prev: 0 });
});
