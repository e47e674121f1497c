// SPDX-License-Identifier: Apache-2.0
// sched.test.ts: the IPVS scheduler reference model: wrr/rr sequences against IPVS's own loop, the datapath's sequence stepping, count-based picks with tie-breaks, hashed picks with fallback, and threshold hysteresis.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_NONE } from '../../src/core/abi';
import { flowHash } from '../../src/core/flowhash';
import { buildMaglev } from '../../src/core/maglev';
import {
  afterBind,
  afterThresholdEdit,
  afterUnbind,
  FALLBACK_STRIDE,
  FALLBACK_TRIES,
  pickByCounts,
  pickHashed,
  rrSequence,
  SCHEDULERS,
  type SchedReal,
  SEQ_MAX_TRIES,
  SeqScheduler,
  schedHash,
  schedulerKind,
  seqPick,
  wrrSequence,
} from '../../src/core/sched';

/** ip_vs_wrr.c's schedule loop transcribed (no overload, no dest changes): cl starts at the list head, cw at mw = max - (gcd - 1). */
function ipvsWrr(weights: readonly number[], picks: number): number[] {
  const live = weights.filter((w) => w > 0);
  let di = 0;
  for (const w of live) {
    let a = w,
      b = di;
    while (b) [a, b] = [b, a % b];
    di = a;
  }
  di ||= 1;
  const mw = Math.max(0, ...weights) - (di - 1);
  let cl = -1,
    cw = mw;
  const out: number[] = [];
  while (out.length < picks && mw > 0) {
    let i = cl;
    for (;;) {
      i++;
      if (i === weights.length) {
        i = -1;
        cw -= di;
        if (cw <= 0) cw = mw;
        continue;
      }
      if (weights[i]! >= cw) break;
    }
    out.push((cl = i));
  }
  return out;
}

const real = (id: number, weight: number, active = 0, inactive = 0, overloaded = false): SchedReal => ({ id, weight, active, inactive, overloaded });

test('scheduler names and families', () => {
  assert.deepEqual(SCHEDULERS.map(schedulerKind), ['seq', 'seq', 'counts', 'counts', 'counts', 'counts', 'hash', 'hash', 'hash', 'counts', 'counts']);
});

test('wrr 4:3:2 is the IPVS cycle 0,0,1,0,1,2,0,1,2', () => {
  // cw 4: only w0; cw 3: w0,w1; cw 2 and 1: all three.
  assert.deepEqual(wrrSequence([4, 3, 2]), { seq: [0, 0, 1, 0, 1, 2, 0, 1, 2], scaled: false });
});

test('wrr 5:1 gives the light real one turn in six, at the end of the cycle', () => {
  assert.deepEqual(wrrSequence([5, 1]).seq, [0, 0, 0, 0, 0, 1]);
});

test('wrr divides by the gcd and never lists weight 0', () => {
  // 4:0:2 is 2:0:1 in steps of 2: cw 4 takes w0; cw 2 takes w0 and w2.
  assert.deepEqual(wrrSequence([4, 0, 2]).seq, [0, 0, 2]);
  assert.deepEqual(wrrSequence([0, 0]).seq, []);
  assert.deepEqual(wrrSequence([]).seq, []);
});

test("wrr sequence equals two periods of IPVS's own loop for many weight sets", () => {
  let x = 12345;
  const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (let round = 0; round < 300; round++) {
    const n = 1 + rnd(8),
      scale = [1, 2, 3, 6][rnd(4)]!;
    const weights = Array.from({ length: n }, () => (rnd(4) === 0 ? 0 : (1 + rnd(12)) * scale));
    const { seq, scaled } = wrrSequence(weights);
    assert.equal(scaled, false);
    const sum = weights.reduce((a, b) => a + b, 0);
    const g = weights.reduce((a, b) => {
      while (b) [a, b] = [b, a % b];
      return a;
    }, 0);
    assert.equal(seq.length, sum === 0 ? 0 : sum / g, `period of ${weights}`);
    assert.deepEqual([...seq, ...seq], ipvsWrr(weights, 2 * seq.length), `weights ${weights}`);
  }
});

test('rr lists the reals with weight > 0 in list order, once each', () => {
  assert.deepEqual(rrSequence([1, 0, 7]), { seq: [0, 2], scaled: false });
  const { sched } = SeqScheduler.forReals('rr', [real(10, 1), real(11, 0), real(12, 5)]);
  assert.deepEqual(
    Array.from({ length: 5 }, () => sched.next(() => true)),
    [10, 12, 10, 12, 10],
  );
});

