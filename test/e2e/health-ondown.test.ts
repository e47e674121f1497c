// SPDX-License-Identifier: Apache-2.0
// health-ondown.test.ts: what a failed check does to a real's existing connections: on_down keep lets a long-lived connection finish on it, on_down expire (clearing F_MAC, purging its entries) moves it at once.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import { realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('health checks: on_down keep vs expire (namespace lab)', { timeout: 300_000 }, () => {
  let file = '';
  let flagDir = '';
  // An exec check the test steers: a real is down while a file named after it exists.
  const render = (onDown: 'keep' | 'expire') =>
    L()
      .directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }])
      .replace(
        '    reals:',
        `    on_down: ${onDown}\n    check: { type: exec, interval_ms: 300, timeout_ms: 200, fall: 1, rise: 1, argv: [/bin/sh, -c, '! test -e ${flagDir}/down-$XLVS_REAL'] }\n    reals:`,
      );
  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    flagDir = path.join(l.workDir, 'flags');
    fs.mkdirSync(flagDir);
    file = path.join(l.workDir, 'ondown.yaml');
    fs.writeFileSync(file, render('keep'));
    await l.startDaemon(file);
  });
  const conns = () => call<{ client: string; real: string }[]>(L().daemonSocket(), 'GET', '/v1/conns');
  const list = () => call<any[]>(L().daemonSocket(), 'GET', '/v1/services');
  const waitFor = async (what: string, ms: number, pred: () => Promise<boolean>) => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (await pred()) return;
      await sleep(50);
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const schedulable = async (address: string) => (await list())[0].reals.find((r: any) => r.address === address).schedulable as boolean;

  /** Starts a keep-alive connection, marks its real down, and returns what the connection saw afterwards. */
  const markItsRealDown = async () => {
    const l = L();
    await waitFor('every real up', 10_000, async () => (await list())[0].reals.every((r: any) => r.schedulable));
    const ka = l.startKeepalive({ port: 80, intervalMs: 100, timeoutMs: 1500 });
    await waitFor('the keep-alive connection in the table', 10_000, async () => (await conns()).length > 0);
    const real = (await conns())[0]!.real;
    fs.writeFileSync(path.join(flagDir, `down-${real}`), '');
    try {
      await waitFor(`${real} down`, 10_000, async () => !(await schedulable(real)));
      await sleep(1500);
      const entries = (await conns()).filter((c) => c.real === real).length;
      const r = await ka.stop();
      return { real, name: `rs${Number(real.split('.')[3]) - 10}`, r, entries };
    } finally {
      fs.rmSync(path.join(flagDir, `down-${real}`), { force: true });
    }
  };

  test('keep: the connection stays on its down real, every request answered by it', async () => {
    const { real, name, r, entries } = await markItsRealDown();
    assert.equal(r.failures, 0, JSON.stringify(r));
    assert.deepEqual(Object.keys(r.counts), [name], `all replies from ${real}: ${JSON.stringify(r.counts)}`);
    assert.equal(new Set(r.localPorts).size, 1, 'one connection throughout');
    assert.ok(entries >= 1, 'its connection-table entry stays');
    assert.equal(realAddress(Number(name.slice(2))), real);
  });

  test('expire: the connection is taken off its down real at once and its entries are purged', async () => {
    const l = L();
    fs.writeFileSync(file, render('expire'));
    l.signalDirector('SIGHUP');
    await waitFor('reload', 10_000, async () => (await call<any>(l.daemonSocket(), 'GET', '/v1/config')).services[0].on_down === 'expire');
    const { real, name, r, entries } = await markItsRealDown();
    assert.equal(entries, 0, 'no connection-table entry names the expired real');
    // Its packets now go to another real, which knows no such connection and resets it: the client sees it break.
    assert.ok(r.failures > 0 || Object.keys(r.counts).some((k) => k !== name), `the connection left ${real}: ${JSON.stringify(r)}`);
  });
});
