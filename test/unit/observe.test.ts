// SPDX-License-Identifier: Apache-2.0
// observe.test.ts: trace's decisions over fake maps, top's frame and sparkline, the metrics registry and status JSON, the metrics.listen key.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedCount, statusJson } from '../../src/adapters/metrics';
import { type MetricsSource, type ReloadResult, registry } from '../../src/adapters/promregistry';
import { HISTORY_SAMPLES, HistoryRing, seriesKey } from '../../src/adapters/statushistory';
import { reloadLine } from '../../src/cli/commands/status';
import { CS, FALLBACK_STRIDE, REAL_F_MAC, REAL_F_SCHED, REAL_NONE, SCHED, SEQ_MAX_TRIES, SVC_F_FALLBACK, SVC_F_HASH_PORT, TBL_MOVED } from '../../src/core/abi';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { flowHash } from '../../src/core/flowhash';
import type { ServiceListing } from '../../src/core/listing';
import { type CountsSchedulerName, pickByCounts, schedHash } from '../../src/core/sched';
import { frame, HISTORY, type History, record, sparkline } from '../../src/core/topview';
import {
  type TraceCounts,
  type TraceLookups,
  type TraceReal,
  type TraceResult,
  type TraceService,
  type TraceTemplate,
  trace,
  traceText,
} from '../../src/core/trace';

const flow = { client: '203.0.113.10', cport: 40000, vip: '10.0.0.100', vport: 80, proto: 6 };
const up = (id: number, o: Partial<TraceReal> = {}): TraceReal => ({
  id,
  address: `10.0.0.${10 + id}`,
  svcId: 1,
  flags: REAL_F_MAC | REAL_F_SCHED,
  mac: '02:00:00:00:00:01',
  weight: 1,
  uThreshold: 0,
  lThreshold: 0,
  ...o,
});
const svc = (o: Partial<TraceService> = {}): TraceService => ({
  id: 1,
  sched: SCHED.mh,
  flags: 0,
  tblSize: 7,
  persistTimeout: 0,
  persistMask: '255.255.255.255',
  ...o,
});

interface Fake {
  conn?: { realId: number; svcId: number; state: number };
  /** Services of the flow's VIP and protocol by port; default: port 80, mh, table of 7. */
  services?: Record<number, TraceService>;
  table?: number[] | null;
  reals?: TraceReal[];
  counts?: Record<number, TraceCounts>;
  pos?: bigint | null;
  templates?: Record<string, TraceTemplate>;
  now?: number;
}

/** Plain-object maps; `reads` records which lookups trace made. */
function lookups(o: Fake, reads: string[] = []): TraceLookups {
  const reals = new Map((o.reals ?? [up(1), up(2)]).map((r) => [r.id, r]));
  const services = o.services ?? { 80: svc() };
  return {
    conn: () => o.conn ?? null,
    service: (vip, port, proto) => (reads.push(`service ${port}`), vip === flow.vip && proto === flow.proto ? (services[port] ?? null) : null),
    table: () => (reads.push('table'), o.table === null ? null : Uint32Array.from(o.table ?? [1, 2, 1, 2, 1, 2, 1])),
    tableEntry: (_svcId, b) => (reads.push('tableEntry'), o.table === null ? null : ((o.table ?? [1, 2, 1, 2, 1, 2, 1])[b] ?? null)),
    real: (id) => reals.get(id) ?? null,
    counts: (id) => o.counts?.[id] ?? { active: 0, inactive: 0, overloaded: 0 },
    position: () => (reads.push('position'), o.pos === undefined ? 0n : o.pos),
    template: (caddr, svcId) => (reads.push(`template ${caddr} ${svcId}`), o.templates?.[`${caddr} ${svcId}`] ?? null),
    now: () => o.now ?? 1000,
  };
}

const realOf = (t: TraceResult) => (t.verdict.kind === 'new' || t.verdict.kind === 'existing' ? t.verdict.real.id : null);
const why = (t: TraceResult) => t.verdict.reason.join('\n');

test('trace: a usable connection-table entry wins with its state; template and table are not read', () => {
  const reads: string[] = [];
  const t = trace(flow, lookups({ conn: { realId: 2, svcId: 1, state: CS.ESTABLISHED } }, reads));
  assert.equal(t.verdict.kind, 'existing');
  assert.equal(realOf(t), 2);
  // Only what the stateless path reads before the entry (the service and its bucket): no template, no whole table.
  assert.deepEqual(reads, ['service 80', 'tableEntry']);
  assert.deepEqual(t.entry, { realId: 2, svcId: 1, state: 'ESTABLISHED', usable: true, reopensOnBareSyn: false });
  assert.match(traceText(t), /real 10\.0\.0\.12 \(existing connection, ESTABLISHED\)[\s\S]*persistence and the scheduler are not consulted/);
  assert.doesNotMatch(why(t), /bare SYN/);
  for (const [state, name] of [
    [CS.SYN_RECV, 'SYN_RECV'],
    [CS.UDP, 'UDP'],
  ] as const) {
    const u = trace(flow, lookups({ conn: { realId: 1, svcId: 1, state } }));
    assert.equal(u.verdict.kind === 'existing' && u.verdict.state, name);
    assert.equal(u.entry!.reopensOnBareSyn, false);
  }
});

