// SPDX-License-Identifier: Apache-2.0
// vlan.test.ts: lab end to end, two 802.1Q VLANs on one trunk: a VIP on each over real TCP, by weight, tags kept, replies around the director.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { DoctorReport } from '../../src/core/doctor';
import { type ClientResult, vlanAddr } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const CONNS = 600;
// 600 mh-hashed connections per VIP: a ±7 pp band is over 3.5 standard deviations for the 75% real.
const TOLERANCE_PP = 7;
const VLANS = [
  { id: 10, reals: ['rs1', 'rs2'], weights: [3, 1] },
  { id: 20, reals: ['rs3', 'rs4'], weights: [1, 2] },
];

const verbose = !!process.env.XLVS_E2E_VERBOSE;

/** nft counters: at the router, replies from each VIP by sender MAC; at the director, anything from a VIP; at each real, VIP traffic by device. */
function counterTables(macs: Record<string, string>): Record<string, string> {
  const vips = VLANS.map((v) => vlanAddr(v.id).vip);
  const all = VLANS.flatMap((v) => v.reals);
  const router = [
    'table netdev xlvsvlan {',
    ...all.map((r) => `  counter from_${r} { }`),
    ...VLANS.map(
      (v) =>
        `  chain in${v.id} { type filter hook ingress device "eth0.${v.id}" priority 0; policy accept;\n${all
          .map((r) => `    ip saddr ${vlanAddr(v.id).vip} ether saddr ${macs[r]} counter name "from_${r}"`)
          .join('\n')}\n  }`,
    ),
    '}',
  ].join('\n');
  const director = [
    'table netdev xlvsvlan {',
    '  counter vip_replies { }',
    `  chain in { type filter hook ingress device "eth0" priority 0; policy accept; ip saddr { ${vips.join(', ')} } counter name "vip_replies"\n  }`,
    '}',
  ].join('\n');
  const out: Record<string, string> = { router, dir: director };
  for (const v of VLANS)
    for (const r of v.reals)
      out[r] = [
        'table netdev xlvsvlan {',
        '  counter tagged { }',
        '  counter untagged { }',
        `  chain tagged_in { type filter hook ingress device "eth0.${v.id}" priority 0; policy accept; ip daddr ${vlanAddr(v.id).vip} counter name "tagged"\n  }`,
        `  chain untagged_in { type filter hook ingress device "eth0" priority 0; policy accept; ip daddr ${vlanAddr(v.id).vip} counter name "untagged"\n  }`,
        '}',
      ].join('\n');
  return out;
}