test('a period above the cap scales the weights down, keeping every live real', () => {
  // Period 1001 > 100: T = 100 - 2 live = 98; 1000*98/1001 = 97.9 -> 97, 1*98/1001 -> 0 -> kept at 1.
  const { seq, scaled } = wrrSequence([1000, 1, 0], 100);
  assert.equal(scaled, true);
  assert.deepEqual(seq, wrrSequence([97, 1, 0]).seq);
  assert.ok(seq.length <= 100);
  // At exactly the cap nothing changes.
  assert.deepEqual(wrrSequence([3, 1], 4), { seq: [0, 0, 0, 1], scaled: false });
  // Huge weights stay within the default cap and every real keeps a turn.
  const big = wrrSequence([0xffffffff, 65535, 1]);
  assert.equal(big.scaled, true);
  assert.ok(big.seq.length <= 1 << 20);
  assert.deepEqual([...new Set(big.seq)].sort(), [0, 1, 2]);
  assert.throws(() => wrrSequence([1, 1, 1], 2), RangeError);
  assert.throws(() => wrrSequence([1.5]), RangeError);
});

test('one heavy real among many light ones builds quickly (no n * max/gcd loop)', () => {
  const weights = [65535, ...Array.from({ length: 5000 }, (_, i) => 1 + (i % 3))];
  const { seq } = wrrSequence(weights);
  // The light reals cycle 1,2,3: 1666 full cycles (9996) plus 1 and 2.
  assert.equal(seq.length, 65535 + 9999);
});

test("SeqScheduler: an overloaded real's turns go to the next available entry; the counter moves by one", () => {
  // 4:3:2 over ids 1,2,3 is 1,1,2,1,2,3,1,2,3. With 1 overloaded, every 1 is replaced by the next non-1 entry.
  const { sched } = SeqScheduler.forReals('wrr', [real(1, 4), real(2, 3), real(3, 2)]);
  assert.deepEqual(sched.seq, [1, 1, 2, 1, 2, 3, 1, 2, 3]);
  const picks = Array.from({ length: 9 }, () => sched.next((id) => id !== 1));
  assert.deepEqual(picks, [2, 2, 2, 2, 2, 3, 2, 2, 3]);
  assert.equal(sched.counter, 9);
  // Nobody available: null, and the position is still taken.
  assert.equal(
    sched.next(() => false),
    null,
  );
  assert.equal(sched.counter, 10);
  // An empty table takes no position.
  const empty = new SeqScheduler([]);
  assert.equal(
    empty.next(() => true),
    null,
  );
  assert.equal(empty.counter, 0);
});

test('seqPick looks at most SEQ_MAX_TRIES entries, wrapping around the table', () => {
  // 40:1 is forty 0s then one 1; with id 0 overloaded only positions within 31 entries of index 40 find id 1.
  const seq = wrrSequence([40, 1]).seq;
  assert.equal(seq.length, 41);
  const avail = (id: number) => id === 1;
  assert.equal(seqPick(seq, 8, avail), null); // entries 8..39
  assert.equal(seqPick(seq, 9, avail), 1); // entries 9..40
  assert.equal(seqPick(seq, 41 + 9, avail), 1); // pos is taken mod len first
  assert.equal(SEQ_MAX_TRIES, 32);
  // Fewer entries than tries: each looked at once, from pos around the end.
  assert.equal(
    seqPick([5, 6, 7], 2, (id) => id === 6),
    6,
  );
  // The counter wraps at 2^32 like the datapath's u32.
  const s = new SeqScheduler([5, 6, 7]);
  s.counter = 0xffffffff;
  assert.equal(
    s.next(() => true),
    [5, 6, 7][0xffffffff % 3],
  );
  assert.equal(s.counter, 0);
});

test('lc: least active*256 + inactive; first of equals; weight 0 and overloaded excluded', () => {
  const t = [real(1, 1, 1, 0), real(2, 1, 0, 300), real(3, 1, 0, 256), real(4, 0, 0, 0)];
  // Overheads 256, 300, 256, (weight 0: out). 1 and 3 tie at 256: the first, index 0.
  assert.equal(pickByCounts('lc', t), 0);
  t[0]!.overloaded = true;
  // Without index 0: 300 vs 256 -> index 2.
  assert.equal(pickByCounts('lc', t), 2);
  assert.equal(pickByCounts('lc', [real(1, 0), real(2, 5, 0, 0, true)]), -1);
});

