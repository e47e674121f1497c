// SPDX-License-Identifier: Apache-2.0
// ndp.test.ts: IPv6 neighbour discovery in the dual-stack lab: reals holding the VIP6 on lo stay silent to solicitations for it (only the director answers), answer for their own addresses, `realserver check` tells a silent real from one that answers, and the director learns the reals' MACs by NDP.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parseNdp } from '../../src/core/ndp';
import { ADDR, type DrLab, realAddress6 } from '../../src/lab/drnet';
import { parsePcap } from '../../src/lab/pcap';
import { useLab } from '../lib/labfixture';

const VIP6 = ADDR.vip6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The MACs that answered a solicitation for target sent from the router, each once. */
async function answerers(l: DrLab, target: string): Promise<string[]> {
  const nas = await l.solicit6('router', 'eth0', target);
  for (const na of nas) assert.equal(na.lladdr ?? na.ethSrc, na.ethSrc, 'an advertisement names its own sender');
  return [...new Set(nas.map((n) => n.ethSrc))].sort();
}

/**
 * The doctor's ndp-vip probe (ndpVipProbe) run in the director's namespace: the MACs advertising the VIP6. It waits
 * 1.5 s: a proxy entry is answered after a random delay of up to proxy_delay (0.8 s by default).
 */
async function doctorProbe(l: DrLab): Promise<string[]> {
  const mod = path.join(l.repoRoot, 'dist', 'src', 'adapters', 'ndpprobe.js');
  const script = `
    const { ndpVipProbe } = require(${JSON.stringify(mod)});
    const fs = require('node:fs');
    const ifindex = Number(fs.readFileSync('/sys/class/net/eth0/ifindex', 'utf8'));
    const mac = fs.readFileSync('/sys/class/net/eth0/address', 'utf8').trim();
    ndpVipProbe(ifindex, mac, ${JSON.stringify(ADDR.director6)}, ${JSON.stringify(VIP6)}, 1500).then((m) => console.log(JSON.stringify(m)));
  `;
  const r = await l.exec('dir', [process.execPath, '-e', script]);
  return [...new Set(JSON.parse(r.stdout) as string[])].sort();
}

