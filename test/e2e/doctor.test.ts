// SPDX-License-Identifier: Apache-2.0
// doctor.test.ts: `xlvs doctor` from the director of the namespace lab: all ready with and without `xlvs up` attached, each misconfigured real named with its fault, `realserver check` agreeing on each real; and the native PacketSocket it probes with.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { DoctorReport } from '../../src/core/doctor';
import { ADDR, type DrLab, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const VIP = ADDR.vip;
const OWN_PORT = 8080; // the service rs6 binds to its own address only

async function doctor(l: DrLab, config: string, extra: string[] = []): Promise<{ code: number | null; report: DoctorReport; stderr: string }> {
  const r = await l.execDirector([l.xlvsBin(), 'doctor', '--config', config, '--json', ...extra], { allowFail: true, timeoutMs: 60_000 });
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as DoctorReport, stderr: r.stderr };
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const failures = (r: DoctorReport): string[] =>
  r.checks
    .filter((c) => c.status === 'fail')
    .map((c) => `${c.check} ${c.subject}`)
    .sort();

describe('xlvs doctor in the DR lab', { timeout: 300_000 }, () => {
  // rs1 stays healthy; rs2..rs8 each get one fault in the second test.
  const L = useLab({ reals: 8, handleSignals: true }, async (l) => {
    await l.startServer('rs6', { bind: realAddress(6), httpPort: OWN_PORT, udpPort: 9100 });
  });
  const all = Array(8).fill(1) as number[];

  test('a healthy lab is ready, whether or not xlvs up is attached to the same NIC', async () => {
    const l = L();
    const cfg = l.writeDirectorConfig(
      [
        { port: 80, protocol: 'tcp', weights: all },
        { port: 9000, protocol: 'udp', weights: all },
      ],
      'healthy.yaml',
    );
    const off = await doctor(l, cfg);
    assert.equal(
      off.code,
      0,
      JSON.stringify(
        off.report.checks.filter((c) => c.status !== 'pass'),
        null,
        2,
      ),
    );
    assert.equal(off.report.xdp, null);
    assert.deepEqual([...new Set(off.report.checks.map((c) => c.status))], ['pass']);
    // 8 reals x (mac, on-link, mtu, holds-vip, arp-announce, reply-route, 2 services) + the VIP's ARP check.
    assert.equal(off.report.checks.length, 8 * 8 + 1);
    assert.match(off.report.checks.find((c) => c.check === 'arp-vip')!.detail, /the director does not hold 10\.0\.0\.100 now/);

    const text = await l.execDirector([l.xlvsBin(), 'doctor', '--config', cfg], { allowFail: true });
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^xlvs doctor on eth0 \([0-9a-f:]{17}, 10\.0\.0\.2\/24, MTU 1500\), no XDP program attached\nCHECK +SUBJECT +RESULT +DETAIL\n/);
    assert.match(text.stdout, /\nready\n$/);

    await l.startDirector(cfg);
    try {
      const before = await l.directorStatus();
      const on = await doctor(l, cfg);
      const after = await l.directorStatus();
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
      assert.equal(on.report.checks.filter((c) => c.check === 'dr-path' && c.status === 'pass').length, 16);
      assert.match(on.report.checks.find((c) => c.check === 'arp-vip')!.detail, /^no host but the director answers ARP for 10\.0\.0\.100$/);
      // The probes left by TX, unseen by XDP, so nothing was scheduled; the answers came to the director's own
      // address, which XDP passed as "no service".
      assert.equal(after.verdicts.tx_new - before.verdicts.tx_new, 0);
      assert.ok(after.verdicts.pass_no_service - before.verdicts.pass_no_service >= 16, JSON.stringify({ before: before.verdicts, after: after.verdicts }));
    } finally {
      await l.stopDirector();
    }
  });

  test('each misconfigured real is named with its fault, by the doctor on the director and by check on the real', async () => {
    const l = L();
    const sysctl = (rs: string, kv: Record<string, number>) => l.exec(rs, ['sysctl', '-q', '-w', ...Object.entries(kv).map(([k, v]) => `${k}=${v}`)]);
    await l.exec('rs2', ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'lo']);
    await sysctl('rs3', { 'net.ipv4.conf.all.arp_ignore': 0, 'net.ipv4.conf.eth0.arp_ignore': 0 });
    await sysctl('rs4', { 'net.ipv4.conf.all.arp_announce': 0, 'net.ipv4.conf.eth0.arp_announce': 0 });
    await l.exec('rs5', ['ip', 'route', 'replace', 'default', 'via', ADDR.director]);
    await l.exec('rs7', ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', '1400']);
    await l.exec('rs8', ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', '9000']);
    const cfg = l.writeDirectorConfig(
      [
        { port: 80, protocol: 'tcp', weights: [1, 1, 1, 1, 1, undefined, 1, 1] },
        { port: OWN_PORT, protocol: 'tcp', weights: [undefined, undefined, undefined, undefined, undefined, 1] },
      ],
      'broken.yaml',
    );

    const d = await doctor(l, cfg);
    assert.equal(d.code, 1);
    assert.deepEqual(failures(d.report), [
      `arp-announce real ${realAddress(4)} / VIP ${VIP}`,
      `arp-vip VIP ${VIP}`,
      `dr-path TCP ${VIP}:80 -> ${realAddress(2)}`,
      `dr-path TCP ${VIP}:${OWN_PORT} -> ${realAddress(6)}`,
      `holds-vip real ${realAddress(2)} / VIP ${VIP}`,
      `mtu real ${realAddress(7)}`,
      `mtu real ${realAddress(8)}`,
      `reply-route real ${realAddress(5)} / VIP ${VIP}`,
    ]);
    const find = (check: string, subject: string) => d.report.checks.find((c) => c.check === check && c.subject.includes(subject))!;
    assert.match(find('arp-vip', VIP).detail, new RegExp(`answered by ${l.macs.rs3} \\(real ${realAddress(3).replace(/\./g, '\\.')}\\)`));
    assert.match(find('arp-vip', VIP).hint!, /on 10\.0\.0\.13: xlvs realserver setup --vip 10\.0\.0\.100/);
    assert.match(find('dr-path', `-> ${realAddress(6)}`).detail, /refuses port 8080 \(RST\)/);
    assert.match(find('dr-path', `-> ${realAddress(2)}`).detail, /no answer to a SYN/);
    assert.match(find('mtu', realAddress(7)).detail, /DF packets of 1500 bytes .* do not reach 10\.0\.0\.17; the largest that did was 14\d\d bytes/);
    assert.match(find('mtu', realAddress(8)).detail, /advertises MSS 8960 \(MTU 9000\)/);
    assert.match(find('reply-route', realAddress(5)).detail, /came back to the director/);
    assert.ok(
      d.report.checks.filter((c) => c.real === realAddress(1)).every((c) => c.status === 'pass'),
      'rs1 stayed healthy',
    );
    assert.ok(
      d.report.checks.filter((c) => c.status === 'fail').every((c) => c.hint),
      'a fix for every failure',
    );

    const expected: Record<string, { port: number; fail: string[] }> = {
      rs1: { port: 80, fail: [] },
      rs2: { port: 80, fail: ['vip-on-lo'] },
      rs3: { port: 80, fail: ['arp-ignore'] },
      rs4: { port: 80, fail: ['arp-announce'] },
      rs5: { port: 80, fail: ['default-route'] },
      rs6: { port: OWN_PORT, fail: ['listener'] },
      rs7: { port: 80, fail: ['mtu'] },
      rs8: { port: 80, fail: ['mtu'] },
    };
    for (const [rs, e] of Object.entries(expected)) {
      const r = await l.exec(
        rs,
        [l.xlvsBin(), 'realserver', 'check', '--vip', VIP, '--director', ADDR.director, '--port', String(e.port), '--mtu', '1500', '--json'],
        { allowFail: true },
      );
      const j = JSON.parse(r.stdout) as { ok: boolean; checks: { check: string; status: string; detail: string }[] };
      assert.deepEqual(
        j.checks.filter((c) => c.status === 'fail').map((c) => c.check),
        e.fail,
        `${rs}: ${r.stdout}`,
      );
      assert.equal(r.code, e.fail.length ? 1 : 0, rs);
    }
  });

  test('PacketSocket: frames out and in on one interface, timeouts, close during a receive, the error shape', async () => {
    const l = L();
    // Runs inside the director's namespace: the addon opens its socket in the namespace of the process.
    const script = `
      const { native } = require(${JSON.stringify(path.join(l.repoRoot, 'dist', 'src', 'adapters', 'native.js'))});
      const P = require(${JSON.stringify(path.join(l.repoRoot, 'dist', 'src', 'core', 'packets.js'))});
      const { parseFrame } = require(${JSON.stringify(path.join(l.repoRoot, 'dist', 'src', 'core', 'packetparse.js'))});
      const fs = require('node:fs');
      const ifindex = Number(fs.readFileSync('/sys/class/net/eth0/ifindex', 'utf8'));
      const mac = fs.readFileSync('/sys/class/net/eth0/address', 'utf8').trim();
      (async () => {
        const out = {};
        const s = new (native().PacketSocket)(ifindex, { protocol: 0x0806 });
        out.ifindex = s.ifindex === ifindex && s.fd >= 0;
        s.send(P.arpWhoHas(mac, '10.0.0.2', '${realAddress(1)}'));
        for (;;) {
          const f = await s.recv(2000);
          if (!f) { out.reply = null; break; }
          const p = parseFrame(f);
          if (p && p.arp && p.arp.op === 2 && p.arp.spa === '${realAddress(1)}') { out.reply = p.arp.sha; break; }
        }
        let t = Date.now();
        out.quiet = await s.recv(300);
        out.waitedMs = Date.now() - t;
        const pending = s.recv(10000);
        t = Date.now();
        setTimeout(() => s.close(), 100);
        out.closed = await pending;
        out.closeMs = Date.now() - t;
        out.fdAfterClose = s.fd;
        try { s.send(Buffer.alloc(60)); } catch (e) { out.sendAfterClose = { code: e.code, errno: e.errno, syscall: e.syscall }; }
        try { new (native().PacketSocket)(999999); } catch (e) { out.badIfindex = { code: e.code, syscall: e.syscall, message: e.message }; }
        try { new (native().PacketSocket)(ifindex, { filter: Buffer.alloc(5) }); } catch (e) { out.badFilter = e.constructor.name; }
        console.log(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });
    `;
    const r = await l.exec('dir', [process.execPath, '-e', script], { timeoutMs: 30_000 });
    const o = JSON.parse(r.stdout) as Record<string, any>;
    assert.equal(o.ifindex, true);
    assert.equal(o.reply, l.macs.rs1, 'the ARP reply of rs1 came back through the socket');
    assert.equal(o.quiet, null);
    assert.ok(o.waitedMs >= 250 && o.waitedMs < 2000, `recv(300) returned after ${o.waitedMs} ms`);
    assert.equal(o.closed, null);
    assert.ok(o.closeMs < 2000, `close() took ${o.closeMs} ms to end a pending recv`);
    assert.equal(o.fdAfterClose, -1);
    assert.deepEqual(o.sendAfterClose, { code: 'EBADF', errno: 9, syscall: 'send' });
    assert.equal(o.badIfindex.code, 'ENODEV');
    assert.equal(o.badIfindex.syscall, 'bind');
    assert.equal(o.badFilter, 'TypeError');
  });
});
