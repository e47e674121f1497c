// SPDX-License-Identifier: Apache-2.0
// drain.test.ts: `xlvs real drain` against a scripted daemon on a fake clock: flags refused before any call, weight 0 first, one line per poll, delete only at zero, never on timeout or when someone re-weights the real.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DrainEffects, type DrainOptions, drain, drainOptions } from '../../src/cli/commands/real-drain';
import { buildProgram, exitCodeOf } from '../../src/cli/main';
import { NotFoundError } from '../../src/core/edits';
import { RuntimeError, UsageError } from '../../src/core/errors';

const VIP = '10.0.0.100';
const RIP = '10.0.0.11';

/** A daemon whose real reports the next scripted counts at each listing; records every call. */
function fakeDaemon(script: { active: number | null; inactive: number | null; weight?: number }[], o: { weight?: number } = {}) {
  let weight = o.weight ?? 3;
  let present = true;
  let i = 0;
  let clock = 0;
  const calls: string[] = [];
  const lines: string[] = [];
  const fx: DrainEffects = {
    async call(method, route, body?: any) {
      calls.push(`${method} ${route}${body ? ` ${JSON.stringify(body.real)}` : ''}`);
      if (route === '/v1/real/edit') weight = body.real.weight;
      if (route === '/v1/real/delete') present = false;
      if (route !== '/v1/services') return {} as any;
      const step = script[Math.min(i++, script.length - 1)]!;
      if (step.weight !== undefined) weight = step.weight;
      const real = { address: RIP, weight, activeConns: step.active, inactiveConns: step.inactive };
      return [
        { vip: VIP, port: 80, protocol: 'tcp', reals: present ? [real, { address: '10.0.0.12', weight: 1, activeConns: 9, inactiveConns: 9 }] : [] },
      ] as any;
    },
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
    out: (l) => lines.push(l),
  };
  return { fx, calls, lines, weight: () => weight };
}

const opts = (o: Partial<DrainOptions> = {}): DrainOptions => ({
  service: { vip: VIP, port: 80, protocol: 'tcp' },
  address: RIP,
  wait: true,
  timeoutS: 10,
  intervalMs: 1000,
  ...o,
});

test('flags: each bad value is refused naming the flag and the value', () => {
  const bad: [string, string, Record<string, unknown>, RegExp][] = [
    ['10.0.0.100', RIP, {}, /^VIP:PORT "10\.0\.0\.100": expected an address and a port/],
    ['10.0.0.300:80', RIP, {}, /^VIP:PORT "10\.0\.0\.300:80": "10\.0\.0\.300" is not an IPv4 address/],
    ['10.0.0.100:http', RIP, {}, /^VIP:PORT "10\.0\.0\.100:http": port "http" must be an integer in 0\.\.65535/],
    ['10.0.0.100:65536', RIP, {}, /port "65536" must be an integer in 0\.\.65535/],
    ['10.0.0.100:80', 'rs1', {}, /^RIP "rs1": not an IPv4 or IPv6 address/],
    ['10.0.0.100:80', RIP, { protocol: 'sctp' }, /^--protocol "sctp": must be tcp or udp/],
    ['10.0.0.100:80', RIP, { wait: true, timeout: '0' }, /^--timeout "0": must be an integer in 1\.\.604800/],
    ['10.0.0.100:80', RIP, { wait: true, timeout: '2.5' }, /^--timeout "2\.5": must be an integer/],
    ['10.0.0.100:80', RIP, { wait: true, interval: '50' }, /^--interval "50": must be an integer in 100\.\.60000/],
    ['10.0.0.100:80', RIP, { timeout: '20' }, /^--timeout "20": only with --wait/],
    ['10.0.0.100:80', RIP, { interval: '500' }, /^--interval "500": only with --wait/],
  ];
  for (const [svc, real, o, re] of bad) {
    assert.throws(
      () => drainOptions(svc, real, o),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      `${svc} ${real} ${JSON.stringify(o)}`,
    );
  }
  assert.deepEqual(drainOptions('10.0.0.100:0', RIP, { protocol: 'udp', wait: true, timeout: '20', interval: '500' }), {
    service: { vip: VIP, port: 0, protocol: 'udp' },
    address: RIP,
    wait: true,
    timeoutS: 20,
    intervalMs: 500,
  });
  assert.deepEqual(drainOptions('10.0.0.100:80', RIP, {}), {
    service: { vip: VIP, port: 80, protocol: 'tcp' },
    address: RIP,
    wait: false,
    timeoutS: 300,
    intervalMs: 1000,
  });
});

test('the CLI refuses bad flags with exit 2 before it calls the daemon', async () => {
  const nowhere = '/nonexistent/xlvs-drain-test.sock';
  const run = async (args: string[]) => {
    try {
      await buildProgram().parseAsync(['node', 'xlvs', 'real', 'drain', ...args, '--socket', nowhere]);
      return { code: 0, e: undefined as unknown };
    } catch (e) {
      return { code: exitCodeOf(e), e };
    }
  };
  const bad = await run(['10.0.0.100:80', RIP, '--wait', '--interval', 'fast']);
  assert.equal(bad.code, 2);
  assert.match((bad.e as Error).message, /--interval "fast": must be an integer in 100\.\.60000/);
  // Good flags get as far as the socket: the failure is reaching the daemon (exit 1), so validation passed.
  const good = await run(['10.0.0.100:80', RIP, '--wait', '--timeout', '5']);
  assert.equal(good.code, 1);
  assert.match((good.e as Error).message, /cannot reach the xlvs daemon on \/nonexistent\/xlvs-drain-test\.sock/);
});