test("trace: an mh flow's established packets take the stateless path only in an unmarked bucket whose owner takes new connections", () => {
  const bucket = schedHash('mh', { port: false }, { saddr: flow.client, daddr: flow.vip, sport: flow.cport, dport: flow.vport, proto: 6 }) % 7;
  const table = (v: number) => Array.from({ length: 7 }, (_, i) => (i === bucket ? v : 1));
  const owner2 = trace(flow, lookups({ table: table(2) }));
  assert.deepEqual(owner2.stateless, { bucket, realId: 2 });
  assert.equal(realOf(owner2), 2, 'a SYN goes to the same owner, scheduled');
  assert.match(why(owner2), new RegExp(`stateless path: bucket ${bucket} is not marked moved and its owner, real id 2 \\(10\\.0\\.0\\.12\\)`));
  // The entry's real is the owner's: no inconsistency; the entry another real's in an unmarked bucket is reported.
  const kept = trace(flow, lookups({ table: table(2), conn: { realId: 2, svcId: 1, state: CS.ESTABLISHED } }));
  assert.deepEqual([kept.verdict.kind, kept.stateless?.realId], ['existing', 2]);
  assert.doesNotMatch(why(kept), /inconsistent/);
  const odd = trace(flow, lookups({ table: table(2), conn: { realId: 1, svcId: 1, state: CS.ESTABLISHED } }));
  assert.match(why(odd), /inconsistent: the entry names real id 1 \(10\.0\.0\.11\), not the owner of its unmarked bucket/);
  // Each thing that sends them to the connection table instead.
  const off: [string, TraceResult][] = [
    ['marked moved', trace(flow, lookups({ table: table((2 | TBL_MOVED) >>> 0) }))],
    ['an empty bucket', trace(flow, lookups({ table: table(REAL_NONE) }))],
    ['an owner at weight 0', trace(flow, lookups({ table: table(2), reals: [up(1), up(2, { weight: 0 })] }))],
    ['persistence', trace(flow, lookups({ table: table(2), services: { 80: svc({ persistTimeout: 60 }) } }))],
    ['wrr', trace(flow, lookups({ table: table(2), services: { 80: svc({ sched: SCHED.wrr }) } }))],
    ['UDP', trace({ ...flow, proto: 17 }, lookups({ table: table(2), services: { 80: svc() } }))],
  ];
  for (const [what, t] of off) {
    assert.equal(t.stateless, null, what);
    assert.doesNotMatch(why(t), /stateless path/, what);
  }
});

test('trace: in FIN_WAIT or CLOSE the entry still holds, and a bare SYN on the tuple would reopen it', () => {
  for (const [state, name] of [
    [CS.FIN_WAIT, 'FIN_WAIT'],
    [CS.CLOSE, 'CLOSE'],
  ] as const) {
    const t = trace(flow, lookups({ conn: { realId: 2, svcId: 1, state } }));
    assert.equal(t.verdict.kind, 'existing');
    assert.equal(t.entry!.reopensOnBareSyn, true);
    assert.match(traceText(t), new RegExp(`existing connection, ${name}[\\s\\S]*in ${name}, a bare SYN \\(no ACK, no RST\\) on this tuple would reopen it`));
  }
});

test('trace: an entry whose real lost its MAC, moved to another service or is gone is deleted and the flow scheduled anew', () => {
  const h = schedHash('mh', { port: false }, { saddr: flow.client, daddr: flow.vip, sport: flow.cport, dport: flow.vport, proto: 6 });
  const table = [1, 2, 1, 2, 1, 2, 1];
  for (const [reals, text] of [
    [[up(1), up(2, { flags: REAL_F_SCHED })], 'has no MAC'],
    [[up(1), up(2, { svcId: 9 })], 'now belongs to service id 9'],
    [[up(1)], 'does not exist'],
  ] as const) {
    const t = trace(flow, lookups({ conn: { realId: 2, svcId: 1, state: CS.ESTABLISHED }, reals: [...reals], table }));
    assert.equal(t.entry!.usable, false);
    assert.ok(t.schedule?.kind === 'hash');
    assert.equal(t.schedule.bucket, h % 7);
    assert.match(why(t), new RegExp(`real id 2.*which ${text}: the datapath deletes it and schedules the flow as a new connection`));
  }
});

