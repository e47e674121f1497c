// SPDX-License-Identifier: Apache-2.0
// sameschedule.test.ts: directors with the same config and health view build the same mh/sh/dh tables through plan(), whatever their history (issue 17).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REAL_NONE } from '../../src/core/abi';
import { type ServiceConfig, validateConfig } from '../../src/core/config';
import { buildMaglev } from '../../src/core/maglev';
import { healthKey, type ObservedService, type Op, observedAfter, type Plan, plan } from '../../src/core/plan';

const SIZE = 65537;
const ADDRS = Array.from({ length: 14 }, (_, i) => `10.2.0.${11 + i}`);
const MACS = new Map(ADDRS.map((a, i) => [a, `02:00:00:02:00:${(11 + i).toString(16).padStart(2, '0')}`]));

/** One service per hash scheduler, each over the same reals (address -> weight). */
function config(reals: Record<string, number>): ServiceConfig[] {
  return validateConfig({
    interface: 'eth0',
    services: (['mh', 'sh', 'dh'] as const).map((scheduler, i) => ({
      vip: `10.9.0.${100 + i}`,
      port: 80,
      protocol: 'tcp',
      scheduler,
      maglev_size: SIZE,
      reals: Object.entries(reals).map(([address, weight]) => ({ address, weight })),
    })),
  }).services;
}

/** Runs plans in order as a director would, each against what the one before left; returns the last plan. */
function history(steps: { cfg: ServiceConfig[]; down?: string[]; macs?: Map<string, string | null> }[], start: ObservedService[] = []): Plan {
  let observed = start;
  let p: Plan | undefined;
  for (const s of steps) {
    const cfg = s.cfg;
    const down = new Set((s.down ?? []).flatMap((a) => cfg.map((svc) => healthKey(svc, a))));
    p = plan(cfg, observed, s.macs ?? MACS, down);
    observed = observedAfter(p);
  }
  return p!;
}

/** Per service (by VIP), bucket -> real address: what must match between directors, whose real ids differ. */
function addressTables(p: Plan): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of p.services) {
    const byId = new Map(s.reals.map((r) => [r.id, r.address]));
    out.set(
      s.vip,
      Array.from(p.tables.get(s.id)!, (id) => (id === REAL_NONE ? '-' : byId.get(id)!)),
    );
  }
  return out;
}

function assertSameTables(a: Plan, b: Plan, what: string): void {
  const ta = addressTables(a),
    tb = addressTables(b);
  for (const [vip, t] of ta) {
    const u = tb.get(vip)!;
    let differ = 0;
    for (let i = 0; i < t.length; i++) if (t[i] !== u[i]) differ++;
    assert.equal(differ, 0, `${what}: ${vip}: ${differ} of ${t.length} buckets name another real`);
  }
}

const FINAL = Object.fromEntries(ADDRS.slice(0, 10).map((a, i) => [a, 1 + (i % 3)]));

test('two edit histories ending at the same config build the same tables for mh, sh and dh', () => {
  const fresh = history([{ cfg: config(FINAL) }]);
  // Other weights first, reals added and removed (so ids differ), a health flap, a MAC resolved late.
  const other = Object.fromEntries(ADDRS.slice(2, 14).map((a) => [a, 5]));
  const unresolved = new Map([...MACS].map(([a, m]) => [a, a === ADDRS[4] ? null : m]));
  const long = history([
    { cfg: config(other) },
    { cfg: config({ ...other, [ADDRS[0]!]: 2 }), down: [ADDRS[5]!] },
    { cfg: config(Object.fromEntries(ADDRS.slice(0, 12).map((a) => [a, 3]))), macs: unresolved, down: [ADDRS[1]!, ADDRS[7]!] },
    { cfg: config(Object.fromEntries(ADDRS.slice(6, 12).map((a) => [a, 1]))) },
    { cfg: config(FINAL), down: [ADDRS[2]!] },
    { cfg: config(FINAL) },
  ]);
  assert.notDeepEqual(
    fresh.services[0]!.reals.map((r) => r.id),
    long.services[0]!.reals.map((r) => r.id),
    'the two directors gave the reals different ids',
  );
  assertSameTables(fresh, long, 'fresh vs long history');
});

