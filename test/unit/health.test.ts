// SPDX-License-Identifier: Apache-2.0
// health.test.ts: health checks without root: check config validation, the rise/fall state machine on a fake clock, what a down real does to the plan, and quorum hooks run for real by the health runner (a stub probe, real child processes).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HealthRunner } from '../../src/adapters/health';
import { REAL_F_MAC, REAL_F_SCHED } from '../../src/core/abi';
import { effectiveCheck, validateConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { HealthBook, quorumState } from '../../src/core/health';
import { healthKey, observedAfter, plan } from '../../src/core/plan';
import { waitGone } from '../lib/proc';

const base = (check: unknown, extra: Record<string, unknown> = {}, realCheck?: unknown) => ({
  interface: 'eth0',
  services: [
    {
      vip: '10.0.0.100',
      port: 80,
      maglev_size: 251,
      check,
      ...extra,
      reals: [{ address: '10.0.0.11', ...(realCheck ? { check: realCheck } : {}) }, { address: '10.0.0.12' }],
    },
  ],
});

function problems(input: unknown): string[] {
  try {
    validateConfig(input);
    return [];
  } catch (e) {
    assert.ok(e instanceof UsageError);
    return [...(e.details ?? [])];
  }
}

test('defaults: 1 s interval, 500 ms timeout, fall 2, rise 2; a TCP check of a TCP service follows the DR path', () => {
  const cfg = validateConfig(base({}));
  const c = effectiveCheck(cfg.services[0]!, cfg.services[0]!.reals[0]!);
  assert.deepEqual(
    [c.type, c.mode, c.intervalMs, c.timeoutMs, c.fall, c.rise, c.address, c.port, c.initial],
    ['tcp', 'dr', 1000, 500, 2, 2, '10.0.0.11', 80, 'up'],
  );
  const h = validateConfig(base({ type: 'http', path: '/health' }));
  assert.equal(effectiveCheck(h.services[0]!, h.services[0]!.reals[0]!).mode, 'direct');
  const o = validateConfig(base({ type: 'tcp' }, {}, { address: '10.0.0.50', port: 8080 }));
  const oc = effectiveCheck(o.services[0]!, o.services[0]!.reals[0]!);
  assert.deepEqual([oc.mode, oc.address, oc.port], ['direct', '10.0.0.50', 8080], 'a per-real address override probes that address directly');
  assert.equal(effectiveCheck(o.services[0]!, o.services[0]!.reals[1]!).mode, 'dr');
});

test('bad check definitions are rejected naming the field', () => {
  assert.match(problems(base({ type: 'icmp' })).join('\n'), /services\[0\]\.check\.type: "icmp" is not a known check type/);
  assert.match(
    problems(base({ interval_ms: 500, timeout_ms: 500 })).join('\n'),
    /services\[0\]\.reals\[0\]\.check\.timeout_ms: 500 must be less than interval_ms \(500\)/,
  );
  assert.match(problems(base({ type: 'exec', argv: [] })).join('\n'), /services\[0\]\.check\.argv: \[\] must not be empty/);
  assert.match(problems(base({ type: 'exec' })).join('\n'), /check\.argv: is required for an exec check/);
  assert.match(problems(base({ type: 'http', body_regex: '(' })).join('\n'), /services\[0\]\.check\.body_regex: "\(" is not a valid regular expression/);
  assert.match(problems(base({ type: 'http', status: [] })).join('\n'), /services\[0\]\.check\.status: \[\] must list at least one status/);
  assert.match(problems(base({ type: 'http', status: ['200'] })).join('\n'), /services\[0\]\.check\.status\[0\]/);
  assert.match(problems(base({ type: 'http', mode: 'dr' })).join('\n'), /check\.mode: "dr" needs a tcp check of a tcp service/);
  assert.match(problems(base(undefined, {}, { type: 'tcp' })).join('\n'), /reals\[0\]\.check: overrides need a check on the service/);
  assert.match(problems(base({}, { on_down: 'drop' })).join('\n'), /services\[0\]\.on_down: "drop" must be keep or expire/);
  assert.match(problems(base(undefined, { quorum: { min: 1 } })).join('\n'), /services\[0\]\.quorum: needs a check on the service/);
  assert.match(problems(base({}, { quorum: { min: 1, down: [] } })).join('\n'), /services\[0\]\.quorum\.down: \[\] must not be empty/);
  assert.deepEqual(problems(base({}, { quorum: { min: 1, hysteresis: 1, up: ['/bin/true'], down: ['/usr/bin/logger', 'quorum lost'] } })), []);
  assert.match(problems(base({}, { sorry_server: '10.0.0.11' })).join('\n'), /sorry_server: 10\.0\.0\.11 is also one of the service's reals/);
});

function book(fall = 2, rise = 2) {
  let t = 1000;
  const cfg = validateConfig(base({ fall, rise }));
  const s = cfg.services[0]!;
  const b = new HealthBook(
    () => t,
    () => 0,
  );
  b.sync(s.reals.map((r) => ({ key: healthKey(s, r.address), service: 'TCP 10.0.0.100:80', real: r.address, check: effectiveCheck(s, r) })));
  return { b, s, tick: (ms: number) => (t += ms), now: () => t };
}

test('state machine: fall consecutive failures take a real down, rise successes bring it back, one blip changes nothing', () => {
  const { b, s, tick, now } = book();
  const k = healthKey(s, '10.0.0.11');
  assert.equal(b.due().length, 2);
  assert.equal(b.due().length, 0, 'in flight targets are not handed out twice');
  assert.equal(b.result(k, { ok: false, detail: 'refused' }, now()), undefined);
  assert.equal(b.nextWake(), now() + 1000);
  tick(1000);
  assert.deepEqual(
    b.due().map((t) => t.key),
    [k],
  );
  assert.equal(b.result(k, { ok: true, detail: 'SYN-ACK' }, now()), undefined, 'a success resets the streak');
  tick(1000);
  b.due();
  assert.equal(b.result(k, { ok: false, detail: 'refused' }, now()), undefined);
  tick(1000);
  b.due();
  const down = b.result(k, { ok: false, detail: 'refused' }, now());
  assert.deepEqual([down?.from, down?.to, down?.detail], ['up', 'down', 'refused']);
  assert.deepEqual([...b.downKeys()], [k]);
  tick(1000);
  b.due();
  assert.equal(b.result(k, { ok: true, detail: 'SYN-ACK' }, now()), undefined);
  tick(1000);
  b.due();
  assert.equal(b.result(k, { ok: true, detail: 'SYN-ACK' }, now())?.to, 'up');
  tick(1000);
  b.due();
  assert.equal(b.result(k, { ok: false, inconclusive: true, detail: 'MAC unresolved' }, now()), undefined, 'an inconclusive probe counts neither way');
  const st = b.status().find((x) => x.key === k)!;
  assert.deepEqual([st.state, st.checks, st.failures], ['up', 6, 3]);
});

test('a stepped wall clock neither stalls nor bunches checks: they run on the monotonic clock; since and lastAt show the wall clock', () => {
  let mono = 5000;
  let wall = Date.UTC(2026, 11, 4, 12);
  const cfg = validateConfig(base({}));
  const s = cfg.services[0]!;
  const b = new HealthBook(
    () => mono,
    () => 0,
    () => wall,
  );
  b.sync(s.reals.map((r) => ({ key: healthKey(s, r.address), service: 'x', real: r.address, check: effectiveCheck(s, r) })));
  const k = healthKey(s, '10.0.0.11');
  let rounds = 0;
  for (let i = 0; i < 10; i++) {
    // The wall clock jumps an hour back, then two forward, then back again; the monotonic one advances 1 s a round.
    wall += [-3_600_000, 7_200_000, -3_600_000][i % 3]! + 1000;
    const due = b.due();
    if (due.some((t) => t.key === k)) rounds++;
    for (const t of due) b.result(t.key, { ok: true, detail: 'SYN-ACK' }, mono);
    mono += 1000;
  }
  assert.equal(rounds, 10, 'one check per interval whatever the wall clock did');
  assert.equal(b.status().find((x) => x.key === k)!.lastAt, wall, 'lastAt is the wall clock of the last result');
});

test('sync keeps the state across a reload, drops removed targets, starts new ones at `initial`', () => {
  const { b, s, now } = book(1);
  const k = healthKey(s, '10.0.0.11');
  b.due();
  b.result(k, { ok: false, detail: 'x' }, now());
  assert.equal(b.state(k), 'down');
  const cfg2 = validateConfig(base({ fall: 1, interval_ms: 2000, initial: 'down' }));
  const s2 = cfg2.services[0]!;
  const dropped = b.sync([
    { key: k, service: 'x', real: '10.0.0.11', check: effectiveCheck(s2, s2.reals[0]!) },
    { key: healthKey(s2, '10.0.0.13'), service: 'x', real: '10.0.0.13', check: effectiveCheck(s2, s2.reals[0]!) },
  ]);
  assert.deepEqual(dropped, [healthKey(s, '10.0.0.12')]);
  assert.equal(b.state(k), 'down');
  assert.equal(b.state(healthKey(s2, '10.0.0.13')), 'down');
});

test('quorum with hysteresis', () => {
  assert.equal(quorumState(true, 2, 2, 1), true);
  assert.equal(quorumState(true, 1, 2, 1), false);
  assert.equal(quorumState(false, 2, 2, 1), false);
  assert.equal(quorumState(false, 3, 2, 1), true);
});

const MACS = new Map([
  ['10.0.0.11', '02:00:00:00:00:11'],
  ['10.0.0.12', '02:00:00:00:00:12'],
  ['10.0.0.99', '02:00:00:00:00:99'],
]);

test('a down real leaves the Maglev table through an ordinary plan; keep leaves its MAC (connections stay), expire clears it and purges', () => {
  for (const on_down of ['keep', 'expire'] as const) {
    const cfg = validateConfig(base({}, { on_down }));
    const s = cfg.services[0]!;
    const p0 = plan(cfg.services, [], MACS);
    const o0 = observedAfter(p0);
    const p1 = plan(cfg.services, o0, MACS, new Set([healthKey(s, '10.0.0.11')]));
    const put = p1.ops.find((o) => o.op === 'putReal');
    assert.ok(put && put.op === 'putReal' && put.real.address === '10.0.0.11');
    const flags = observedAfter(p1)[0]!.reals[0]!.flags;
    assert.equal(flags, on_down === 'keep' ? REAL_F_MAC : 0, on_down);
    const table = p1.tables.get(0)!;
    assert.ok(
      table.every((id) => id === o0[0]!.reals[1]!.id),
      'every bucket goes to the real still up',
    );
    const kinds = p1.ops.map((o) => o.op);
    assert.deepEqual(kinds, on_down === 'keep' ? ['putReal', 'putTable'] : ['putReal', 'putTable', 'purgeConns']);
    // Recovery: flags back, table rebuilt.
    const p2 = plan(cfg.services, observedAfter(p1), MACS);
    assert.equal(observedAfter(p2)[0]!.reals[0]!.flags, REAL_F_MAC | REAL_F_SCHED);
  }
});

test('the sorry server takes new connections only while every real is down', () => {
  const cfg = validateConfig(base({}, { sorry_server: '10.0.0.99' }));
  const s = cfg.services[0]!;
  const p0 = plan(cfg.services, [], MACS);
  const sorry0 = p0.services[0]!.reals.find((r) => r.address === '10.0.0.99')!;
  assert.ok(p0.tables.get(0)!.every((id) => id !== sorry0.id));
  const p1 = plan(cfg.services, observedAfter(p0), MACS, new Set([healthKey(s, '10.0.0.11'), healthKey(s, '10.0.0.12')]));
  assert.ok(p1.tables.get(0)!.every((id) => id === sorry0.id));
  assert.equal(
    p1.ops.some((o) => o.op === 'deleteReal'),
    false,
  );
});

interface Ev {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * A HealthRunner over a stub probe: a real is up exactly while its address is in `alive`. Checks run every 50 ms
 * with rise = fall = 1 (mode direct, so nothing needs the NIC), hooks are real child processes.
 */
function quorumRunner(reals: string[], quorum: Record<string, unknown>, o: { initial?: 'up' | 'down'; hookTimeoutMs?: number } = {}) {
  const alive = new Set(o.initial === 'down' ? [] : reals);
  const events: Ev[] = [];
  const cfg = validateConfig({
    interface: 'eth0',
    services: [
      {
        vip: '10.0.0.100',
        port: 80,
        maglev_size: 251,
        quorum,
        check: { type: 'tcp', mode: 'direct', interval_ms: 50, timeout_ms: 10, rise: 1, fall: 1, initial: o.initial ?? 'up' },
        reals: reals.map((address) => ({ address })),
      },
    ],
  });
  const runner = new HealthRunner({
    ifname: 'eth0',
    ifindex: 1,
    mac: '02:00:00:00:00:02',
    macOf: () => null,
    onChange: () => undefined,
    event: (level, msg, fields) => void events.push({ level, msg, fields }),
    probe: async (t) => (alive.has(t.real) ? { ok: true, detail: 'stub up' } : { ok: false, detail: 'stub down' }),
    ...(o.hookTimeoutMs !== undefined ? { hookTimeoutMs: o.hookTimeoutMs } : {}),
  });
  const count = (msg: string, f: Record<string, unknown> = {}) =>
    events.filter((e) => e.msg === msg && Object.entries(f).every(([k, v]) => e.fields[k] === v)).length;
  const waitFor = async (what: string, pred: () => boolean, ms = 5000) => {
    for (const end = Date.now() + ms; !pred(); ) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /** Waits until every real has had `n` more checks than now: whatever those checks were going to do is done. */
  const settle = async (n = 3) => {
    const base = new Map(runner.status().map((st) => [st.real, st.checks]));
    await waitFor(`${n} more checks`, () => runner.status().every((st) => st.checks >= (base.get(st.real) ?? 0) + n));
  };
  runner.setConfig(cfg);
  return { alive, events, runner, count, waitFor, settle };
}

/** A hook (a node script, argv only) that appends "<up|down> <service> up=<n> min=<m>" to file. */
const recorder = (file: string): string[] => [
  process.execPath,
  '-e',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the hook's own script, a template literal evaluated by the child
  "require('fs').appendFileSync(process.argv[1], `${process.env.XLVS_QUORUM} ${process.env.XLVS_SERVICE} up=${process.env.XLVS_UP} min=${process.env.XLVS_MIN}\\n`)",
  file,
];
const lines = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

test('quorum hooks run once per transition: down below min, up only at min + hysteresis', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-quorum-'));
  const file = path.join(dir, 'hooks');
  const [r1, r2, r3] = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
  const q = quorumRunner([r1!, r2!, r3!], { min: 2, hysteresis: 1, down: recorder(file), up: recorder(file) });
  try {
    await q.settle();
    assert.deepEqual(lines(file), [], 'all up: no hook');
    q.alive.delete(r1!);
    await q.waitFor('r1 down', () => q.count('real down', { real: r1 }) === 1);
    await q.settle();
    assert.deepEqual(lines(file), [], '2 up of min 2: quorum kept');
    q.alive.delete(r2!);
    await q.waitFor('the down hook', () => q.count('quorum hook exited', { hook: 'down' }) === 1);
    assert.deepEqual(lines(file), ['down TCP 10.0.0.100:80 up=1 min=2']);
    q.alive.add(r2!);
    await q.waitFor('r2 up', () => q.count('real up', { real: r2 }) === 1);
    await q.settle();
    q.alive.delete(r2!);
    await q.waitFor('r2 down again', () => q.count('real down', { real: r2 }) === 2);
    await q.settle();
    assert.deepEqual(lines(file), ['down TCP 10.0.0.100:80 up=1 min=2'], 'back to min (2) without the hysteresis (3), and down again: no hook');
    q.alive.add(r2!);
    q.alive.add(r1!);
    await q.waitFor('the up hook', () => q.count('quorum hook exited', { hook: 'up' }) === 1);
    await q.settle();
    assert.deepEqual(lines(file), ['down TCP 10.0.0.100:80 up=1 min=2', 'up TCP 10.0.0.100:80 up=3 min=2']);
    assert.deepEqual([q.count('quorum lost'), q.count('quorum regained'), q.count('quorum hook exited', { code: 0 })], [1, 1, 2]);
    assert.deepEqual(q.runner.quorumLost(), []);
  } finally {
    await q.runner.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reals that start down lose quorum at start: the down hook runs once, the up hook once they rise', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-quorum-'));
  const file = path.join(dir, 'hooks');
  const q = quorumRunner(['10.0.0.11', '10.0.0.12'], { min: 1, down: recorder(file), up: recorder(file) }, { initial: 'down' });
  try {
    await q.waitFor('the down hook', () => q.count('quorum hook exited', { hook: 'down' }) === 1);
    assert.deepEqual(q.runner.quorumLost(), ['TCP 10.0.0.100:80']);
    q.alive.add('10.0.0.11');
    q.alive.add('10.0.0.12');
    await q.waitFor('the up hook', () => q.count('quorum hook exited', { hook: 'up' }) === 1);
    await q.settle();
    assert.deepEqual(lines(file), ['down TCP 10.0.0.100:80 up=0 min=1', 'up TCP 10.0.0.100:80 up=1 min=1']);
  } finally {
    await q.runner.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a hook that cannot start or fails is an event; the runner carries on', async () => {
  const q = quorumRunner(['10.0.0.11'], { min: 1, down: ['/nonexistent/xlvs-hook'], up: [process.execPath, '-e', 'process.exit(3)'] });
  try {
    q.alive.clear();
    await q.waitFor('the down hook failing', () => q.count('quorum hook failed') === 1);
    const failed = q.events.find((e) => e.msg === 'quorum hook failed')!;
    assert.equal(failed.level, 'error');
    assert.deepEqual([failed.fields.hook, failed.fields.argv], ['down', ['/nonexistent/xlvs-hook']]);
    assert.match(String(failed.fields.err), /ENOENT/);
    q.alive.add('10.0.0.11');
    await q.waitFor('the up hook exiting', () => q.count('quorum hook exited', { hook: 'up' }) === 1);
    const exited = q.events.find((e) => e.msg === 'quorum hook exited')!;
    assert.deepEqual([exited.level, exited.fields.code, exited.fields.signal], ['warn', 3, null]);
    await q.settle();
    assert.equal(q.count('quorum hook failed') + q.count('quorum hook exited'), 2, 'one event per hook run');
  } finally {
    await q.runner.stop();
  }
});

test('a hook that hangs is killed with its process group at the timeout; the next hook waits for it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-quorum-'));
  const pidFile = path.join(dir, 'pid');
  const file = path.join(dir, 'hooks');
  // The hook's own child writes its pid and sleeps: after the timeout it must be gone too.
  const hang = ['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`];
  const q = quorumRunner(['10.0.0.11'], { min: 1, down: hang, up: recorder(file) }, { hookTimeoutMs: 400 });
  try {
    q.alive.clear();
    await q.waitFor('quorum lost', () => q.count('quorum lost') === 1);
    q.alive.add('10.0.0.11');
    await q.waitFor('quorum regained', () => q.count('quorum regained') === 1);
    assert.deepEqual(lines(file), [], 'the up hook has not overtaken the hanging down hook');
    await q.waitFor('the up hook', () => q.count('quorum hook exited', { hook: 'up' }) === 1);
    const order = q.events.filter((e) => e.msg.startsWith('quorum hook')).map((e) => `${e.msg} ${String(e.fields.hook)}`);
    assert.deepEqual(order, ['quorum hook timed out down', 'quorum hook exited up']);
    const t = q.events.find((e) => e.msg === 'quorum hook timed out')!;
    assert.deepEqual([t.level, t.fields.signal, t.fields.timeout_ms], ['error', 'SIGKILL', 400]);
    assert.ok(Number(t.fields.ms) >= 400, `killed after ${String(t.fields.ms)} ms`);
    assert.deepEqual(lines(file), ['up TCP 10.0.0.100:80 up=1 min=1']);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(await waitGone(pid), "the hook's child was killed with its process group");
  } finally {
    await q.runner.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
