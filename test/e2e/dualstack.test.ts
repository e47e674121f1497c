// SPDX-License-Identifier: Apache-2.0
// dualstack.test.ts: an IPv4 and an IPv6 service side by side in the dual-stack lab: the director holds both VIPs and alone answers for them (ARP, NDP), knows the reals by ARP and NDP, splits real TCP by each service's weights, and replies go real -> router past the director. Needs the IPv6 datapath (branch i18-dp6).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, test } from 'node:test';
import { parseNdp } from '../../src/core/ndp';
import { bytesToIp } from '../../src/core/net/addr';
import { formatSplitTable, splitRows } from '../../src/lab/drcheck';
import { ADDR, type DrLab, realAddress6 } from '../../src/lab/drnet';
import { parsePcap } from '../../src/lab/pcap';
import { useLab } from '../lib/labfixture';

const REALS = ['rs1', 'rs2', 'rs3'];
const W4 = [3, 2, 1];
// Other weights for the IPv6 service, so a datapath that mixed up the two services' tables would show.
const W6 = [1, 2, 3];
const CONNS = 600;
const TOLERANCE_PP = 5;

/** Frames in a capture whose IPv6 source is src, by Ethernet source MAC. */
function v6FramesFrom(file: string, src: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of parsePcap(fs.readFileSync(file)).records) {
    const d = r.data;
    if (d.length < 54 || d.readUInt16BE(12) !== 0x86dd) continue;
    if (bytesToIp(new Uint8Array(d.subarray(22, 38))) !== src) continue;
    const mac = [...d.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    out.set(mac, (out.get(mac) ?? 0) + 1);
  }
  return out;
}

async function answerers(l: DrLab, target: string): Promise<string[]> {
  return [...new Set((await l.solicit6('router', 'eth0', target)).map((n) => n.ethSrc))].sort();
}

describe('dual stack: an IPv4 and an IPv6 service (namespace lab; needs the IPv6 datapath of i18-dp6)', { timeout: 300_000 }, () => {
  const L = useLab({ reals: 3, ipv6: true }, async (l) => {
    const config = l.writeDirectorConfig([
      { port: 80, protocol: 'tcp', scheduler: 'wrr', weights: W4 },
      { vip: ADDR.vip6, port: 80, protocol: 'tcp', scheduler: 'wrr', weights: W6 },
    ]);
    await l.startDirector(config, 30_000);
  });

  test('the director holds both VIPs and alone answers for them: ARP for the VIP, NDP for the VIP6', async () => {
    const l = L();
    const held = await l.exec('dir', ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    const locals = (JSON.parse(held.stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(locals.includes(`${ADDR.vip}/32`) && locals.includes(`${ADDR.vip6}/128`), locals.join(' '));
    const { replies } = await l.arping('router', 'eth0', ADDR.vip, 2);
    assert.deepEqual([...new Set(replies)], [l.macs.dir]);
    assert.deepEqual(await answerers(l, ADDR.vip6), [l.macs.dir]);
  });

  test("the director knows each real's MAC by NDP", async () => {
    const l = L();
    for (const [i, rs] of REALS.entries()) assert.equal(await l.neighbourMac('dir', realAddress6(i + 1), 'eth0'), l.macs[rs], rs);
  });

  for (const [family, host, weights] of [
    ['IPv4', ADDR.vip, W4],
    ['IPv6', ADDR.vip6, W6],
  ] as const) {
    test(`${family}: ${CONNS} TCP connections to ${host}:80 all succeed and split ${weights.join(':')} within ±${TOLERANCE_PP} pp`, async (t) => {
      const l = L();
      const r = await l.runClient('tcp', { host, port: 80, count: CONNS, concurrency: 20, timeoutMs: 5000 });
      const rows = splitRows(REALS, [...weights], r.counts);
      t.diagnostic(formatSplitTable(`${family} split over ${r.ok} connections`, rows));
      assert.deepEqual({ ok: r.ok, failures: r.failures }, { ok: CONNS, failures: 0 }, JSON.stringify(r.errors));
      for (const row of rows) assert.ok(Math.abs(row.deviationPp) <= TOLERANCE_PP, `${row.name}: ${(row.share * 100).toFixed(1)}%`);
    });
  }

  test('IPv6 replies travel real -> router, never through the director', async () => {
    const l = L();
    const atRouter = await l.startCapture('router', 'eth0', 'router-v6.pcap', 'in');
    const port = await l.captureDirectorPort('v6-replies');
    const r = await l.runClient('tcp', { host: ADDR.vip6, port: 80, count: 60, concurrency: 6, timeoutMs: 5000 });
    const [router, dir] = await Promise.all([atRouter.stop(), port.stop()]);
    assert.equal(r.ok, 60);
    const fromVip = v6FramesFrom(router.file, ADDR.vip6);
    for (const rs of REALS) assert.ok((fromVip.get(l.macs[rs]!) ?? 0) > 0, `${rs} replied to the router directly: ${JSON.stringify([...fromVip])}`);
    assert.equal(fromVip.get(l.macs.dir!) ?? 0, 0, 'no reply came from the director');
    const atDirector = v6FramesFrom(dir.toDirector.file, ADDR.vip6);
    assert.deepEqual([...atDirector], [], 'no reply from the VIP6 reached the director');
    // The director did forward the client's packets (to the reals' MACs): the capture is not empty.
    const forwarded = parsePcap(fs.readFileSync(dir.fromDirector.file)).records.filter((x) => x.data.readUInt16BE(12) === 0x86dd && !parseNdp(x.data));
    assert.ok(forwarded.length >= 60, `${forwarded.length} IPv6 frames forwarded`);
  });
});