test("trace: the exact port's service first, then the VIP's port-0 service; neither passes the packet", () => {
  const reads: string[] = [];
  const exact = trace(flow, lookups({ services: { 80: svc(), 0: svc({ id: 2 }) } }, reads));
  assert.equal(exact.service!.match, 'exact');
  assert.equal(exact.service!.id, 1);
  assert.deepEqual(
    reads.filter((r) => r.startsWith('service')),
    ['service 80'],
  );
  const wild = trace(flow, lookups({ services: { 0: svc({ id: 2 }) }, reals: [up(1, { svcId: 2 }), up(2, { svcId: 2 })] }));
  assert.deepEqual([wild.service!.match, wild.service!.port, wild.service!.id, wild.verdict.kind], ['port-0', 0, 2, 'new']);
  assert.match(why(wild), /no service on port 80: the port-0 service 10\.0\.0\.100:0\/tcp takes every port/);
  const none = trace(flow, lookups({ services: {} }));
  assert.equal(none.verdict.kind, 'no-service');
  assert.match(traceText(none), /passed to the kernel[\s\S]*no service 10\.0\.0\.100:80\/tcp and no port-0 service 10\.0\.0\.100:0\/tcp/);
});

test("trace: mh, sh and dh hash the fields the datapath hashes, and the bucket's owner takes it", () => {
  const tuple = { saddr: flow.client, daddr: flow.vip, sport: flow.cport, dport: flow.vport, proto: 6 };
  const table = [1, 2, 2, 1, 2, 1, 1];
  const cases = [
    { sched: SCHED.mh, flags: 0, hash: flowHash(flow.client, '0.0.0.0', 0, 0, 0), hashed: 'the client address' },
    { sched: SCHED.mh, flags: SVC_F_HASH_PORT, hash: flowHash(flow.client, flow.vip, flow.cport, flow.vport, 6), hashed: 'the 5-tuple' },
    { sched: SCHED.sh, flags: 0, hash: schedHash('sh', { port: false }, tuple), hashed: 'the client address' },
    { sched: SCHED.sh, flags: SVC_F_HASH_PORT, hash: flowHash(flow.client, '0.0.0.0', flow.cport, 0, 0), hashed: 'the client address and port' },
    { sched: SCHED.dh, flags: 0, hash: flowHash('0.0.0.0', flow.vip, 0, 0, 0), hashed: 'the VIP' },
  ];
  for (const c of cases) {
    const t = trace(flow, lookups({ services: { 80: svc({ sched: c.sched, flags: c.flags }) }, table }));
    assert.ok(t.schedule?.kind === 'hash' && t.verdict.kind === 'new');
    assert.deepEqual([t.schedule.hash, t.schedule.bucket, t.schedule.hashed, t.schedule.dependsOnState], [c.hash, c.hash % 7, c.hashed, false]);
    assert.equal(realOf(t), table[c.hash % 7]);
    assert.equal(t.verdict.by, 'scheduler');
    assert.match(
      traceText(t),
      new RegExp(`bucket ${c.hash % 7} is owned by real id ${table[c.hash % 7]} \\(10\\.0\\.0\\.1${table[c.hash % 7]}\\), which takes it`),
    );
  }
});

test('trace: with fallback the probe chain runs (bucket + k*stride) % size to the first available owner; without it the owner alone decides', () => {
  const size = 251;
  const home = schedHash('mh', { port: false }, { saddr: flow.client, daddr: flow.vip, sport: 0, dport: 0, proto: 0 }) % size;
  const at = (k: number) => (home + k * FALLBACK_STRIDE) % size;
  const table = new Array<number>(size).fill(3);
  table[at(0)] = 1; // overloaded
  table[at(1)] = REAL_NONE;
  table[at(2)] = 4; // weight 0
  table[at(3)] = 2;
  const reals = [up(1, { uThreshold: 5 }), up(2), up(3), up(4, { weight: 0 })];
  const counts = { 1: { active: 5, inactive: 0, overloaded: 5 } };
  const t = trace(flow, lookups({ services: { 80: svc({ tblSize: size, flags: SVC_F_FALLBACK }) }, table, reals, counts }));
  assert.ok(t.schedule?.kind === 'hash');
  assert.equal(realOf(t), 2);
  assert.deepEqual(
    t.schedule.probes.map((p) => [p.index, p.realId, p.available]),
    [
      [at(0), 1, false],
      [at(1), REAL_NONE, false],
      [at(2), 4, false],
      [at(3), 2, true],
    ],
  );
  assert.match(
    why(t),
    /bucket \d+: real id 1 \(10\.0\.0\.11\), which is overloaded \(5 connections, upper threshold 5; it takes new ones again once under 3\/4 of 5\)/,
  );
  assert.match(
    why(t),
    /fallback probe 1: bucket \d+: no real\n[\s\S]*fallback probe 2: bucket \d+: real id 4 \(10\.0\.0\.14\), which has weight 0[\s\S]*fallback probe 3: bucket \d+ is owned by real id 2/,
  );
  const strict = trace(flow, lookups({ services: { 80: svc({ tblSize: size }) }, table, reals, counts }));
  assert.equal(strict.verdict.kind, 'drop');
  assert.equal(strict.schedule?.kind === 'hash' && strict.schedule.probes.length, 1);
  assert.match(traceText(strict), /dropped[\s\S]*no fallback/);
  // A raised upper threshold lifts the overload at once (the datapath compares against the threshold it was reached at).
  assert.equal(realOf(trace(flow, lookups({ services: { 80: svc({ tblSize: size }) }, table, reals: [up(1, { uThreshold: 6 }), up(2)], counts }))), 1);
  const everyone = trace(
    flow,
    lookups({ services: { 80: svc({ tblSize: size, flags: SVC_F_FALLBACK }) }, table: new Array<number>(size).fill(1), reals, counts }),
  );
  assert.equal(everyone.verdict.kind, 'drop');
  assert.match(why(everyone), /none of the 32 buckets probed has an available owner/);
});

