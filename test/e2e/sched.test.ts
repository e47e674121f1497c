// SPDX-License-Identifier: Apache-2.0
// sched.test.ts: scheduling features end to end in the namespace lab with the daemon: persistence keeps a client network on one real, drain (weight 0, then `xlvs real drain --wait`) keeps long-lived connections while new ones go elsewhere, slow start ramps a new real, and the listing's active/inactive counts match the connections held open.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import type { ServiceListing } from '../../src/core/listing';
import { ADDR, type ClientResult, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PERSIST = 80; // rr + persistence 30 s, /24
const PLAIN = 8080; // rr, no persistence: the control
const DRAIN = 8081; // rr, rs1 only at start; rs2 and rs3 join at run time
const SLOW = 8082; // wrr, slow_start_s 10
const SLOW_S = 10;
const SLOW_WEIGHT = 10;
const TCP_FIN_S = 2;
const SWEEP_MS = 200;

/** The daemon's config: short FIN timeout and sweep so a drain completes in seconds (timeouts.tcp_fin defaults to 120 s). */
function config(): string {
  const real = (n: number, w = 1) => `      - { address: ${realAddress(n)}, weight: ${w} }`;
  const svc = (port: number, scheduler: string, extra: string[], reals: string[]) => [
    `  - vip: ${ADDR.vip}`,
    `    port: ${port}`,
    '    protocol: tcp',
    `    scheduler: ${scheduler}`,
    ...extra.map((e) => `    ${e}`),
    '    reals:',
    ...reals,
  ];
  return [
    'interface: eth0',
    `timeouts: { tcp_fin: ${TCP_FIN_S} }`,
    `sweep_interval_ms: ${SWEEP_MS}`,
    'services:',
    ...svc(PERSIST, 'rr', ['persistence: { timeout: 30, netmask: 255.255.255.0 }'], [real(1), real(2)]),
    ...svc(PLAIN, 'rr', [], [real(1), real(2)]),
    ...svc(DRAIN, 'rr', [], [real(1)]),
    ...svc(SLOW, 'wrr', [`slow_start_s: ${SLOW_S}`], [real(1, SLOW_WEIGHT)]),
    '',
  ].join('\n');
}

describe('scheduling: persistence, drain, slow start, connection counts (namespace lab)', { timeout: 300_000 }, () => {
  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    // One more HTTP server per real and port, each answering with the real's name (UDP ports are unused but distinct).
    for (const [port, reals] of [
      [PLAIN, ['rs1', 'rs2']],
      [DRAIN, ['rs1', 'rs2', 'rs3']],
      [SLOW, ['rs1', 'rs2']],
    ] as const) {
      for (const n of reals) await l.startServer(n, { httpPort: port, udpPort: port + 1000 });
    }
    await l.addSecondClientNetwork();
    const file = path.join(l.workDir, 'sched.yaml');
    fs.writeFileSync(file, config());
    await l.startDaemon(file);
  });
  const xlvs = (args: string[], allowFail = false) => {
    const l = L();
    return l.xlvs([...args, '--socket', l.daemonSocket()], { allowFail, timeoutMs: 60_000 });
  };
  const listJson = async () => JSON.parse((await xlvs(['list', '--json'])).stdout) as any[];
  const realsOf = async (port: number): Promise<Map<string, any>> => {
    const s = (await listJson()).find((x) => x.port === port);
    assert.ok(s, `service :${port} is listed`);
    return new Map(s.reals.map((r: any) => [r.address, r]));
  };
  const waitFor = async (what: string, ms: number, pred: () => Promise<boolean>): Promise<number> => {
    const t0 = Date.now();
    for (;;) {
      if (await pred()) return Date.now() - t0;
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(100);
    }
  };
  const noFailures = (r: ClientResult, what: string) => assert.equal(r.failures, 0, `${what}: ${JSON.stringify(r.errors)}`);

  test('persistence: every new connection of a client /24 lands on one real, another /24 may go elsewhere; without persistence rr alternates', async (t) => {
    const l = L();
    // Control: rr alone alternates, so 40 sequential connections split exactly 20/20.
    const plain = await l.runClient('tcp', { port: PLAIN, count: 40, concurrency: 1, timeoutMs: 3000 });
    noFailures(plain, 'rr without persistence');
    assert.deepEqual(plain.counts, { rs1: 20, rs2: 20 });

    const seq = await l.runClient('tcp', { port: PERSIST, count: 40, concurrency: 1, timeoutMs: 3000 });
    noFailures(seq, 'persistent, sequential');
    const names = Object.keys(seq.counts);
    assert.equal(names.length, 1, `one real for ${ADDR.client}'s /24: ${JSON.stringify(seq.counts)}`);
    const home = names[0]!;
    // Concurrent connections, seconds later, follow the same template.
    const par = await l.runClient('tcp', { port: PERSIST, count: 60, concurrency: 10, timeoutMs: 3000 });
    noFailures(par, 'persistent, concurrent');
    assert.deepEqual(par.counts, { [home]: 60 });

    // The second network gets a template of its own. rr's position moved exactly once since the first template was
    // made (persistent connections are not scheduled), so with two reals the new template names the other one.
    const other = await l.runClient('tcp', { port: PERSIST, count: 40, concurrency: 1, timeoutMs: 3000, localAddress: ADDR.client2 });
    noFailures(other, `from ${ADDR.client2}`);
    const otherNames = Object.keys(other.counts);
    assert.equal(otherNames.length, 1, `one real for ${ADDR.client2}'s /24: ${JSON.stringify(other.counts)}`);
    assert.notEqual(otherNames[0], home, `${ADDR.client2} went to ${otherNames[0]}, as ${ADDR.client} did`);
    const svc = (await listJson()).find((x) => x.port === PERSIST);
    assert.deepEqual(svc.persistence, { timeout: 30, netmask: '255.255.255.0' });
    t.diagnostic(
      `rr control: ${JSON.stringify(plain.counts)}; ${ADDR.client}/24: ${JSON.stringify(seq.counts)} then ${JSON.stringify(par.counts)}; ${ADDR.client2}/24: ${JSON.stringify(other.counts)}`,
    );
  });

  test('drain: long-lived connections survive weight 0 with no failed request while new ones go elsewhere; drain --wait shows the counts fall and deletes the real', async (t) => {
    const l = L();
    const rs1 = realAddress(1);
    const target = `${ADDR.vip}:${DRAIN}`;
    const held = [0, 1, 2].map(() => l.startKeepalive({ port: DRAIN, intervalMs: 100, timeoutMs: 3000 }));
    const results: (ClientResult | undefined)[] = [];
    const stopHeld = async (i: number) => (results[i] ??= await held[i]!.stop());
    try {
      // rs1 is the service's only real, so all three land there: three ESTABLISHED connections, nothing else.
      await waitFor('3 active connections on rs1', 10_000, async () => (await realsOf(DRAIN)).get(rs1)?.activeConns === 3);
      let reals = await realsOf(DRAIN);
      assert.deepEqual([reals.get(rs1).activeConns, reals.get(rs1).inactiveConns], [3, 0], 'the listing counts exactly the connections held open');

      for (const n of [2, 3]) await xlvs(['real', 'add', '--vip', ADDR.vip, '--port', String(DRAIN), '--address', realAddress(n)]);
      await waitFor('rs2 and rs3 schedulable', 10_000, async () => {
        const r = await realsOf(DRAIN);
        return !!r.get(realAddress(2))?.schedulable && !!r.get(realAddress(3))?.schedulable;
      });

      // Weight 0, no waiting: the command says what is left.
      const soft = await xlvs(['real', 'drain', target, rs1]);
      assert.match(
        soft.stdout,
        new RegExp(`${rs1.replace(/\./g, '\\.')} of TCP ${target.replace(/\./g, '\\.')}: weight 1 -> 0: no new connections, existing ones stay`),
      );
      assert.match(soft.stdout, /3 active, 0 inactive connection\(s\) left/);
      reals = await realsOf(DRAIN);
      assert.equal(reals.get(rs1).weight, 0);
      assert.equal(reals.get(rs1).activeConns, 3);

      // Every new connection goes to the others (rr over rs2 and rs3: exactly half each).
      const fresh = await l.runClient('tcp', { port: DRAIN, count: 100, concurrency: 10, timeoutMs: 3000 });
      const freshEnd = Date.now();
      noFailures(fresh, 'new connections while rs1 drains');
      assert.deepEqual(fresh.counts, { rs2: 50, rs3: 50 });
      // Those 100 are closed now: inactive (FIN_WAIT) on rs2/rs3 until timeouts.tcp_fin, none active; rs1 unchanged.
      reals = await realsOf(DRAIN);
      const listedAfter = Date.now() - freshEnd;
      const others = [realAddress(2), realAddress(3)].map((a) => reals.get(a));
      const lingering = others.reduce((n, r) => n + r.inactiveConns, 0);
      assert.equal(
        others.reduce((n, r) => n + r.activeConns, 0),
        0,
        'closed connections are not active',
      );
      assert.ok(lingering <= 100, `at most the 100 closed connections are counted: ${lingering}`);
      // Timestamps are whole seconds, so a FIN_WAIT entry lives at least tcp_fin - 1 s: a listing within 1 s must see some.
      if (listedAfter < (TCP_FIN_S - 1) * 1000) assert.ok(lingering > 0, `closed connections linger as inactive (listed ${listedAfter} ms after the last)`);
      assert.deepEqual([reals.get(rs1).activeConns, reals.get(rs1).inactiveConns], [3, 0]);
      const expiredIn = await waitFor('the closed connections to expire', (TCP_FIN_S + 3) * 1000, async () => {
        const r = await realsOf(DRAIN);
        return [realAddress(2), realAddress(3)].every((a) => r.get(a).activeConns === 0 && r.get(a).inactiveConns === 0);
      });

      // --wait with the connections still open: the timeout says what is left, exits 1, deletes nothing.
      const short = await xlvs(['real', 'drain', target, rs1, '--wait', '--timeout', '2', '--interval', '500'], true);
      assert.equal(short.code, 1, short.stdout + short.stderr);
      assert.match(short.stderr, /3 active, 0 inactive connection\(s\) still tracked after 2 s; not deleted \(it stays at weight 0\)/);
      assert.ok(progress(short.stdout).length >= 4, short.stdout);
      assert.ok(
        progress(short.stdout).every((p) => p.active === 3 && p.inactive === 0),
        short.stdout,
      );
      assert.equal((await realsOf(DRAIN)).get(rs1)?.weight, 0, 'still there at weight 0');

      // --wait while the held connections close one by one: active falls, closed ones linger as inactive, then the real goes.
      const waiting = xlvs(['real', 'drain', target, rs1, '--wait', '--timeout', '20', '--interval', '500'], true);
      waiting.catch(() => undefined); // awaited below; a failure before then must not surface as an unhandled rejection
      const closedAt: number[] = [];
      for (const i of [0, 1, 2]) {
        await sleep(1500);
        await stopHeld(i);
        closedAt.push(Date.now());
      }
      const done = await waiting;
      const doneAt = Date.now();
      assert.equal(done.code, 0, done.stdout + done.stderr);
      const steps = progress(done.stdout);
      assert.equal(steps[0]!.active + steps[0]!.inactive, 3, done.stdout);
      for (let i = 1; i < steps.length; i++) {
        assert.ok(steps[i]!.active <= steps[i - 1]!.active, `active never rises at weight 0:\n${done.stdout}`);
        assert.ok(steps[i]!.active + steps[i]!.inactive <= steps[i - 1]!.active + steps[i - 1]!.inactive, `nothing new is counted:\n${done.stdout}`);
      }
      assert.ok(
        steps.some((p) => p.active === 0 && p.inactive > 0),
        `closed connections show as inactive before they expire:\n${done.stdout}`,
      );
      assert.deepEqual(steps.at(-1), { t: steps.at(-1)!.t, active: 0, inactive: 0 });
      assert.match(done.stdout, /no tracked connections left after \d+\.\d s; deleted/);
      assert.deepEqual([...(await realsOf(DRAIN)).keys()], [realAddress(2), realAddress(3)]);

      for (const [i, r] of results.entries()) {
        assert.ok(r);
        noFailures(r, `held connection ${i}`);
        assert.equal(r.localPorts?.length, 1, `held connection ${i} stayed one connection: ${JSON.stringify(r.localPorts)}`);
        assert.deepEqual(Object.keys(r.counts), ['rs1'], `held connection ${i} stayed on rs1: ${JSON.stringify(r.counts)}`);
        assert.ok(r.ok >= 30, `held connection ${i}: only ${r.ok} requests`);
      }
      const after = await l.runClient('tcp', { port: DRAIN, count: 20, concurrency: 5, timeoutMs: 3000 });
      noFailures(after, 'after the drain');
      assert.deepEqual(after.counts, { rs2: 10, rs3: 10 });

      t.diagnostic(
        `held: ${results.map((r) => `${r!.ok} ok/${r!.failures} failed`).join(', ')}; new while draining: ${JSON.stringify(fresh.counts)}; ${lingering} closed linger as inactive ${listedAfter} ms later, all expired ${expiredIn} ms after that`,
      );
      t.diagnostic(
        `drain --wait: last connection closed -> real deleted in ${doneAt - closedAt.at(-1)!} ms (tcp_fin ${TCP_FIN_S} s, sweep ${SWEEP_MS} ms, interval 500 ms)`,
      );
      for (const line of done.stdout.trimEnd().split('\n')) t.diagnostic(line);
    } finally {
      for (const i of [0, 1, 2]) await stopHeld(i).catch(() => undefined);
    }
  });

  test(`slow start: a real added at run time ramps from weight 1 to ${SLOW_WEIGHT} over ${SLOW_S} s; its share of new connections follows`, async (t) => {
    const l = L();
    const rs2 = realAddress(2);
    const tBefore = Date.now();
    await xlvs(['real', 'add', '--vip', ADDR.vip, '--port', String(SLOW), '--address', rs2, '--weight', String(SLOW_WEIGHT)]);
    const tAfter = Date.now();

    // The listing, read from the API as `xlvs list --json` reads it (a CLI process per sample took 3 s on a loaded CI
    // machine: too few samples), until the ramp is over; and meanwhile windows of 100 new connections.
    const samples: { ts: number; te: number; ew: number | undefined; weight: number }[] = [];
    let ramping = true;
    let stop = false;
    const poll = (async () => {
      try {
        while (!stop && Date.now() - tAfter < (SLOW_S + 8) * 1000) {
          const ts = Date.now();
          const list = await call<ServiceListing[]>(l.daemonSocket(), 'GET', '/v1/services');
          const r = list.find((x) => x.port === SLOW)!.reals.find((x) => x.address === rs2)!;
          if (r.weightNote === 'no-mac') {
            // In force 0 until its MAC is resolved: not the ramp.
            await sleep(50);
            continue;
          }
          samples.push({ ts, te: Date.now(), ew: r.effectiveWeight, weight: r.weight });
          if (r.effectiveWeight === undefined) return;
          await sleep(200);
        }
      } finally {
        ramping = false;
      }
    })();
    const windows: { ws: number; we: number; share: number; counts: Record<string, number> }[] = [];
    const window = async () => {
      const ws = Date.now();
      const r = await l.runClient('tcp', { port: SLOW, count: 100, concurrency: 10, timeoutMs: 3000 });
      noFailures(r, 'slow-start window');
      windows.push({ ws, we: Date.now(), share: (r.counts.rs2 ?? 0) / r.ok, counts: r.counts });
    };
    try {
      while (ramping) await window();
    } finally {
      stop = true; // a failed window must not leave the poller running into the lab's teardown
      await poll.catch(() => undefined);
    }
    await poll;
    // The datapath takes each step at the daemon's next periodic sync (every second), so the listing leads it by up to 1 s.
    await sleep(1500);
    await window(); // after the ramp: full weight, so wrr alternates

    const rel = (ms: number) => ((ms - tBefore) / 1000).toFixed(1);
    for (const s of samples) t.diagnostic(`listing at +${rel(s.ts)}..${rel(s.te)} s: effectiveWeight ${s.ew ?? `(none: full ${s.weight})`}`);
    for (const w of windows) t.diagnostic(`window +${rel(w.ws)}..${rel(w.we)} s: rs2 ${(w.share * 100).toFixed(0)}% ${JSON.stringify(w.counts)}`);

    // effectiveWeight: present at once, linear in time (ramp start between tBefore and tAfter), never falling, then gone.
    const ramp = samples.filter((s) => s.ew !== undefined);
    assert.ok(ramp.length >= 5, `too few samples during the ramp: ${ramp.length}`);
    assert.ok(ramp[0]!.ew! <= 2, `starts near 1: ${ramp[0]!.ew}`);
    for (const [i, s] of ramp.entries()) {
      const lo = Math.max(1, Math.floor(((s.ts - tAfter) * SLOW_WEIGHT) / (SLOW_S * 1000)));
      const hi = Math.max(1, Math.floor(((s.te - tBefore) * SLOW_WEIGHT) / (SLOW_S * 1000)));
      assert.ok(s.ew! >= lo && s.ew! <= hi && s.ew! < SLOW_WEIGHT, `effectiveWeight ${s.ew} at +${rel(s.ts)} s: expected ${lo}..${hi}`);
      if (i) assert.ok(s.ew! >= ramp[i - 1]!.ew!, 'effectiveWeight never falls');
    }
    assert.ok(ramp.at(-1)!.ew! > ramp[0]!.ew!, 'effectiveWeight rose');
    const full = samples.at(-1)!;
    assert.equal(full.ew, undefined, 'the ramp ended');
    assert.equal(full.weight, SLOW_WEIGHT);
    assert.ok(full.te - tBefore >= SLOW_S * 1000, `full weight no earlier than ${SLOW_S} s: +${rel(full.te)} s`);
    // (The band above already proves no sample at or after t0 + 10 s still ramps; this bounds only the polling.)
    assert.ok(full.ts - tAfter <= (SLOW_S + 4) * 1000, `full weight seen by ${SLOW_S + 4} s: +${rel(full.ts)} s`);

    // Shares: full weight gives 50%. The first window (weight 1..2 of 10) gets clearly less; the last one half.
    const first = windows[0]!;
    assert.ok(first.share < 0.25, `first window: rs2 ${(first.share * 100).toFixed(0)}%, full weight would give 50%`);
    for (const w of windows.filter((x) => x.we - tBefore <= 3000)) assert.ok(w.share < 0.3, `window ending by +3 s: rs2 ${(w.share * 100).toFixed(0)}%`);
    const last = windows.at(-1)!;
    assert.ok(last.share >= 0.45 && last.share <= 0.55, `after the ramp: rs2 ${(last.share * 100).toFixed(0)}%, expected 50%`);
    const mid = windows.filter((w) => w.ws - tAfter >= 5000 && w.we - tBefore <= SLOW_S * 1000);
    if (mid.length) assert.ok(Math.max(...mid.map((w) => w.share)) > first.share, 'the share grows during the ramp');
  });
});

/** The per-interval lines of `xlvs real drain --wait`: "  +1.5s  2 active  1 inactive". */
function progress(stdout: string): { t: number; active: number; inactive: number }[] {
  return [...stdout.matchAll(/^ {2}\+(\d+\.\d)s {2}(\d+) active {2}(\d+) inactive$/gm)].map((m) => ({
    t: Number(m[1]),
    active: Number(m[2]),
    inactive: Number(m[3]),
  }));
}