describe('two VLANs on one trunk (director eth0 tagged 10 and 20, reals on one VLAN each)', { timeout: 300_000 }, () => {
  const results = new Map<number, ClientResult>();
  let configFile = '';

  const L = useLab({ reals: 4, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    await l.vlans().build(VLANS);
    const yaml = [
      'interface: eth0',
      'services:',
      ...VLANS.flatMap((v) => [
        `  - vip: ${vlanAddr(v.id).vip}`,
        '    port: 80',
        '    protocol: tcp',
        `    vlan: ${v.id}`,
        '    reals:',
        ...v.reals.map((r, i) => `      - { address: ${vlanAddr(v.id).real(Number(r.slice(2)))}, weight: ${v.weights[i]} }`),
      ]),
    ].join('\n');
    const file = path.join(l.workDir, 'xlvs-vlan.yaml');
    fs.writeFileSync(file, `${yaml}\n`);
    configFile = file;
    for (const [role, rules] of Object.entries(counterTables(l.macs))) await l.exec(role, ['nft', '-f', '-'], { input: rules });
    await l.startDirector(file, 30_000);
  });

  async function counter(role: string, name: string): Promise<number> {
    const r = await L().exec(role, ['nft', '-j', 'list', 'counter', 'netdev', 'xlvsvlan', name]);
    const j = JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] };
    return j.nftables.find((e) => e.counter)?.counter?.packets ?? Number.NaN;
  }

  test("each VIP is on its VLAN device, and the director's kernel answers a ping to it over the VLAN", async () => {
    const l = L();
    for (const v of VLANS) {
      assert.ok((await l.addresses('dir', `eth0.${v.id}`)).includes(`${vlanAddr(v.id).vip}/32`), `VIP of VLAN ${v.id} on eth0.${v.id}`);
      const ping = await l.exec('client', ['ping', '-c', '2', '-W', '2', vlanAddr(v.id).vip], { allowFail: true });
      assert.equal(ping.code, 0, `ping ${vlanAddr(v.id).vip}:\n${ping.stdout}${ping.stderr}`);
    }
  });

  for (const v of VLANS) {
    test(`VLAN ${v.id}: ${CONNS} TCP connections to ${vlanAddr(v.id).vip}:80 all succeed, only on ${v.reals.join(' and ')}, split ${v.weights.join(':')}`, async () => {
      const r = await L().runClient('tcp', {
        host: vlanAddr(v.id).vip,
        port: 80,
        count: CONNS,
        concurrency: 20,
        timeoutMs: 5000,
        fixedPorts: true,
        basePort: 21000 + v.id * 100,
      });
      results.set(v.id, r);
      assert.deepEqual({ ok: r.ok, failures: r.failures, errors: r.errors }, { ok: CONNS, failures: 0, errors: {} }, 'every connection succeeds');
      assert.deepEqual(Object.keys(r.counts).sort(), v.reals, `answered by ${JSON.stringify(r.counts)}`);
      const total = v.weights.reduce((a, b) => a + b, 0);
      v.reals.forEach((name, i) => {
        const share = (r.counts[name] ?? 0) / CONNS;
        const want = v.weights[i]! / total;
        assert.ok(
          Math.abs(share - want) * 100 <= TOLERANCE_PP,
          `${name}: ${(share * 100).toFixed(1)}% of connections, weight share ${(want * 100).toFixed(1)}%`,
        );
      });
    });
  }

  test('frames reach each real tagged with its VLAN (none untagged), and replies go real -> router, never through the director', async () => {
    assert.equal(results.size, VLANS.length, 'the traffic tests ran');
    for (const v of VLANS)
      for (const r of v.reals) {
        const conns = results.get(v.id)!.counts[r] ?? 0;
        // Each connection is at least a SYN, an ACK with the request and a FIN's ACK through the director.
        assert.ok((await counter(r, 'tagged')) >= 3 * conns, `${r}: ${await counter(r, 'tagged')} frames on eth0.${v.id} for ${conns} connections`);
        assert.equal(await counter(r, 'untagged'), 0, `${r}: frames to the VIP arrived untagged`);
        assert.ok(
          (await counter('router', `from_${r}`)) >= conns,
          `${r}: ${await counter('router', `from_${r}`)} replies at the router for ${conns} connections`,
        );
      }
    assert.equal(await counter('dir', 'vip_replies'), 0, 'the director saw packets from a VIP');
  });

  test('xlvs doctor checks each VLAN device and finds every real on it; a VLAN with no device is named with the command that makes it', async () => {
    const l = L();
    const doctor = async (file: string): Promise<{ code: number | null; report: DoctorReport }> => {
      const r = await l.execDirector([l.xlvsBin(), 'doctor', '--config', file, '--json'], { allowFail: true, timeoutMs: 60_000 });
      return { code: r.code, report: JSON.parse(r.stdout) as DoctorReport };
    };
    const ok = await doctor(configFile);
    const vlanChecks = ok.report.checks.filter((c) => c.check === 'vlan' && c.status !== 'skip');
    assert.deepEqual(
      vlanChecks.map((c) => [c.subject, c.status]),
      VLANS.map((v) => [`VLAN ${v.id} (eth0.${v.id})`, 'pass']),
    );
    for (const v of VLANS)
      for (const r of v.reals) {
        const real = vlanAddr(v.id).real(Number(r.slice(2)));
        assert.equal(ok.report.checks.find((c) => c.check === 'mac' && c.real === real)?.detail, l.macs[r], `${real}'s MAC, resolved on eth0.${v.id}`);
        assert.equal(ok.report.checks.find((c) => c.check === 'on-link' && c.real === real)?.status, 'pass', `${real} on-link on eth0.${v.id}`);
      }
    const missing = path.join(l.workDir, 'xlvs-vlan30.yaml');
    fs.writeFileSync(missing, 'interface: eth0\nservices:\n  - { vip: 10.30.0.100, port: 80, vlan: 30, reals: [ { address: 10.30.0.11 } ] }\n');
    const bad = await doctor(missing);
    const c = bad.report.checks.find((x) => x.check === 'vlan' && x.subject === 'VLAN 30 (eth0.30)');
    assert.equal(c?.status, 'fail', JSON.stringify(bad.report.checks));
    assert.match(c?.hint ?? '', /ip link add link eth0 name eth0\.30 type vlan id 30/);
    assert.notEqual(bad.code, 0);
  });

  test('xlvs status counts the connections as forwarded, none passed as another ethertype', async () => {
    const st = await L().statusJson('dir', 'eth0');
    assert.ok(st.verdicts.tx_new >= 2 * CONNS, JSON.stringify(st.verdicts));
    assert.equal(st.verdicts.aborted, 0);
  });
});