test('trace: a real is available only with F_SCHED, in the service, weight > 0 and not overloaded; no table or an empty one drops', () => {
  for (const [bad, text] of [
    [up(1, { flags: REAL_F_MAC }), 'is not schedulable'],
    [up(1, { svcId: 3 }), 'belongs to service id 3'],
    [up(1, { weight: 0 }), 'has weight 0'],
  ] as const) {
    const t = trace(flow, lookups({ table: new Array(7).fill(1), reals: [bad] }));
    assert.equal(t.verdict.kind, 'drop');
    assert.match(why(t), new RegExp(`real id 1 \\(10\\.0\\.0\\.11\\), which ${text}`));
  }
  assert.equal(trace(flow, lookups({ table: new Array(7).fill(REAL_NONE) })).verdict.kind, 'drop');
  for (const o of [{ table: null }, { services: { 80: svc({ tblSize: 0 }) } }]) {
    const t = trace(flow, lookups(o));
    assert.equal(t.verdict.kind, 'drop');
    assert.equal(t.schedule!.kind, 'no-table');
    assert.match(why(t), /schedule table is (missing|empty)[\s\S]*dropped/);
  }
});

test("trace: rr/wrr take entry next % size of the cycle, skipping unavailable entries within SEQ_MAX_TRIES; the answer is the next new connection's", () => {
  const seq = [1, 1, 2, 1, 2, 3];
  const reals = [up(1), up(2), up(3)];
  const reads: string[] = [];
  const t = trace(flow, lookups({ services: { 80: svc({ sched: SCHED.wrr, tblSize: 6 }) }, table: seq, reals, pos: 6n * 1000n + 2n }, reads));
  assert.ok(t.schedule?.kind === 'sequence');
  assert.deepEqual([t.schedule.start, t.schedule.next, t.schedule.realId, t.schedule.dependsOnState], [2, 6002, 2, true]);
  assert.ok(reads.includes('position'));
  assert.match(
    traceText(t),
    /new connection, wrr: the next new connection, as of now[\s\S]*position 6002[\s\S]*entry 2 of the 6-entry cycle[\s\S]*next new connection's real, as of now/,
  );
  // Entry 2 (real 2) drained: its turn goes to the next available entry; a u64 counter past 2^53 divides exactly.
  const drained = trace(
    flow,
    lookups({
      services: { 80: svc({ sched: SCHED.wrr, tblSize: 6 }) },
      table: seq,
      reals: [up(1), up(2, { flags: REAL_F_MAC }), up(3)],
      pos: (1n << 60n) + 2n,
    }),
  );
  assert.ok(drained.schedule?.kind === 'sequence');
  assert.equal(drained.schedule.start, Number(((1n << 60n) + 2n) % 6n));
  const rr = trace(flow, lookups({ services: { 80: svc({ sched: SCHED.rr, tblSize: 6 }) }, table: seq, reals: [up(1), up(2, { weight: 0 }), up(3)], pos: 4n }));
  assert.ok(rr.schedule?.kind === 'sequence');
  assert.deepEqual(
    rr.schedule.probes.map((p) => [p.index, p.realId, p.available]),
    [
      [4, 2, false],
      [5, 3, true],
    ],
  );
  assert.match(why(rr), /entry 4: real id 2 \(10\.0\.0\.12\), which has weight 0: skipped\n[\s\S]*entry 5: real id 3 \(10\.0\.0\.13\) takes it/);
  // Only SEQ_MAX_TRIES entries are looked at, even if a later one is available.
  const long = [...new Array<number>(SEQ_MAX_TRIES).fill(1), 2];
  const hidden = trace(
    flow,
    lookups({ services: { 80: svc({ sched: SCHED.rr, tblSize: long.length }) }, table: long, reals: [up(1, { weight: 0 }), up(2)], pos: 0n }),
  );
  assert.equal(hidden.verdict.kind, 'drop');
  assert.equal(hidden.schedule?.kind === 'sequence' && hidden.schedule.probes.length, SEQ_MAX_TRIES);
  assert.equal(trace(flow, lookups({ services: { 80: svc({ sched: SCHED.rr, tblSize: 6 }) }, table: seq, reals, pos: null })).verdict.kind, 'drop');
});

