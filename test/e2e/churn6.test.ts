// SPDX-License-Identifier: Apache-2.0
// churn6.test.ts: weight changes under load over both families in the dual-stack lab: mh streams keep their connection and real while the Maglev buckets change owners (the stateless path, MOVED marks).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, test } from 'node:test';
import type { StatusJson } from '../../src/cli/commands/status';
import { ADDR, type DrLab, type ServiceSpec } from '../../src/lab/drnet';
import type { LoadResult } from '../../src/lab/loadclient';
import { useLab } from '../lib/labfixture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STREAMS = 12;
const RATE = 40;
const FAMILIES = [
  { name: 'IPv4', vip: ADDR.vip },
  { name: 'IPv6', vip: ADDR.vip6 },
] as const;
// Each step gives a real another share of the Maglev buckets, so buckets of live streams change owner.
const STEPS = [
  [1, 1, 4],
  [4, 1, 1],
  [1, 3, 1],
];
const services = (w: number[]): ServiceSpec[] => [
  { port: 80, protocol: 'tcp', scheduler: 'mh', weights: w },
  { vip: ADDR.vip6, port: 80, protocol: 'tcp', scheduler: 'mh', weights: w },
];

/** Streams that broke (a failure or a second connection) or moved (answered by more than one real). */
function streamsHurt(r: LoadResult): { broken: number; moved: number } {
  return {
    broken: r.streams.filter((s) => s.failures > 0 || s.localPorts.length !== 1).length,
    moved: r.streams.filter((s) => Object.keys(s.counts).length !== 1).length,
  };
}

describe('weight changes under load, IPv4 and IPv6 mh (namespace lab, dual stack)', { timeout: 300_000 }, () => {
  let config = '';
  const L = useLab({ reals: 3, ipv6: true, handleSignals: true }, async (l: DrLab) => {
    config = l.writeDirectorConfig(services([1, 1, 1]));
    await l.startDaemon(config, [], 30_000);
  });
  const status = (): Promise<StatusJson> => L().statusJson('dir', 'eth0', L().daemonSocket());
  const weightsNow = async (): Promise<number[][]> => (await status()).services.map((s) => s.reals.map((r) => r.weight));

  test('three weight changes while short requests and streams run over both families: 0 failed, 0 streams moved', async () => {
    const l = L();
    const s0 = await status();
    const loads = FAMILIES.map((f) => l.startLoad({ host: f.vip, port: 80, rate: RATE, timeoutMs: 1000, streams: STREAMS }));
    const results: LoadResult[] = [];
    try {
      await sleep(2000);
      for (const w of STEPS) {
        fs.writeFileSync(config, l.directorConfig(services(w)));
        l.signalDirector('SIGHUP');
        for (let i = 0; i < 50 && JSON.stringify(await weightsNow()) !== JSON.stringify([w, w]); i++) await sleep(100);
        assert.deepEqual(await weightsNow(), [w, w], `weights ${w} applied to both services`);
        await sleep(1500);
      }
    } finally {
      for (const ld of loads) results.push(await ld.stop());
    }
    const s1 = await status();
    const d = (k: keyof StatusJson['verdicts']) => s1.verdicts[k] - s0.verdicts[k];
    const per = FAMILIES.map((f, i) => {
      const r = results[i]!;
      return { family: f.name, short: r.short.length, shortFailed: r.short.filter((x) => x[2] === null).length, streams: r.streams.length, ...streamsHurt(r) };
    });
    console.log(`churn under load: ${JSON.stringify({ per, tx_stateless: d('tx_stateless'), tx_existing: d('tx_existing'), tx_new: d('tx_new') })}`);
    for (const p of per) {
      assert.ok(p.short > 200, `${p.family}: ${p.short} short requests`);
      assert.equal(p.shortFailed, 0, `${p.family}: failed short requests`);
      assert.equal(p.streams, STREAMS);
      assert.deepEqual([p.broken, p.moved], [0, 0], `${p.family}: streams broken or moved`);
    }
    // Both families took the stateless path, and the moved buckets' flows their entries.
    assert.ok(d('tx_stateless') > 0, 'established packets went by their bucket owner');
    assert.ok(d('tx_existing') > 0, "a moved bucket's packets went by their entry");
  });
});
