// SPDX-License-Identifier: Apache-2.0
// arpguard.test.ts: the ARP guard's passive watch in the namespace lab: a real server's gratuitous ARP or unsolicited reply for the VIP is reported within a second, by MAC and real, once, and ends after the hold; ordinary ARP from a real is not.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ADDR, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const VIP = ADDR.vip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ev {
  t: number;
  level?: string;
  msg?: string;
  ready?: boolean;
  vip?: string;
  mac?: string;
  real?: string | null;
  arp?: string;
}

describe('ARP guard passive watch (namespace lab)', { timeout: 120_000 }, () => {
  // Reals as the lab sets them up: VIP on lo, arp_ignore=1, arp_announce=2, so they never answer the guard's questions.
  const L = useLab({ reals: 2, startServers: false });

  test("a gratuitous ARP and an unsolicited reply for the VIP are each reported within 1 s, once; a real's ordinary ARP is not", async () => {
    const l = L();
    const reals: Record<string, string> = { [l.macs.rs1!.toLowerCase()]: realAddress(1), [l.macs.rs2!.toLowerCase()]: realAddress(2) };
    // The guard runs in the director's namespace (the addon's socket opens in the namespace of its process). An
    // interval of an hour: one round at start, so everything reported afterwards came from the passive watch.
    const script = `
      const { ArpGuard } = require(${JSON.stringify(path.join(l.repoRoot, 'dist', 'src', 'adapters', 'arpguard.js'))});
      const fs = require('node:fs');
      const reals = ${JSON.stringify(reals)};
      const g = new ArpGuard({
        ifindex: Number(fs.readFileSync('/sys/class/net/eth0/ifindex', 'utf8')),
        mac: fs.readFileSync('/sys/class/net/eth0/address', 'utf8').trim(),
        address: () => ${JSON.stringify(ADDR.director)},
        vips: () => [${JSON.stringify(VIP)}],
        realOf: (m) => reals[m] ?? null,
        intervalMs: 3600000,
        holdMs: 1500,
        event: (level, msg, f) => console.log(JSON.stringify({ t: Date.now(), level, msg, ...f })),
      });
      g.start();
      const ready = setInterval(() => { if (g.rounds > 0) { clearInterval(ready); console.log(JSON.stringify({ t: Date.now(), ready: true })); } }, 10);
      // Rounds far apart: claims are ended by a second guard round driven from here.
      process.stdin.on('data', () => void g.round());
      process.on('SIGTERM', () => void g.stop().then(() => process.exit(0)));
    `;
    const child = spawn('ip', ['netns', 'exec', l.ns('dir'), process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const events: Ev[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, i)) as Ev);
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const waitFor = async (what: string, pred: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; !pred(); ) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}\n${stderr}`);
        await sleep(10);
      }
    };
    const claims = () => events.filter((e) => e.msg === 'VIP claimed by another MAC');
    try {
      await waitFor('the guard', () => events.some((e) => e.ready), 10_000);

      // rs1 asks for the director from its own address (ordinary ARP), and the router asks who has the VIP.
      await l.exec('rs1', ['arping', '-c', '1', '-w', '1', '-I', 'eth0', ADDR.director], { allowFail: true });
      await l.exec('router', ['arping', '-c', '1', '-w', '1', '-I', 'eth0', VIP], { allowFail: true });
      await sleep(300);
      assert.deepEqual(claims(), [], 'ordinary ARP from the segment claims nothing');

      let t0 = Date.now();
      const g1 = l.exec('rs1', ['arping', '-U', '-c', '1', '-I', 'eth0', VIP], { allowFail: true });
      await waitFor('the gratuitous ARP of rs1', () => claims().length === 1, 3000);
      const c1 = claims()[0]!;
      assert.deepEqual([c1.level, c1.vip, c1.mac, c1.real, c1.arp], ['error', VIP, l.macs.rs1!.toLowerCase(), realAddress(1), 'gratuitous']);
      assert.ok(c1.t - t0 <= 1000, `reported ${c1.t - t0} ms after arping started`);
      await g1;

      // Again from rs1: the same claim, no second event.
      await l.exec('rs1', ['arping', '-U', '-c', '1', '-I', 'eth0', VIP], { allowFail: true });
      t0 = Date.now();
      const a2 = l.exec('rs2', ['arping', '-A', '-c', '1', '-I', 'eth0', VIP], { allowFail: true });
      await waitFor('the unsolicited reply of rs2', () => claims().length === 2, 3000);
      const c2 = claims()[1]!;
      assert.deepEqual([c2.vip, c2.mac, c2.real, c2.arp], [VIP, l.macs.rs2!.toLowerCase(), realAddress(2), 'reply']);
      assert.ok(c2.t - t0 <= 1000, `reported ${c2.t - t0} ms after arping started`);
      await a2;
      assert.equal(claims().filter((c) => c.mac === l.macs.rs1!.toLowerCase()).length, 1, 'one event per (VIP, MAC)');

      // Silence: rounds (asked for through stdin) end both claims once the hold is over (both were unasked: a
      // gratuitous request, and a reply to nobody's question).
      await sleep(1600);
      for (let i = 0; i < 4; i++) {
        child.stdin.write('\n');
        await sleep(600);
      }
      await waitFor('both claims ended', () => events.filter((e) => e.msg === 'VIP claim ended').length === 2, 5000);
    } finally {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(5000).then(() => 'hung' as const)]);
      if (code === 'hung') child.kill('SIGKILL');
      assert.equal(code, 0, `the guard stopped cleanly: ${stderr}`);
    }
  });
});