test("trace: lc, wlc, sed, nq, fo and ovf decide as pickByCounts does on the members' live counts, unavailable ones excluded", () => {
  const reals = [up(1, { weight: 1 }), up(2, { weight: 3 }), up(3, { weight: 2 }), up(4, { weight: 5, uThreshold: 10 })];
  const counts = {
    1: { active: 0, inactive: 4, overloaded: 0 },
    2: { active: 2, inactive: 0, overloaded: 0 },
    3: { active: 1, inactive: 1, overloaded: 0 },
    4: { active: 9, inactive: 1, overloaded: 10 },
  };
  const members = [1, 2, 3, 4];
  for (const name of ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf'] as CountsSchedulerName[]) {
    const t = trace(flow, lookups({ services: { 80: svc({ sched: SCHED[name], tblSize: 4 }) }, table: members, reals, counts }));
    const model = members.map((id, i) => ({
      id,
      weight: reals[i]!.weight,
      active: counts[id as 1]!.active,
      inactive: counts[id as 1]!.inactive,
      overloaded: id === 4,
    }));
    const want = pickByCounts(name, model);
    assert.ok(t.schedule?.kind === 'counts');
    assert.equal(t.schedule.realId, want < 0 ? null : model[want]!.id, name);
    assert.equal(t.schedule.dependsOnState, true);
    assert.deepEqual(
      t.schedule.members.map((m) => m.available),
      [true, true, true, false],
    );
    assert.match(
      traceText(t),
      new RegExp(
        `new connection, ${name}: the next new connection, as of now[\\s\\S]*member real id 2 \\(10\\.0\\.0\\.12\\): weight 3, active 2, inactive 0\\n[\\s\\S]*member real id 4 .*skipped: it is overloaded`,
      ),
    );
  }
  // nq takes the first idle member outright; with nobody available the scan finds nothing.
  assert.equal(realOf(trace(flow, lookups({ services: { 80: svc({ sched: SCHED.nq, tblSize: 4 }) }, table: members, reals, counts }))), 1);
  const t = trace(
    flow,
    lookups({ services: { 80: svc({ sched: SCHED.wlc, tblSize: 2 }) }, table: [1, 2], reals: [up(1, { weight: 0 }), up(2, { flags: REAL_F_MAC })], counts }),
  );
  assert.equal(t.verdict.kind, 'drop');
  assert.match(why(t), /no member may take it/);
});

test('trace: a persistent service honours a live template for (client & mask, service) whose real is available, before the scheduler', () => {
  const persistent = { 80: svc({ persistTimeout: 300, persistMask: '255.255.255.0' }) };
  const templates = { '203.0.113.0 1': { realId: 2, svcId: 1, lastSeen: 900, timeout: 300 } };
  const reads: string[] = [];
  const t = trace(flow, lookups({ services: persistent, table: new Array(7).fill(1), templates, now: 1000 }, reads));
  assert.equal(t.verdict.kind === 'new' && t.verdict.by, 'persistence');
  assert.equal(realOf(t), 2);
  assert.deepEqual(t.persistence, { client: '203.0.113.0', template: templates['203.0.113.0 1'], age: 100, honoured: true, uncertain: false });
  assert.equal(t.schedule, null);
  assert.ok(!reads.includes('table'), 'the scheduler is not consulted');
  assert.match(
    traceText(t),
    /real 10\.0\.0\.12 \(new connection, persistence template\)[\s\S]*template for 203\.0\.113\.0 \(mask 255\.255\.255\.0\) names real id 2 \(10\.0\.0\.12\), last used 100 s ago, timeout 300 s: honoured/,
  );

  // Expired (now - last_seen >= timeout, in u32), or its real drained: scheduled, and the template rewritten.
  for (const [now, lastSeen, reals, text] of [
    [1200, 900, undefined, /expired, not honoured/],
    [5, 0xfffffff0, undefined, /last used 21 s ago, timeout 300 s: honoured/],
    [1000, 900, [up(1), up(2, { weight: 0 })], /not honoured, the real has weight 0/],
  ] as const) {
    const u = trace(
      flow,
      lookups({
        services: persistent,
        table: new Array(7).fill(1),
        reals: reals ? [...reals] : undefined,
        templates: { '203.0.113.0 1': { ...templates['203.0.113.0 1'], lastSeen } },
        now,
      }),
    );
    assert.match(why(u), text);
    if (u.verdict.kind === 'new' && u.verdict.by === 'scheduler') {
      assert.equal(realOf(u), 1);
      assert.match(why(u), /the template for 203\.0\.113\.0 is \(re\)written to real id 1 \(10\.0\.0\.11\), timeout 300 s/);
    } else assert.equal(realOf(u), 2, "the u32 clock wraps as the datapath's does");
  }
  // Within a second of expiry the answer is flagged: the two clocks agree to ±1 s.
  for (const [now, uncertain] of [
    [1198, false],
    [1199, true],
    [1200, true],
    [1201, false],
  ] as const) {
    const u = trace(flow, lookups({ services: persistent, table: new Array(7).fill(1), templates, now }));
    assert.equal(u.persistence!.uncertain, uncertain, `age ${now - 900}`);
    if (uncertain) assert.match(why(u), /within a second of expiry/);
  }
  const fresh = trace(flow, lookups({ services: persistent, table: new Array(7).fill(1) }));
  assert.match(why(fresh), /persistence \(300 s\): no template for 203\.0\.113\.0 \(mask 255\.255\.255\.0\)[\s\S]*is \(re\)written to real id 1/);
  assert.match(why(trace(flow, lookups({ table: new Array(7).fill(1) }))), /persistence: off/);
});