test('wlc: least overhead/weight by cross-multiplication; first of equals', () => {
  // Overheads 256 (w1), 512 (w3), 356 (w2): ratios 256, 170.7, 178 -> index 1.
  // Kernel steps: least=0 (256); 256*3=768 > 512*1 -> least=1; 512*2=1024 > 356*3=1068 is false -> stays 1.
  assert.equal(pickByCounts('wlc', [real(1, 1, 1, 0), real(2, 3, 2, 0), real(3, 2, 1, 100)]), 1);
  // 256/2 and 512/4 are equal: 256*4 > 512*2 is false, so the first stays.
  assert.equal(pickByCounts('wlc', [real(1, 2, 1), real(2, 4, 2)]), 0);
  // An idle weight-0 real cannot win (0 > doh*lw never holds), nor an overloaded one.
  assert.equal(pickByCounts('wlc', [real(1, 1, 1), real(2, 0), real(3, 9, 0, 0, true)]), 0);
  // Products past 2^53 are compared exactly: with a = 65535*2^30 + 1 and c = a + 2^30, a*65536 - c*65535 = 1,
  // so c/65536 is the smaller ratio, which doubles (both products round to the same 2^62-ish value) would miss.
  const a = 65535 * 2 ** 30 + 1,
    c = a + 2 ** 30;
  assert.equal(pickByCounts('wlc', [real(1, 65535, 0, a), real(2, 65536, 0, c)]), 1);
});

test('sed: (active+1)/weight, inactive ignored', () => {
  // (0+1)/1 = 1 vs (1+1)/3 = 0.67 -> index 1, although wlc prefers the idle index 0 (overhead 0).
  const t = [real(1, 1, 0, 0), real(2, 3, 1, 0)];
  assert.equal(pickByCounts('sed', t), 1);
  assert.equal(pickByCounts('wlc', t), 0);
  // Inactive connections do not count: 1/1 vs 1/1 tie -> first.
  assert.equal(pickByCounts('sed', [real(1, 1, 0, 1000), real(2, 1, 0, 0)]), 0);
});

test('nq: the first idle usable real outright, else as sed', () => {
  // sed: 4/5 = 0.8 beats 1/1 -> index 0; nq takes the first idle one, index 1.
  const t = [real(1, 5, 3), real(2, 1, 0), real(3, 1, 0)];
  assert.equal(pickByCounts('sed', t), 0);
  assert.equal(pickByCounts('nq', t), 1);
  // Idle but overloaded or weight 0 does not count.
  assert.equal(pickByCounts('nq', [real(1, 1, 1), real(2, 1, 0, 0, true), real(3, 0, 0), real(4, 4, 3)]), 3);
  // Nobody idle: (1+1)/1 = 2 vs (3+1)/4 = 1 -> index 1.
  assert.equal(pickByCounts('nq', [real(1, 1, 1), real(2, 4, 3)]), 1);
});

test('fo: the highest weight not overloaded, first of equals', () => {
  const t = [real(1, 2), real(2, 5, 100), real(3, 5), real(4, 3)];
  assert.equal(pickByCounts('fo', t), 1); // counts play no part
  t[1]!.overloaded = true;
  assert.equal(pickByCounts('fo', t), 2);
  assert.equal(pickByCounts('fo', [real(1, 0), real(2, 0)]), -1);
});

test('ovf: the highest weight among reals with active <= weight', () => {
  // active 4 > weight 3 is out; active 3 == weight 3 is still in -> index 1.
  assert.equal(pickByCounts('ovf', [real(1, 3, 4), real(2, 3, 3), real(3, 2, 0)]), 1);
  assert.equal(pickByCounts('ovf', [real(1, 2), real(2, 2)]), 0);
  // Everyone past capacity but the smallest.
  assert.equal(pickByCounts('ovf', [real(1, 3, 4), real(2, 2, 3), real(3, 1, 0)]), 2);
  assert.equal(pickByCounts('ovf', [real(1, 1, 2), real(2, 0, 0), real(3, 5, 0, 0, true)]), -1);
});

test('schedHash zeroes the fields each hash scheduler ignores', () => {
  const t = { saddr: '192.0.2.7', daddr: '198.51.100.1', sport: 40000, dport: 80, proto: 6 };
  const u = { saddr: '192.0.2.7', daddr: '198.51.100.9', sport: 40001, dport: 443, proto: 17 };
  assert.equal(schedHash('mh', { port: true }, t), flowHash(t.saddr, t.daddr, 40000, 80, 6));
  assert.equal(schedHash('mh', { port: false }, t), flowHash(t.saddr, '0.0.0.0', 0, 0, 0));
  assert.equal(schedHash('mh', { port: false }, t), schedHash('mh', { port: false }, u));
  assert.equal(schedHash('sh', { port: false }, t), schedHash('sh', { port: false }, u));
  assert.equal(schedHash('sh', { port: true }, t), flowHash(t.saddr, '0.0.0.0', 40000, 0, 0));
  assert.equal(schedHash('dh', { port: true }, t), flowHash('0.0.0.0', t.daddr, 0, 0, 0));
  assert.equal(schedHash('dh', { port: false }, t), schedHash('dh', { port: false }, { ...u, daddr: t.daddr }));
});