test('the same health view builds the same tables whatever the order reals failed and recovered in', () => {
  const down = [ADDRS[3]!, ADDRS[8]!];
  const a = history([{ cfg: config(FINAL), down }]);
  const b = history([
    { cfg: config(FINAL), down: [ADDRS[8]!] },
    { cfg: config(FINAL), down: [ADDRS[8]!, ADDRS[0]!] },
    { cfg: config(FINAL), down: [ADDRS[0]!, ADDRS[3]!, ADDRS[8]!] },
    { cfg: config(FINAL), down },
  ]);
  assertSameTables(a, b, 'one jump vs failures and recoveries one by one');
  // Down reals own no bucket; the rest keep exact shares of the live weights.
  for (const t of addressTables(b).values()) for (const d of down) assert.ok(!t.includes(d), `${d} is down and owns buckets`);
});

test('a table adopted from the pins (an older version or another history) is recomputed and rewritten', () => {
  const fresh = history([{ cfg: config(FINAL) }]);
  const prior = history([{ cfg: config(Object.fromEntries(ADDRS.slice(0, 12).map((a) => [a, 2]))) }, { cfg: config(FINAL) }]);
  // What a restart reads back: the same reals and ids, but the tables an older version built (raw Maglev over ids).
  const pinned: ObservedService[] = observedAfter(prior).map((o) => ({
    ...o,
    table: buildMaglev(
      o.reals.map((r) => ({ key: `${r.address}:${o.port}`, weight: r.weight, id: r.id })),
      SIZE,
    ),
    tableFromPins: true,
  }));
  const adopted = plan(config(FINAL), pinned, MACS);
  assertSameTables(fresh, adopted, 'fresh vs adopted');
  const puts = adopted.ops.filter((o): o is Extract<Op, { op: 'putTable' }> => o.op === 'putTable');
  assert.equal(puts.length, 3, 'each adopted table that differs is rewritten');
  for (const p of puts) assert.ok(p.moved > 0 && p.moved < SIZE / 2, `${p.name}: ${p.moved} buckets moved`);
  // Tables that already match (this version wrote them) are left as they are: no write, no moved bucket.
  const again = plan(
    config(FINAL),
    observedAfter(adopted).map((o) => ({ ...o, tableFromPins: true as const })),
    MACS,
  );
  assert.deepEqual(again.ops, []);
});

test('slow start keeps the base on the configured weight: a ramping real moves only what its share requires', () => {
  const cfg = config(FINAL);
  const ramping = ADDRS[0]!;
  const ramped = (w: number) =>
    cfg.map((s) => ({ ...s, reals: s.reals.map((r) => (r.address === ramping ? { ...r, weight: w, configWeight: r.weight } : r)) }));
  const full = history([{ cfg }]);
  const step = history([{ cfg }, { cfg: ramped(0) }]);
  const before = addressTables(full).get('10.9.0.100')!,
    after = addressTables(step).get('10.9.0.100')!;
  let moved = 0;
  for (let i = 0; i < SIZE; i++) if (before[i] !== after[i]) moved++;
  const held = before.filter((a) => a === ramping).length;
  // The real loses its buckets (weight 0 stands in for the start of a ramp); of the others' buckets, only the few
  // the settle to exact shares had moved off their base owner go back (measured: 4; a rebuilt base would move ~100).
  assert.ok(moved >= held && moved <= held + 20, `${moved} buckets moved, the ramping real held ${held}`);
  // Two directors at the same point of the same ramp agree, whatever they ran before.
  assertSameTables(history([{ cfg: ramped(0) }]), step, 'ramp from a fresh start vs from a running table');
});