test('trace: the result is plain JSON, with the decision structured', () => {
  const t = trace(
    flow,
    lookups({
      services: { 80: svc({ sched: SCHED.lc, tblSize: 2 }) },
      table: [1, 2],
      counts: { 1: { active: 1, inactive: 0, overloaded: 0 }, 2: { active: 0, inactive: 0, overloaded: 0 } },
    }),
  );
  const j = JSON.parse(JSON.stringify(t));
  assert.deepEqual(j.verdict.real.id, 2);
  assert.deepEqual(j.service, {
    id: 1,
    vip: '10.0.0.100',
    port: 80,
    protocol: 'tcp',
    match: 'exact',
    scheduler: 'lc',
    flags: [],
    tblSize: 2,
    persistTimeout: 0,
    persistMask: '255.255.255.255',
  });
  assert.equal(j.schedule.kind, 'counts');
  assert.equal(j.schedule.members.length, 2);
});

const listing = (inpps: number, mac: string | null = 'aa:bb:cc:dd:ee:ff'): ServiceListing[] => [
  {
    vip: '10.0.0.100',
    port: 80,
    protocol: 'tcp',
    scheduler: 'mh',
    maglevSize: 251,
    stats: { conns: 10, packets: 1500, bytes: 99000 },
    rate: { cps: 1, inpps, outpps: 0, inbps: inpps * 60, outbps: 0 },
    reals: [
      {
        address: '10.0.0.11',
        weight: 3,
        mac,
        schedulable: !!mac,
        stats: { conns: 7, packets: 1000, bytes: 66000 },
        rate: { cps: 1, inpps, outpps: 0, inbps: 60, outbps: 0 },
        activeConns: 4,
        inactiveConns: 9,
      },
      {
        address: '10.0.0.12',
        weight: 0,
        mac: '11:22:33:44:55:66',
        schedulable: false,
        stats: { conns: 3, packets: 500, bytes: 33000 },
        rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
      },
    ],
  },
];

test('top: sparkline scales to its peak; history is bounded and forgets removed reals', () => {
  assert.equal(sparkline([0, 0, 0]), '▁▁▁');
  assert.equal(sparkline([0, 4, 8]), '▁▅█');
  assert.equal(sparkline([0, 8], true), '_#');
  const h: History = new Map();
  for (let i = 0; i < HISTORY + 5; i++) record(h, listing(i));
  assert.equal(h.get('10.0.0.100:80/tcp 10.0.0.11')!.length, HISTORY);
  record(h, []);
  assert.equal(h.size, 0);
});

test('top: a frame shows services, reals, weights, health and rates; colour only when asked', () => {
  const h: History = new Map();
  record(h, listing(5));
  record(h, listing(50));
  const plain = frame(listing(50), h, { color: false, now: new Date(0), source: 'sock' });
  assert.doesNotMatch(plain, /\x1b/);
  assert.match(plain, /TCP 10\.0\.0\.100:80/);
  assert.match(plain, /-> 10\.0\.0\.11\s+3\s+up\s+1\s+50\s+60\s+7\s+1\.0K\s+▂█/);
  assert.match(plain, /-> 10\.0\.0\.12\s+0\s+drained/);
  // As `xlvs list` says: a real no check runs on is unchecked, not up.
  const unchecked = listing(50).map((s) => ({ ...s, reals: s.reals.map((r) => ({ ...r, health: 'unchecked' as const })) }));
  assert.match(frame(unchecked, h, { color: false, now: new Date(0), source: 's' }), /-> 10\.0\.0\.11\s+3\s+unchecked/);
  assert.match(frame(listing(0, null), h, { color: false, now: new Date(0), source: 's' }), /10\.0\.0\.11\s+3\s+no-mac/);
  assert.match(frame(listing(1), h, { color: true, now: new Date(0), source: 's' }), /\x1b\[31m/);
  assert.match(frame([], new Map(), { color: false, now: new Date(0), source: 's' }), /no services configured/);
});

const source = (l: ServiceListing[]): MetricsSource => ({
  list: () => l,
  verdicts: () => ({
    pass_not_ipv4: 1n,
    pass_malformed: 0n,
    pass_fragment: 0n,
    pass_no_service: 2n,
    tx_existing: 1490n,
    tx_new: 10n,
    drop_no_real: 3n,
    aborted: 0n,
    ct_evicted: 0n,
    ct_untracked: 0n,
    pass_not_for_us: 0n,
    sync_lost: 0n,
    pass_ipv6_ext: 0n,
    pass_fragment6: 0n,
    tx_icmp6: 0n,
    pass_icmp6_no_flow: 0n,
    tx_icmp: 0n,
    pass_icmp_no_flow: 0n,
    tx_stateless: 0n,
    ct_over_budget: 0n,
    tx_new6: 0n,
  }),
  connTable: () => ({ entries: 10, capacity: 1024, capacity6: 512, measuredAt: 5 }),
});

/** True when `text` has a sample of the line's name, with at least its labels, and its value ('# ...' lines: exactly). */
function hasSample(text: string, line: string): boolean {
  const lines = text.split('\n');
  if (line.startsWith('#')) return lines.includes(line);
  const parse = (l: string) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
    return m ? { name: m[1], labels: new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])), value: m[3] } : undefined;
  };
  const want = parse(line)!;
  return lines.some((l) => {
    const got = parse(l);
    return got?.name === want.name && got.value === want.value && [...want.labels].every(([k, v]) => got.labels.get(k) === v);
  });
}