test('pickHashed: the home bucket, then with fallback the buckets FALLBACK_STRIDE apart', () => {
  assert.deepEqual([FALLBACK_TRIES, FALLBACK_STRIDE], [32, 1000]);
  // Size 11: 1000 % 11 = 10, so from home 3 the probes are 3, 2, 1, ...
  const table = new Uint32Array(11).fill(5);
  table[3] = 1;
  table[2] = REAL_NONE;
  table[1] = 7;
  const avail = (id: number) => id !== 1;
  assert.equal(
    pickHashed(table, 3, () => true, false),
    1,
  );
  assert.equal(pickHashed(table, 3, avail, false), null);
  assert.equal(pickHashed(table, 3, avail, true), 7);
  assert.equal(pickHashed(table, 11 * 1000 + 3, avail, true), 7); // hash mod size
  assert.equal(
    pickHashed(table, 3, () => false, true),
    null,
  );
  assert.equal(
    pickHashed(new Uint32Array(0), 3, () => true, true),
    null,
  );
  // `available` is never asked about REAL_NONE.
  assert.equal(
    pickHashed(new Uint32Array(5).fill(REAL_NONE), 0xfffffff0, () => true, true),
    null,
  );
});

test("pickHashed with fallback over Maglev: a down real's flows spread, every other flow stays put", () => {
  const table = buildMaglev(
    [0, 1, 2].map((id) => ({ key: `10.0.0.${id}:80`, weight: 1, id })),
    251,
  );
  const seen = new Set<number>();
  for (let h = 0; h < 251 * 8; h += 3) {
    const owner = table[h % 251]!;
    const got = pickHashed(table, h, (id) => id !== 0, true);
    assert.ok(got === 1 || got === 2);
    if (owner !== 0) assert.equal(got, owner);
    else seen.add(got);
    assert.equal(
      pickHashed(table, h, (id) => id !== 0, false),
      owner === 0 ? null : owner,
    );
  }
  assert.deepEqual([...seen].sort(), [1, 2]);
});

/** Drives one real through connections bound (+1) and freed (-1), returning the flag after each. */
function hysteresis(steps: number[], upper: number, lower: number): boolean[] {
  const r = { active: 0, inactive: 0, overloaded: false };
  return steps.map((d) => {
    r.active += d;
    r.overloaded = d > 0 ? afterBind(r, upper) : afterUnbind(r, upper, lower);
    return r.overloaded;
  });
}

test('thresholds: upper 3 lower 1 sets at 3 and clears only below 1', () => {
  // Totals 1 2 3 | 2 1 0 | 1: set on reaching 3; 2 and 1 are not < 1; 0 is.
  assert.deepEqual(hysteresis([1, 1, 1, -1, -1, -1, 1], 3, 1), [false, false, true, true, true, false, false]);
});

test('thresholds: upper 4 without lower clears below three quarters (total*4 < 12)', () => {
  // Totals 1 2 3 4 | 3 | 4 | 3 2: 3*4 = 12 is not < 12, so 3 keeps the flag; 2*4 = 8 clears it.
  assert.deepEqual(hysteresis([1, 1, 1, 1, -1, 1, -1, -1], 4, 0), [false, false, false, true, true, true, true, false]);
  // upper 2: 1*4 < 6 clears at 1 (the bound is ceil(3u/4) = 2, not floor).
  assert.deepEqual(hysteresis([1, 1, -1], 2, 0), [false, true, false]);
});

test('thresholds: inactive connections count; no thresholds never sets and clears on any unbind', () => {
  assert.equal(afterBind({ active: 1, inactive: 2, overloaded: false }, 3), true);
  assert.equal(afterBind({ active: 100, inactive: 0, overloaded: false }, 0), false);
  // A flag left set (thresholds since removed) survives binds and goes on the next unbind.
  assert.equal(afterBind({ active: 1, inactive: 0, overloaded: true }, 0), true);
  assert.equal(afterUnbind({ active: 50, inactive: 0, overloaded: true }, 0, 0), false);
});

test('thresholds: editing clears the flag when the upper bound is removed or raised', () => {
  assert.equal(afterThresholdEdit(true, 10, 0), false);
  assert.equal(afterThresholdEdit(true, 10, 11), false);
  assert.equal(afterThresholdEdit(true, 10, 10), true);
  assert.equal(afterThresholdEdit(true, 10, 5), true);
  assert.equal(afterThresholdEdit(false, 10, 5), false);
});
