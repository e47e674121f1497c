// SPDX-License-Identifier: Apache-2.0
// falsekeep.test.ts: how many idle mh connections the sweeper keeps because a live flow shares their activity bit, against the exact prediction.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { benchDatapath, segment, setCycle } from '../../bench/progcost';
import { type Datapath, objectPath } from '../../src/adapters/datapath';
import { native } from '../../src/adapters/native';
import * as abi from '../../src/core/abi';
import { ctHashOf, ctPlace } from '../../src/core/conntable';
import { ctTargetLive } from '../../src/core/ctgrow';
import { TCP_ACK, TCP_SYN } from '../../src/core/packets';
import { XDP_TX } from '../../src/core/verdictmodel';
import { verdictsOf } from '../lib/ctflows';
import { requirePrivileges } from '../lib/privileged';

let dp: Datapath | undefined;
after(() => dp?.close());

const verdicts = verdictsOf;

/** Runs `repeat` frames of the fresh-flow build; its sequence starts at `seq` when given (flow ids seq+1 % cycle + 1, ...). */
async function send(d: Datapath, flags: number, repeat: number, seq?: number): Promise<void> {
  if (seq !== undefined) {
    const m = d.objectMap('xlvs_bench_seq');
    try {
      m.update(abi.u32Key(0), abi.u32Key(seq));
    } finally {
      m.close();
    }
  }
  const r = await native().testRun(d.programFd(), { data: segment(40000, flags), repeat });
  assert.equal(r.retval, XDP_TX);
}

/*
 * The stateless path leaves an established mh flow's entry alone and sets one of its bucket's 16 activity bits (the
 * bucket hash's top 4 bits); the sweeper keeps every entry whose bit is set. An idle entry whose bucket holds a live
 * flow with the same bit is kept too (a false keep) until that flow stops: the price of not touching entries. The
 * test predicts exactly which idle entries are kept, from the keys and the table's size, and checks the sweep agrees.
 */
test('idle mh entries outlive their timeout only when a live flow in their bucket shares their bit: exactly those, ~1% at 40,000 flows', async (t) => {
  requirePrivileges('BPF false-keep tests');
  dp = await benchDatapath(objectPath('xlvs_bench_fresh'), 'mh');
  const d = dp;
  d.setNewConnBudget(0);
  const N = 40_000,
    L = N / 2;
  /*
   * The table sized for N first, as the director's occupancy check leaves it once N flows have come: filling the
   * 32,768-bucket starting table past its growth point instead overflows a bucket (nine flows in eight ways) in about
   * one run in thirty, and the evicted flow would fail this count for a reason that is not the one under test.
   */
  const grown = await d.walks.resizer.resize(ctTargetLive(N, d.walks.resizer.maxLive()));
  assert.equal(grown.outcome, 'done');
  setCycle(d, N);
  await send(d, TCP_SYN, N);
  await send(d, TCP_ACK, N);
  await d.sweep();
  setCycle(d, N);
  const cfg = abi.cfg.decode(d.maps.xlvs_cfg.lookup(abi.u32Key(0))!);
  const all = [...d.conns.records()];
  assert.equal(all.length, N, 'every flow holds its entry');
  assert.ok(
    all.every((r) => r.val.state === abi.CS.ESTABLISHED),
    'every entry established (from its bit)',
  );
  await d.sweep(); // the bits start afresh

  // Every entry is idle past a 1-second timeout; then flows 2 .. L+1 (the fresh-flow build's ids) send an ACK each.
  d.setTimeouts({ tcp: 1, tcp_fin: 1, udp: 1 });
  await new Promise((r) => setTimeout(r, 2500));
  const v0 = verdicts(d);
  await send(d, TCP_ACK, L, 0);
  assert.equal(verdicts(d).tx_stateless - v0.tx_stateless, BigInt(L), 'every live ACK took the stateless path');

  const base = segment(40000, TCP_ACK).readUInt32BE(26); // the template's client address
  const liveAddr = new Set(Array.from({ length: L }, (_, i) => (base ^ (i + 2)) >>> 0));
  const { live } = d.walks.resizer.geo();
  const slot = (key: abi.ConnKey) => {
    const h = ctHashOf(abi.connKey.encode(key), cfg.ct_seed);
    return `${ctPlace(h, cfg.ct_buckets, live)}/${h >>> 28}`;
  };
  const isLive = (key: abi.ConnKey) => liveAddr.has(key.saddr >>> 0);
  const liveSlots = new Set(all.filter((r) => isLive(r.key)).map((r) => slot(r.key)));
  const idle = all.filter((r) => !isLive(r.key));
  assert.equal(idle.length, N - L);
  const predicted = new Set(idle.filter((r) => liveSlots.has(slot(r.key))).map((r) => abi.connKey.encode(r.key).toString('hex')));

  await d.sweep();
  const kept = [...d.conns.records()];
  const keptLive = kept.filter((r) => isLive(r.key)).length;
  const keptIdle = new Set(kept.filter((r) => !isLive(r.key)).map((r) => abi.connKey.encode(r.key).toString('hex')));
  assert.equal(keptLive, L, 'every live flow kept');
  assert.deepEqual([...keptIdle].sort(), [...predicted].sort(), 'the idle entries kept are exactly those sharing a bucket and bit with a live flow');

  // The model: an idle entry with k live flows in its bucket is kept with probability 1 - (15/16)^k.
  const liveIn = new Map<number, number>();
  for (const r of all) if (isLive(r.key)) liveIn.set(r.bucket, (liveIn.get(r.bucket) ?? 0) + 1);
  const model = idle.reduce((s, r) => s + 1 - (15 / 16) ** (liveIn.get(r.bucket) ?? 0), 0) / idle.length;
  const rate = keptIdle.size / idle.length;
  t.diagnostic(
    `${N} flows in ${live} buckets: ${keptIdle.size} of ${idle.length} idle entries kept (${(100 * rate).toFixed(2)}%; model ${(100 * model).toFixed(2)}%)`,
  );
  assert.ok(rate < 0.02, `false keeps ${(100 * rate).toFixed(2)}% at ${N} flows`);
  assert.ok(Math.abs(rate - model) < 0.005, `measured ${rate} against the model's ${model}`);
});