test('metrics a node_exporter IPVS dashboard can use: its labels, build info, process metrics, health-check results and durations', async () => {
  const l = listing(5);
  l[0]!.reals[0]!.health = 'down';
  l[0]!.reals[0]!.healthDetail = {
    state: 'down',
    detail: 'refused',
    since: 0,
    check: 'tcp/dr',
    checks: 7,
    failures: 3,
    lastAt: 0,
    durationMsSum: 1500,
    lastDurationMs: 250,
  };
  const text = await registry(source(l)).metrics();
  const labels =
    'vip="10.0.0.100",port="80",protocol="tcp",local_address="10.0.0.100",local_port="80",proto="TCP",' +
    'real="10.0.0.11",remote_address="10.0.0.11",remote_port="80",local_mark=""';
  assert.match(text, new RegExp(`^xlvs_backend_connections_active\\{${labels.replace(/[.]/g, '\\.')}\\} 4$`, 'm'));
  assert.match(
    text,
    /^xlvs_incoming_packets_total\{vip="10\.0\.0\.100",port="80",protocol="tcp",local_address="10\.0\.0\.100",local_port="80",proto="TCP"\} 1500$/m,
  );
  assert.match(text, /^xlvs_build_info\{version="\d+\.\d+\.\d+[^"]*",nodejs="v\d+[^"]*",kernel="[^"]+"\} 1$/m);
  assert.match(text, /^process_cpu_seconds_total \d/m);
  assert.match(text, /^process_resident_memory_bytes \d/m);
  assert.ok(hasSample(text, 'xlvs_health_checks_total{real="10.0.0.11",result="success"} 4'), text);
  assert.ok(hasSample(text, 'xlvs_health_checks_total{real="10.0.0.11",result="failure"} 3'), text);
  assert.ok(hasSample(text, 'xlvs_health_check_duration_seconds_total{real="10.0.0.11"} 1.5'), text);
  assert.ok(hasSample(text, 'xlvs_health_check_last_duration_seconds{real="10.0.0.11"} 0.25'), text);
  assert.doesNotMatch(text, /^xlvs_health_checks_total\{.*real="10\.0\.0\.12"/m, 'unchecked: no sample');
});

test('metrics: node_exporter-style names, base units, _total counters, labels per service and real', async () => {
  const text = await registry(source(listing(5))).metrics();
  // A sample with at least these labels (node_exporter's follow xlvs's own) and this value.
  const has = (line: string) => assert.ok(hasSample(text, line), `missing ${line}\n${text}`);
  has('# TYPE xlvs_incoming_packets_total counter');
  has('xlvs_incoming_packets_total{vip="10.0.0.100",port="80",protocol="tcp"} 1500');
  has('xlvs_incoming_bytes_total{vip="10.0.0.100",port="80",protocol="tcp"} 99000');
  has('xlvs_connections_total{vip="10.0.0.100",port="80",protocol="tcp"} 10');
  has('xlvs_backend_packets_total{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 1000');
  has('xlvs_backend_connections_total{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 3');
  has('xlvs_backend_weight{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 3');
  has('xlvs_backend_up{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 0');
  has('xlvs_backend_mac_resolved{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.12"} 1');
  has('xlvs_datapath_packets_total{verdict="drop_no_real"} 3');
  has('xlvs_conn_table_entries 10');
  has('xlvs_conn_table_capacity 1024');
  has('xlvs_conn6_table_capacity 512');
  has('xlvs_backend_connections_active{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 4');
  has('xlvs_backend_connections_inactive{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 9');
  // A real that goes away takes its series with it (counters are re-read, not accumulated).
  const l = listing(5);
  const src = source(l);
  const reg = registry(src);
  await reg.metrics();
  l[0]!.reals.pop();
  assert.doesNotMatch(await reg.metrics(), /real="10\.0\.0\.12"/);
});

test('metrics: health and ARP-guard gauges from whatever the daemon knows; top shows a failed check as down', async () => {
  const l = listing(5);
  l[0]!.reals[0]!.health = 'down';
  l[0]!.reals[1]!.health = 'unchecked';
  l[0]!.arpClaims = [{ mac: '02:00:00:00:00:99', real: null, since: 0 }];
  const text = await registry(source(l)).metrics();
  assert.ok(hasSample(text, 'xlvs_backend_healthy{vip="10.0.0.100",port="80",protocol="tcp",real="10.0.0.11"} 0'), text);
  assert.doesNotMatch(text, /^xlvs_backend_healthy\{.*real="10\.0\.0\.12"/m, 'unchecked: no sample');
  assert.match(text, /^xlvs_arp_guard_claims\{vip="10\.0\.0\.100"\} 1$/m);
  assert.match(frame(l, new Map(), { color: false, now: new Date(0), source: 's' }), /10\.0\.0\.11\s+3\s+down/);
});

test('metrics and status: the last config reload, refused or not (alert on xlvs_config_last_reload_successful == 0)', async () => {
  let last: ReloadResult = { successful: true, at: 1_700_000_000_000, lastSuccessAt: 1_700_000_000_000 };
  const reg = registry({ ...source(listing(1)), lastReload: () => last });
  assert.match(await reg.metrics(), /^xlvs_config_last_reload_successful 1$/m);
  assert.match(await reg.metrics(), /^xlvs_config_last_reload_success_timestamp_seconds 1700000000$/m);
  last = { successful: false, at: 1_700_000_060_000, lastSuccessAt: 1_700_000_000_000, error: 'services[0].port: 70000 is outside 1..65535' };
  assert.match(await reg.metrics(), /^xlvs_config_last_reload_successful 0$/m);
  assert.match(await reg.metrics(), /^xlvs_config_last_reload_success_timestamp_seconds 1700000000$/m);
  assert.equal(
    reloadLine(last),
    'config: LAST RELOAD FAILED at 2023-11-14T22:14:20.000Z: services[0].port: 70000 is outside 1..65535; ' +
      'running the config loaded at 2023-11-14T22:13:20.000Z',
  );
  // xlvs up never reloads: no series rather than a made-up 1.
  assert.doesNotMatch(await registry(source(listing(1))).metrics(), /last_reload/);
});

test('status JSON: listing, verdicts as numbers, table occupancy and the notes on what is not tracked', () => {
  const j = statusJson(source(listing(5)), 42);
  assert.equal(j.time, 42);
  assert.equal(j.verdicts.tx_new, 10);
  assert.deepEqual(j.connTable, { entries: 10, capacity: 1024, capacity6: 512, measuredAt: 5, evicted: 0, untracked: 0 });
  assert.match(j.notes.join(), /inferred from client-to-server packets only/);
});

test('cachedCount walks at most once per interval', () => {
  let walks = 0;
  let t = 0;
  const c = cachedCount(
    () => ++walks,
    5000,
    () => t,
  );
  c();
  t = 4999;
  assert.equal(c().entries, 1);
  t = 5000;
  assert.equal(c().entries, 2);
});

test('config: metrics.listen defaults to loopback, takes HOST:PORT or off, and names the field when malformed', () => {
  assert.equal(parseConfig('interface: eth0\n').metrics.listen, '127.0.0.1:9258');
  assert.equal(parseConfig('interface: eth0\nmetrics: { listen: "0.0.0.0:9100" }\n').metrics.listen, '0.0.0.0:9100');
  assert.equal(parseConfig('interface: eth0\nmetrics: { listen: "off" }\n').metrics.listen, 'off');
  for (const bad of ['localhost:9258', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '1.2.3:80']) {
    assert.throws(
      () => parseConfig(`interface: eth0\nmetrics: { listen: "${bad}" }\n`),
      (e: unknown) => e instanceof UsageError && e.details.some((d) => d.startsWith(`metrics.listen: "${bad}" is not HOST:PORT`)),
      bad,
    );
  }
  assert.throws(
    () => parseConfig('interface: eth0\nmetrics: { port: 1 }\n'),
    (e: unknown) => e instanceof UsageError && e.details.includes('metrics.port: unknown key'),
  );
});

test("status page history: the daemon's ring keeps 120 samples per real, fills a late real with nulls, drops a gone one", () => {
  const ring = new HistoryRing();
  const l = listing(5);
  for (let t = 0; t < 130; t++) ring.add(t * 1000, l);
  let h = ring.snapshot();
  assert.equal(h.times.length, HISTORY_SAMPLES);
  assert.equal(h.times[0], 10_000);
  const k = seriesKey(l[0]!, '10.0.0.11');
  assert.equal(k, 'TCP 10.0.0.100:80 \u2192 10.0.0.11');
  assert.equal(h.series[k]!.length, HISTORY_SAMPLES);
  const late = structuredClone(l);
  late[0]!.reals.push({ ...late[0]!.reals[0]!, address: '10.0.0.19' });
  ring.add(130_000, late);
  h = ring.snapshot();
  const k19 = seriesKey(l[0]!, '10.0.0.19');
  assert.deepEqual([h.series[k19]!.length, h.series[k19]!.at(0), h.series[k19]!.at(-1)], [HISTORY_SAMPLES, null, late[0]!.reals[0]!.rate.inpps]);
  ring.add(131_000, l);
  assert.equal(ring.snapshot().series[k19], undefined);
});