test('without --wait: weight 0 and what is left, nothing deleted', async () => {
  const d = fakeDaemon([{ active: 3, inactive: 1 }]);
  await drain(opts({ wait: false }), d.fx);
  assert.deepEqual(d.calls, ['GET /v1/services', `POST /v1/real/edit {"address":"${RIP}","weight":0}`, 'GET /v1/services']);
  assert.deepEqual(d.lines, [
    `xlvs: ${RIP} of TCP ${VIP}:80: weight 3 -> 0: no new connections, existing ones stay`,
    `xlvs: ${RIP} of TCP ${VIP}:80: 3 active, 1 inactive connection(s) left (--wait deletes it once none are)`,
  ]);
});

test('--wait: one line per poll while the counts fall, then delete at zero', async () => {
  const d = fakeDaemon([
    { active: 3, inactive: 0 },
    { active: 3, inactive: 0 },
    { active: 2, inactive: 1 },
    { active: 0, inactive: 3 },
    { active: 0, inactive: 1 },
    { active: 0, inactive: 0 },
  ]);
  await drain(opts(), d.fx);
  assert.deepEqual(d.lines.slice(1), [
    '  +0.0s  3 active  0 inactive',
    '  +1.0s  2 active  1 inactive',
    '  +2.0s  0 active  3 inactive',
    '  +3.0s  0 active  1 inactive',
    '  +4.0s  0 active  0 inactive',
    `xlvs: ${RIP} of TCP ${VIP}:80: no tracked connections left after 4.0 s; deleted`,
  ]);
  assert.equal(d.calls.at(-1), `POST /v1/real/delete {"address":"${RIP}"}`);
  assert.equal(d.calls.filter((c) => c.includes('/v1/real/delete')).length, 1);
});

test('--wait: at the timeout it says what is left, exits 1 and deletes nothing', async () => {
  const d = fakeDaemon([
    { active: 1, inactive: 0 },
    { active: 1, inactive: 0 },
    { active: 1, inactive: 0 },
    { active: 1, inactive: 2 },
  ]);
  await assert.rejects(drain(opts({ timeoutS: 3, intervalMs: 2000 }), d.fx), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(exitCodeOf(e), 1);
    assert.equal(e.message, `${RIP} of TCP ${VIP}:80: 1 active, 2 inactive connection(s) still tracked after 3 s; not deleted (it stays at weight 0)`);
    return true;
  });
  // Polls at 0 s, 2 s and (the last sleep cut to the time left) 3 s.
  assert.deepEqual(d.lines.slice(1), ['  +0.0s  1 active  0 inactive', '  +2.0s  1 active  0 inactive', '  +3.0s  1 active  2 inactive']);
  assert.equal(
    d.calls.some((c) => c.includes('/v1/real/delete')),
    false,
  );
  assert.equal(d.weight(), 0);
});

test('--wait: a real put back into service meanwhile is not deleted', async () => {
  const d = fakeDaemon([
    { active: 1, inactive: 0 },
    { active: 1, inactive: 0 },
    { active: 0, inactive: 0, weight: 5 },
  ]);
  await assert.rejects(drain(opts(), d.fx), /weight set to 5 by another change while draining; not deleted/);
  assert.equal(
    d.calls.some((c) => c.includes('/v1/real/delete')),
    false,
  );
});

test('an unknown service or real is a usage error before any change; a datapath without counts refuses --wait', async () => {
  const d = fakeDaemon([{ active: 0, inactive: 0 }]);
  await assert.rejects(
    drain(opts({ address: '10.0.0.99' }), d.fx),
    (e: unknown) => e instanceof NotFoundError && /no real 10\.0\.0\.99 in TCP 10\.0\.0\.100:80/.test(e.message),
  );
  await assert.rejects(drain(opts({ service: { vip: VIP, port: 81, protocol: 'tcp' } }), d.fx), /no service TCP 10\.0\.0\.100:81/);
  const blind = fakeDaemon([{ active: null, inactive: null }]);
  await assert.rejects(drain(opts(), blind.fx), /reports no per-real connection counts.*nothing changed/);
  assert.deepEqual(
    [...d.calls, ...blind.calls].filter((c) => c.startsWith('POST')),
    [],
  );
});

test('a real already at weight 0 is not edited again', async () => {
  const d = fakeDaemon([{ active: 0, inactive: 0 }], { weight: 0 });
  await drain(opts(), d.fx);
  assert.equal(
    d.calls.some((c) => c.includes('/v1/real/edit')),
    false,
  );
  assert.match(d.lines[0]!, /weight already 0/);
  assert.match(d.lines.at(-1)!, /after 0\.0 s; deleted/);
});