describe('IPv6 neighbour discovery (dual-stack lab)', { timeout: 180_000 }, () => {
  // Reals as the lab sets them up (the VIP6 on lo as /128, as `xlvs realserver setup` does); the director holds no
  // VIP6 until a test gives it one.
  const L = useLab({ reals: 2, startServers: false, ipv6: true });

  test('only the director answers solicitations for the VIP6: the reals hear them and stay silent; each real answers for its own address', async (t) => {
    const l = L();
    // The solicitation reaches rs1 (flooded to the solicited-node group) and rs1 sends nothing back.
    const heard = await l.startCapture('rs1', 'eth0', 'rs1-ndp.pcap', 'inout');
    assert.deepEqual(await answerers(l, VIP6), [], 'no real answers for the VIP6 held on its lo');
    const frames = parsePcap(fs.readFileSync((await heard.stop()).file)).records.map((r) => parseNdp(r.data));
    assert.ok(
      frames.some((f) => f?.type === 'ns' && f.target === VIP6),
      `rs1 heard the solicitation for ${VIP6}`,
    );
    assert.deepEqual(
      frames.filter((f) => f?.type === 'na' && f.target === VIP6),
      [],
      'rs1 sent no advertisement for it',
    );

    await l.exec('dir', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'eth0', 'nodad']);
    try {
      assert.deepEqual(await answerers(l, VIP6), [l.macs.dir], 'the director alone answers once it holds the VIP6');
      assert.equal(await l.neighbourMac('router', VIP6, 'eth0'), l.macs.dir, "the router's entry for the VIP6 is the director's MAC");
    } finally {
      await l.exec('dir', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'eth0']);
    }
    for (const [i, rs] of ['rs1', 'rs2'].entries()) {
      assert.deepEqual(await answerers(l, realAddress6(i + 1)), [l.macs[rs]], `${rs} answers for its own ${realAddress6(i + 1)}`);
    }
    t.diagnostic(`director ${l.macs.dir}; reals ${l.macs.rs1}, ${l.macs.rs2}`);
  });

  test('realserver check passes a silent real and fails one with a proxy entry for the VIP6, which really answers', async () => {
    const l = L();
    const check = (rs: string) => l.exec(rs, [l.xlvsBin(), 'realserver', 'check', '--vip', VIP6, '--dev', 'eth0', '--json'], { allowFail: true });
    const good = await check('rs1');
    const goodJson = JSON.parse(good.stdout) as { ok: boolean; checks: { check: string; status: string }[] };
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.deepEqual(
      goodJson.checks.map((c) => `${c.check}:${c.status}`),
      ['vip-on-lo:pass', 'ipv6:pass', 'ndp-silent:pass', 'default-route6:pass'],
    );

    // What an operator could do by mistake: forwarding and proxy_ndp on, and a proxy entry for the VIP6.
    await l.exec('rs2', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.eth0.proxy_ndp=1']);
    await l.exec('rs2', ['ip', '-6', 'neigh', 'add', 'proxy', VIP6, 'dev', 'eth0']);
    try {
      const bad = await check('rs2');
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      const badJson = JSON.parse(bad.stdout) as { checks: { check: string; status: string; hint?: string }[] };
      const silent = badJson.checks.find((c) => c.check === 'ndp-silent');
      assert.equal(silent?.status, 'fail');
      assert.equal(silent?.hint, `ip -6 neigh del proxy ${VIP6} dev eth0`);
      assert.deepEqual(await answerers(l, VIP6), [l.macs.rs2], 'and rs2 does answer for the VIP6: the check is right');
      assert.deepEqual(await doctorProbe(l), [l.macs.rs2], "the doctor's ndp-vip probe from the director sees it too");
    } finally {
      await l.exec('rs2', ['ip', '-6', 'neigh', 'del', 'proxy', VIP6, 'dev', 'eth0'], { allowFail: true });
      await l.exec('rs2', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0', 'net.ipv6.conf.eth0.proxy_ndp=0']);
    }
    assert.deepEqual(await answerers(l, VIP6), [], 'silent again');
    assert.deepEqual(await doctorProbe(l), [], "and the doctor's probe hears nobody");
  });

  test("the director learns each real's MAC by neighbour discovery (resolveMacs solicits, the NDP table answers)", async () => {
    const l = L();
    const runner = path.join(l.repoRoot, 'dist', 'src', 'adapters', 'runner.js');
    const neighbours = path.join(l.repoRoot, 'dist', 'src', 'adapters', 'neighbours.js');
    const reals = [realAddress6(1), realAddress6(2)];
    const script = `
      const { resolveMacs } = require(${JSON.stringify(runner)});
      const { Solicitor, closeNeighbourTables } = require(${JSON.stringify(neighbours)});
      const sol = new Solicitor();
      const t0 = Date.now();
      const tick = () => {
        const m = resolveMacs('eth0', sol, ${JSON.stringify(reals)});
        if ([...m.values()].every(Boolean) || Date.now() - t0 > 5000) {
          console.log(JSON.stringify({ macs: Object.fromEntries(m), ms: Date.now() - t0 }));
          sol.close();
          closeNeighbourTables();
        } else setTimeout(tick, 50);
      };
      tick();
    `;
    const r = await l.exec('dir', [process.execPath, '-e', script]);
    const got = JSON.parse(r.stdout) as { macs: Record<string, string | null>; ms: number };
    assert.deepEqual(got.macs, { [reals[0]!]: l.macs.rs1, [reals[1]!]: l.macs.rs2 }, r.stdout + r.stderr);
  });

  test('the ARP guard covers NDP: silent reals leave its solicitation unanswered; one that answers is reported once, and its claim ends', async () => {
    const l = L();
    const reals: Record<string, string> = { [l.macs.rs1!]: realAddress6(1), [l.macs.rs2!]: realAddress6(2) };
    // The guard in the director's namespace; rounds only when asked through stdin (an interval of an hour).
    const script = `
      const { ArpGuard } = require(${JSON.stringify(path.join(l.repoRoot, 'dist', 'src', 'adapters', 'arpguard.js'))});
      const fs = require('node:fs');
      const reals = ${JSON.stringify(reals)};
      const g = new ArpGuard({
        ifindex: Number(fs.readFileSync('/sys/class/net/eth0/ifindex', 'utf8')),
        mac: fs.readFileSync('/sys/class/net/eth0/address', 'utf8').trim(),
        address: () => null,
        address6: () => ${JSON.stringify(ADDR.director6)},
        vips: () => [${JSON.stringify(VIP6)}],
        realOf: (m) => reals[m] ?? null,
        intervalMs: 3600000,
        holdMs: 60000,
        event: (level, msg, f) => console.log(JSON.stringify({ t: Date.now(), level, msg, ...f })),
      });
      g.start();
      process.stdin.on('data', () => void g.round().then(() => console.log(JSON.stringify({ round: g.rounds, frames6: g.frames6 }))));
      process.on('SIGTERM', () => void g.stop().then(() => process.exit(0)));
    `;
    const child = spawn('ip', ['netns', 'exec', l.ns('dir'), process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const events: Record<string, unknown>[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // A round asked for while another runs is skipped: ask until the count of completed rounds goes up.
    const rounds = () => Math.max(0, ...events.map((e) => (typeof e.round === 'number' ? e.round : 0)));
    const round = async () => {
      const n = rounds();
      for (const end = Date.now() + 5000; rounds() === n; ) {
        if (Date.now() > end) throw new Error(`no round; events ${JSON.stringify(events)}\n${stderr}`);
        child.stdin.write('\n');
        await sleep(200);
      }
    };
    const claims = () => events.filter((e) => e.msg === 'VIP claimed by another MAC');
    try {
      await round();
      await round();
      assert.deepEqual(claims(), [], 'silent reals: nobody answers the guard for the VIP6');

      await l.exec('rs2', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.eth0.proxy_ndp=1']);
      await l.exec('rs2', ['ip', '-6', 'neigh', 'add', 'proxy', VIP6, 'dev', 'eth0']);
      try {
        await round();
        await round();
        const c = claims();
        assert.equal(c.length, 1, `one event for (VIP6, rs2): ${JSON.stringify(events)}\n${stderr}`);
        assert.deepEqual([c[0]!.level, c[0]!.vip, c[0]!.mac, c[0]!.real, c[0]!.ndp], ['error', VIP6, l.macs.rs2, realAddress6(2), 'advert']);
        assert.match(String(c[0]!.fix), /xlvs realserver check --vip 2001:db8::100/);
      } finally {
        await l.exec('rs2', ['ip', '-6', 'neigh', 'del', 'proxy', VIP6, 'dev', 'eth0'], { allowFail: true });
        await l.exec('rs2', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0', 'net.ipv6.conf.eth0.proxy_ndp=0']);
      }
      // An answering claim ends after three rounds without an answer.
      for (let i = 0; i < 4; i++) await round();
      assert.deepEqual(
        events.filter((e) => e.msg === 'VIP claim ended').map((e) => [e.vip, e.mac]),
        [[VIP6, l.macs.rs2]],
      );
    } finally {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(5000).then(() => 'hung' as const)]);
      if (code === 'hung') child.kill('SIGKILL');
      assert.equal(code, 0, `the guard stopped cleanly: ${stderr}`);
    }
  });
});
