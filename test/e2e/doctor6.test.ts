// SPDX-License-Identifier: Apache-2.0
// doctor6.test.ts: `xlvs doctor` on a dual-stack lab: IPv6 reals get holds-vip, reply-route and dr-path in IPv6; a real without the VIP6 is named.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DoctorReport } from '../../src/core/doctor';
import { ADDR, type DrLab, realAddress6 } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const VIP6 = ADDR.vip6;

async function doctor(l: DrLab, cfg: string): Promise<{ code: number | null; report: DoctorReport }> {
  const r = await l.execDirector([l.xlvsBin(), 'doctor', '--config', cfg, '--json'], { allowFail: true, timeoutMs: 60_000 });
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as DoctorReport };
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

describe('xlvs doctor with IPv6 reals (dual-stack lab)', { timeout: 180_000 }, () => {
  const L = useLab({ reals: 2, ipv6: true });
  const services = [
    { port: 80, protocol: 'tcp' as const, weights: [1, 1] },
    { vip: VIP6, port: 80, protocol: 'tcp' as const, weights: [1, 1] },
  ];

  test('IPv6 reals: mac, on-link, mtu, holds-vip, reply-route and dr-path all pass; the IPv4 reals are probed as before', async () => {
    const l = L();
    const cfg = l.writeDirectorConfig(services, 'dual.yaml');
    const { code, report } = await doctor(l, cfg);
    assert.equal(
      code,
      0,
      JSON.stringify(
        report.checks.filter((c) => c.status !== 'pass'),
        null,
        2,
      ),
    );
    assert.deepEqual([...new Set(report.checks.map((c) => c.status))], ['pass']);
    assert.equal(report.offlinkAddress6, '100::1');
    for (const [i, rs] of ['rs1', 'rs2'].entries()) {
      const real = realAddress6(i + 1);
      const mine = report.checks.filter((c) => c.real === real);
      // No arp-announce row: NDP has no counterpart of it (an address on lo is never an NS source on eth0).
      assert.deepEqual(
        mine.map((c) => `${c.check} ${c.status}`),
        ['mac pass', 'on-link pass', 'mtu pass', 'holds-vip pass', 'reply-route pass', 'dr-path pass'],
        JSON.stringify(mine, null, 2),
      );
      const by = (check: string) => mine.find((c) => c.check === check)!;
      assert.equal(by('mac').detail, l.macs[rs]);
      assert.equal(by('holds-vip').subject, `real ${real} / VIP ${VIP6}`);
      assert.match(by('holds-vip').detail, /^answers for 2001:db8::100 at its own MAC \(ping, TCP\)$/);
      assert.match(by('reply-route').detail, /^replies from 2001:db8::100 to off-segment 100::1 do not come through the director$/);
      assert.equal(by('dr-path').subject, `TCP [${VIP6}]:80 -> ${real}`);
      assert.match(by('dr-path').detail, /SYN to \[2001:db8::100\]:80 at .*'s MAC answered with SYN-ACK/);
      assert.match(by('mtu').detail, /DF packets of 1500 bytes reach 2001:db8::1\d; SYN-ACK MSS 1440/);
    }
    // The IPv4 reals: mac, on-link, mtu, holds-vip, arp-announce, reply-route, dr-path each; and the VIPs' arp-vip and ndp-vip.
    assert.equal(report.checks.filter((c) => c.real && !c.real.includes(':')).length, 2 * 7);
    assert.equal(report.checks.length, 2 * 7 + 2 * 6 + 2);

    // With xlvs up attached the same: the IPv6 probes leave by TX, and their answers to the director's own IPv6
    // address are no service to XDP.
    await l.startDirector(cfg, 30_000);
    try {
      // xlvs up's VIP6 on eth0 is never the source the director's kernel picks for a real (the mtu ping's).
      const src = await l.exec('dir', ['ip', '-6', 'route', 'get', realAddress6(1)]);
      assert.match(src.stdout, new RegExp(`src ${ADDR.director6} `), src.stdout);
      const on = await doctor(l, cfg);
      assert.equal(
        on.code,
        0,
        JSON.stringify(
          on.report.checks.filter((c) => c.status !== 'pass'),
          null,
          2,
        ),
      );
      assert.ok(on.report.xdp, 'the doctor saw no XDP program');
      const six = on.report.checks.filter((c) => c.real?.includes(':'));
      assert.deepEqual(six.filter((c) => c.status === 'pass').length, 2 * 6, JSON.stringify(six, null, 2));
    } finally {
      await l.stopDirector();
    }
  });

  test('a real without the VIP6 on lo fails holds-vip (and its dr-path); one whose IPv6 default route is the director fails reply-route', async () => {
    const l = L();
    const rs1 = realAddress6(1);
    const rs2 = realAddress6(2);
    await l.exec('rs2', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'lo']);
    await l.exec('rs1', ['ip', '-6', 'route', 'replace', 'default', 'via', ADDR.director6]);
    try {
      const { code, report } = await doctor(l, l.writeDirectorConfig(services, 'dual-broken.yaml'));
      assert.equal(code, 1);
      const failed = report.checks.filter((c) => c.status === 'fail');
      assert.deepEqual(
        failed.map((c) => `${c.check} ${c.subject}`).sort(),
        [`dr-path TCP [${VIP6}]:80 -> ${rs2}`, `holds-vip real ${rs2} / VIP ${VIP6}`, `reply-route real ${rs1} / VIP ${VIP6}`],
        JSON.stringify(failed, null, 2),
      );
      const holds = failed.find((c) => c.check === 'holds-vip')!;
      assert.equal(holds.real, rs2);
      assert.match(holds.detail, /^2001:db8::12 ignores packets for 2001:db8::100 sent to its MAC: the VIP is not on its lo/);
      assert.equal(holds.hint, `on ${rs2}: xlvs realserver setup --vip ${VIP6}`);
      const back = failed.find((c) => c.check === 'reply-route')!;
      assert.match(back.detail, /2001:db8::11's reply from 2001:db8::100 to off-segment 100::1 came back to the director/);
      assert.match(back.hint!, /^on 2001:db8::11: ip -6 route replace default via <router>/);
      // rs2 holds no VIP6, so its reply route cannot be seen: a skip, not a second failure.
      assert.equal(report.checks.find((c) => c.check === 'reply-route' && c.real === rs2)!.status, 'skip');
      // The IPv4 side of both reals is untouched.
      assert.ok(report.checks.filter((c) => c.real && !c.real.includes(':')).every((c) => c.status === 'pass'));
    } finally {
      await l.exec('rs2', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad'], { allowFail: true });
      await l.exec('rs1', ['ip', '-6', 'route', 'replace', 'default', 'via', ADDR.router6], { allowFail: true });
    }
  });
});
