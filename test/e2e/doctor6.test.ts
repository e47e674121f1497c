// SPDX-License-Identifier: Apache-2.0
// doctor6.test.ts: `xlvs doctor` on a dual-stack lab config: IPv6 reals get MAC and on-link checks; their IPv4-only frame probes are skipped.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DoctorReport } from '../../src/core/doctor';
import { ADDR, realAddress6 } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

describe('xlvs doctor with IPv6 reals (dual-stack lab)', { timeout: 180_000 }, () => {
  const L = useLab({ reals: 2, ipv6: true });

  test('IPv6 reals: MAC and on-link pass, the frame probes are a skip naming why; the IPv4 reals are probed as before', async () => {
    const l = L();
    const cfg = l.writeDirectorConfig(
      [
        { port: 80, protocol: 'tcp', weights: [1, 1] },
        { vip: ADDR.vip6, port: 80, protocol: 'tcp', weights: [1, 1] },
      ],
      'dual.yaml',
    );
    const r = await l.execDirector([l.xlvsBin(), 'doctor', '--config', cfg, '--json'], { allowFail: true, timeoutMs: 60_000 });
    let report: DoctorReport;
    try {
      report = JSON.parse(r.stdout) as DoctorReport;
    } catch {
      throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    const notPass = report.checks.filter((c) => c.status !== 'pass');
    assert.equal(r.code, 0, JSON.stringify(notPass, null, 2));
    for (const [i, rs] of ['rs1', 'rs2'].entries()) {
      const real = realAddress6(i + 1);
      const mine = report.checks.filter((c) => c.real === real);
      assert.deepEqual(
        mine.map((c) => `${c.check} ${c.status}`),
        ['mac pass', 'on-link pass', 'dr-path skip'],
        JSON.stringify(mine, null, 2),
      );
      assert.equal(mine[0]!.detail, l.macs[rs]);
      assert.match(mine[2]!.detail, /an IPv6 real: .* send IPv4 frames and are not run for it yet/);
    }
    // The IPv4 reals: mac, on-link, mtu, holds-vip, arp-announce, reply-route, dr-path each, all passing.
    assert.equal(report.checks.filter((c) => c.real && !c.real.includes(':') && c.status === 'pass').length, 2 * 7);
    assert.deepEqual(
      notPass.map((c) => c.check),
      ['dr-path', 'dr-path'],
    );
  });
});
