// SPDX-License-Identifier: Apache-2.0
// health-load.test.ts: health verdicts do not depend on control-plane load: at the most aggressive check settings the schema allows, 1,000 concurrent API edits and a 10,000-service apply (and its undo) mark no healthy real down.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import { validateConfig } from '../../src/core/config';
import { ADDR, type DirectorProcess, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The schema's floor for every timing field of a check (src/core/config.ts); the first test proves it is the floor. */
const AGGRESSIVE = { interval_ms: 50, timeout_ms: 10, fall: 1, rise: 1 };
const EDITS = 1000;
const BIG = 10_000;
const REALS = 3;

describe('health checks under control-plane load (namespace lab)', { timeout: 600_000 }, () => {
  let daemon: DirectorProcess | undefined;
  let file = '';
  // Port 80 is checked along the DR path (the default for a TCP check), port 8080 by a direct TCP connect: the two
  // ways a probe's answer is timed (a raw-socket frame, a connect completing).
  const checked = (): any[] => [
    {
      vip: ADDR.vip,
      port: 80,
      protocol: 'tcp',
      check: { ...AGGRESSIVE },
      reals: Array.from({ length: REALS }, (_, i) => ({ address: realAddress(i + 1), weight: 1 })),
    },
    {
      vip: ADDR.vip,
      port: 8080,
      protocol: 'tcp',
      check: { ...AGGRESSIVE, mode: 'direct' },
      reals: Array.from({ length: REALS }, (_, i) => ({ address: realAddress(i + 1), weight: 1 })),
    },
  ];
  const L = useLab({ reals: REALS, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    for (const n of l.realNames()) await l.startServer(n, { httpPort: 8080, udpPort: 9080 });
    file = path.join(l.workDir, 'load.yaml');
    fs.writeFileSync(file, JSON.stringify({ interface: 'eth0', services: checked() }));
    daemon = await l.startDaemon(file);
  });
  const api = <T = any>(method: 'GET' | 'POST', route: string, body?: unknown) => call<T>(L().daemonSocket(), method, route, body);

  /** The daemon's health events since `from` (an offset into its output). */
  const events = (from: number) =>
    daemon!
      .output()
      .slice(from)
      .split('\n')
      .flatMap((line) => {
        try {
          const j = JSON.parse(line) as { msg?: string; event?: string; service?: string; real?: string; detail?: string };
          return j.event === 'health' ? [j] : [];
        } catch {
          return [];
        }
      });
  const falseDowns = (from: number) => events(from).filter((e) => e.msg === 'real down');
  const summary = (from: number) => {
    const d = falseDowns(from);
    return `${d.length} false down(s), ${events(from).filter((e) => e.msg === 'all reals down').length} "all reals down": ${JSON.stringify(d.slice(0, 5).map((e) => `${e.service} ${e.real}: ${e.detail}`))}`;
  };
  const checkedReals = async () =>
    (await api<any[]>('GET', '/v1/services')).filter((s) => s.vip === ADDR.vip && (s.port === 80 || s.port === 8080)).flatMap((s) => s.reals);
  const waitAllUp = async () => {
    const t0 = Date.now();
    while (Date.now() - t0 < 10_000) {
      const reals = await checkedReals();
      if (reals.length === 2 * REALS && reals.every((r) => r.health === 'up' && r.schedulable)) return;
      await sleep(50);
    }
    throw new Error(`not every checked real came up: ${JSON.stringify(await checkedReals())}\n${daemon?.output().slice(-3000)}`);
  };
  /** How many checks ran between two status reads is not exposed; a probe of each kind must at least have answered lately. */
  const assertProbing = async () => {
    const reals = await checkedReals();
    assert.ok(
      reals.every((r) => /SYN-ACK|connected/.test(r.healthDetail?.detail ?? '')),
      JSON.stringify(reals.map((r) => r.healthDetail)),
    );
  };

  test('these are the most aggressive settings the schema allows', () => {
    const base = { interface: 'eth0', services: checked() };
    validateConfig(base);
    for (const [k, v] of Object.entries({ interval_ms: 49, timeout_ms: 9, fall: 0, rise: 0 })) {
      const cfg = { ...base, services: base.services.map((s) => ({ ...s, check: { ...s.check, [k]: v } })) };
      assert.throws(() => validateConfig(cfg), new RegExp(`${k}`), `${k}: ${v} should be refused`);
    }
  });

  test(`${EDITS} concurrent real/edit calls mark no real down`, async () => {
    await waitAllUp();
    const from = daemon!.output().length;
    const t0 = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: EDITS }, (_, i) => {
        const port = i % 2 ? 8080 : 80;
        return api('POST', '/v1/real/edit', {
          service: { vip: ADDR.vip, port, protocol: 'tcp' },
          real: { address: realAddress(1 + (i % REALS)), weight: 1 + (i % 50) },
        });
      }),
    );
    const burstMs = Date.now() - t0;
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    await sleep(500); // probes in flight when the last edit returned settle
    process.stderr.write(
      `# ${EDITS} edits in ${burstMs} ms (${failed.length} failed${failed.length ? `: ${String(failed[0]!.reason)}` : ''}): ${summary(from)}\n`,
    );
    assert.equal(falseDowns(from).length, 0, summary(from));
    // The load must really have happened: every edit waits its turn and lands (the API has no header timeout).
    assert.equal(failed.length, 0, `${failed.length} edits failed: ${String(failed[0]?.reason)}`);
    await waitAllUp();
    await assertProbing();
  });

  test(`a ${BIG.toLocaleString('en')}-service apply and its undo mark no real down`, async () => {
    await waitAllUp();
    // Extra services on the same VIP (other ports), so the VIP set and the reals stay the same: the load is the plan
    // and the map writes, not `ip addr` or ARP.
    const extra = Array.from({ length: BIG - 2 }, (_, i) => ({
      vip: ADDR.vip,
      port: 10_000 + i,
      protocol: 'tcp',
      maglev_size: 251,
      reals: Array.from({ length: REALS }, (_, j) => ({ address: realAddress(j + 1), weight: 1 })),
    }));
    const base = await api<any>('GET', '/v1/config');
    const from = daemon!.output().length;
    let t0 = Date.now();
    await api('POST', '/v1/apply', { config: { ...base, services: [...checked(), ...extra] } });
    const upMs = Date.now() - t0;
    assert.equal((await api<any[]>('GET', '/v1/services')).length, BIG);
    await sleep(500);
    t0 = Date.now();
    await api('POST', '/v1/apply', { config: { ...base, services: checked() } });
    const downMs = Date.now() - t0;
    await sleep(500);
    process.stderr.write(`# ${BIG} services applied in ${upMs} ms, removed in ${downMs} ms: ${summary(from)}\n`);
    assert.equal(falseDowns(from).length, 0, summary(from));
    await waitAllUp();
    await assertProbing();
  });
});
