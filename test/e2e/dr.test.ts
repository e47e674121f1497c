// SPDX-License-Identifier: Apache-2.0
// dr.test.ts: end-to-end proof of xlvs as an LVS-DR director in the namespace lab: split by weight, direct return path, untouched frames, ARP, UDP, status counters, clean exit.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { StatusJson } from '../../src/cli/commands/status';
import { analyzeDirectorPort, type DirectorPortAnalysis, formatSplitTable, splitRows } from '../../src/lab/drcheck';
import { ADDR, type ClientResult, type DirectorStatus, type ReplyPathCounters, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const WEIGHTS = [3, 2, 1];
const REALS = ['rs1', 'rs2', 'rs3'];
// 1200 rather than the minimum 600: with mh each connection lands on a real like a weighted draw, and at 1200 a
// ±5 pp band is about 3.5 standard deviations for the 50% real, so the test does not flake on honest hashing.
const TCP_CONNS = 1200;
const TCP_TOLERANCE_PP = 5;
const UDP_DATAGRAMS = 600;
// UDP source ports are a fixed run (20000..20599), so this split is one fixed sample; a wider band still
// catches a real being ignored or the weights being inverted.
const UDP_TOLERANCE_PP = 8;
const UDP_BASE_PORT = 20000;

const verbose = !!process.env.XLVS_E2E_VERBOSE;

describe('xlvs as an LVS-DR director (namespace lab, weights 3:2:1)', { timeout: 300_000 }, () => {
  let tcp: ClientResult | undefined;
  let tcpCapture: DirectorPortAnalysis | undefined;
  let tcpCaptureLoss: { dropped: number | null; stderr: string }[] | undefined;
  let udp: ClientResult | undefined;
  let udpCapture: DirectorPortAnalysis | undefined;
  let counters: ReplyPathCounters | undefined;

  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    assert.ok(fs.existsSync(l.xlvsBin()), `${l.xlvsBin()} is missing`);
    const config = l.writeDirectorConfig([
      { port: 80, protocol: 'tcp', scheduler: 'mh', weights: WEIGHTS },
      { port: 9000, protocol: 'udp', scheduler: 'mh', weights: WEIGHTS },
    ]);
    await l.installReplyPathCounters();
    await l.startDirector(config, 30_000);
  });

  test('the director put the VIP on its eth0', async () => {
    assert.ok((await L().addresses('dir', 'eth0')).includes(`${ADDR.vip}/32`));
  });

  test('only the director answers ARP for the VIP', async () => {
    const l = L();
    const { replies, output } = await l.arping('router', 'eth0', ADDR.vip, 4);
    assert.ok(replies.length >= 4, `expected a reply to each of 4 broadcast requests:\n${output}`);
    assert.deepEqual([...new Set(replies)], [l.macs.dir], `replies came from ${[...new Set(replies)].join(', ')}:\n${output}`);
  });

  test(`TCP: ${TCP_CONNS} fresh connections to VIP:80 all succeed and split 3:2:1 within ±${TCP_TOLERANCE_PP} pp`, async (t) => {
    const l = L();
    const cap = await l.captureDirectorPort('tcp');
    // One source port per connection: the kernel may otherwise reuse a port within the run, and a reused 5-tuple is one
    // flow in the capture (though the director counts each SYN as a new connection), so counts could not be compared.
    tcp = await l.runClient('tcp', { port: 80, count: TCP_CONNS, concurrency: 20, timeoutMs: 5000, fixedPorts: true, basePort: 21000 });
    const c = await cap.stop();
    counters = await l.readReplyPathCounters();
    tcpCaptureLoss = [c.toDirector, c.fromDirector].map((side) => ({ dropped: side.droppedByKernel, stderr: side.stderr }));
    tcpCapture = analyzeDirectorPort(
      { toFile: c.toDirector.file, fromFile: c.fromDirector.file },
      { directorMac: l.macs.dir, realMacs: l.realByMac(), vip: ADDR.vip, protocol: 'tcp' },
    );

    const rows = splitRows(REALS, WEIGHTS, tcp.counts);
    diagnoseLines(t, formatSplitTable(`TCP split over ${tcp.ok} connections (${tcp.durationMs} ms)`, rows));
    assert.deepEqual({ ok: tcp.ok, failures: tcp.failures, errors: tcp.errors }, { ok: TCP_CONNS, failures: 0, errors: {} }, 'every connection must succeed');
    assert.deepEqual(Object.keys(tcp.counts).sort(), REALS, 'replies must come from exactly rs1..rs3');
    for (const r of rows) {
      assert.ok(Math.abs(r.deviationPp) <= TCP_TOLERANCE_PP, `${r.name}: share ${(r.share * 100).toFixed(1)}% vs expected ${(r.expected * 100).toFixed(1)}%`);
    }
  });

  test('TCP replies travel real server -> router, never through the director', () => {
    L();
    assert.ok(tcp && counters && tcpCapture, 'TCP workload did not run');
    t_replyPath(tcp, counters);
    assert.equal(tcpCapture.vipSourcedToDirector, 0, 'a frame from the VIP was switched to the director');
  });

  test("the director forwards frames from its MAC to a real's MAC with the client's IP/TCP bytes unchanged", () => {
    L();
    assert.ok(tcp && tcpCapture, 'TCP workload did not run');
    for (const side of tcpCaptureLoss ?? []) {
      assert.equal(side.dropped, 0, `capture lost frames, so the byte comparison would be unsound:\n${side.stderr}`);
    }
    const a = tcpCapture;
    const detail = JSON.stringify(a);
    assert.ok(a.fromDirector >= TCP_CONNS * 3, `too few forwarded frames: ${detail}`);
    assert.equal(a.badSrcMac, 0, `forwarded frames not from the director's MAC: ${detail}`);
    assert.equal(a.badDstMac, 0, `forwarded frames not addressed to a real's MAC: ${detail}`);
    assert.equal(a.unmatched, 0, `forwarded frames whose IP+TCP bytes match nothing sent to the director: ${detail}`);
    assert.equal(a.notForwarded, 0, `frames to the VIP that the director did not forward: ${detail}`);
    assert.equal(a.flowsSplitAcrossReals, 0, `connections whose frames went to more than one real: ${detail}`);
    // The real that got a connection's frames is the real that answered it.
    assert.deepEqual(a.flowsPerReal, tcp.counts);
  });

  test("the router's neighbour entry for the VIP is the director's MAC", async () => {
    const l = L();
    assert.equal(await l.neighbourMac('router', ADDR.vip, 'eth0'), l.macs.dir);
  });

  test(`UDP: ${UDP_DATAGRAMS} datagrams to VIP:9000 from distinct source ports are all answered and split across the reals`, async (t) => {
    const l = L();
    const before = await l.readReplyPathCounters();
    const cap = await l.captureDirectorPort('udp');
    udp = await l.runClient('udp', { port: 9000, count: UDP_DATAGRAMS, concurrency: 20, timeoutMs: 2000, basePort: UDP_BASE_PORT });
    const c = await cap.stop();
    const afterCounters = await l.readReplyPathCounters();
    for (const side of [c.toDirector, c.fromDirector]) assert.equal(side.droppedByKernel, 0, side.stderr);
    udpCapture = analyzeDirectorPort(
      { toFile: c.toDirector.file, fromFile: c.fromDirector.file },
      { directorMac: l.macs.dir, realMacs: l.realByMac(), vip: ADDR.vip, protocol: 'udp' },
    );

    const rows = splitRows(REALS, WEIGHTS, udp.counts);
    diagnoseLines(t, formatSplitTable(`UDP split over ${udp.ok} datagrams (${udp.durationMs} ms)`, rows));
    assert.deepEqual({ ok: udp.ok, errors: udp.errors }, { ok: UDP_DATAGRAMS, errors: {} });
    assert.deepEqual(Object.keys(udp.counts).sort(), REALS, 'every real must get some UDP flows');
    for (const r of rows) {
      assert.ok(Math.abs(r.deviationPp) <= UDP_TOLERANCE_PP, `${r.name}: share ${(r.share * 100).toFixed(1)}% vs expected ${(r.expected * 100).toFixed(1)}%`);
    }
    const a = udpCapture;
    const detail = JSON.stringify(a);
    assert.equal(a.fromDirector, UDP_DATAGRAMS + udp.retried, detail);
    assert.equal(a.badSrcMac, 0, detail);
    assert.equal(a.badDstMac, 0, detail);
    assert.equal(a.unmatched, 0, detail);
    assert.equal(a.notForwarded, 0, detail);
    assert.equal(a.vipSourcedToDirector, 0, detail);
    assert.deepEqual(a.flowsPerReal, udp.counts);
    // Replies: one per datagram, each from the real that answered, at the router; none at the director.
    for (const r of REALS) {
      assert.equal(afterCounters.routerFromReal[r] - before.routerFromReal[r], udp.counts[r], `router count from ${r}`);
    }
    assert.equal(afterCounters.routerFromOther, 0);
    assert.equal(afterCounters.directorIngress, 0);
  });

  test('xlvs status --json counts the connections and forwarded packets', async (t) => {
    const l = L();
    assert.ok(tcp && udp, 'workloads did not run');
    const st = (await l.directorStatus('eth0')) as DirectorStatus & Pick<StatusJson, 'kernel' | 'programs' | 'verifierBudget'>;
    if (verbose) t.diagnostic(JSON.stringify(st));
    assert.equal(st.interface, 'eth0');
    // issue 14: the running programs with what each cost the verifier, and the kernel they run on
    assert.equal(st.kernel, os.release());
    assert.deepEqual(st.programs.map((p) => p.name).sort(), ['xlvs_ctmove', 'xlvs_sweep', 'xlvs_syncin', 'xlvs_syncin6', 'xlvs_xdp']);
    for (const p of st.programs)
      assert.ok(
        p.verifiedInsns !== null && p.verifiedInsns > 0 && p.verifiedInsns <= st.verifierBudget,
        `${p.name}: ${p.verifiedInsns} within ${st.verifierBudget}`,
      );
    assert.equal(st.programs.find((p) => p.name === 'xlvs_xdp')?.id, st.xdp?.progId, 'the attached program is the one listed');
    const svcTcp = st.services.find((s) => s.vip === ADDR.vip && s.port === 80 && s.protocol === 'tcp');
    const svcUdp = st.services.find((s) => s.vip === ADDR.vip && s.port === 9000 && s.protocol === 'udp');
    assert.ok(svcTcp, `no TCP service in ${JSON.stringify(st.services)}`);
    assert.ok(svcUdp, `no UDP service in ${JSON.stringify(st.services)}`);

    assert.equal(svcTcp.stats.conns, TCP_CONNS, 'TCP service conns = connections made');
    if (tcpCapture) {
      assert.ok(svcTcp.stats.packets >= tcpCapture.fromDirector, `service packets ${svcTcp.stats.packets} < forwarded frames ${tcpCapture.fromDirector}`);
    }
    assert.ok(svcUdp.stats.packets >= UDP_DATAGRAMS, `UDP service packets ${svcUdp.stats.packets}`);

    for (const [svc, counts] of [
      [svcTcp, tcp.counts],
      [svcUdp, udp.counts],
    ] as const) {
      const byAddr = new Map(svc.reals.map((r) => [r.address, r]));
      REALS.forEach((name, i) => {
        const r = byAddr.get(realAddress(i + 1));
        assert.ok(r, `${svc.protocol}: ${realAddress(i + 1)} missing from status`);
        assert.equal(r.weight, WEIGHTS[i]);
        assert.equal(r.mac, l.macs[name], `${name}'s MAC as the director resolved it`);
        assert.equal(r.schedulable, true);
        if (svc.protocol === 'tcp') assert.equal(r.stats.conns, counts[name], `${name}: TCP conns per real = connections it answered`);
        else assert.ok(r.stats.packets >= counts[name], `${name}: UDP packets ${r.stats.packets} < datagrams it answered ${counts[name]}`);
      });
    }

    const v = st.verdicts;
    assert.ok(v.tx_new >= TCP_CONNS + UDP_DATAGRAMS, `tx_new ${v.tx_new}`);
    // Established packets go by their entry (tx_existing) or, for an mh bucket that kept its owner, without it (tx_stateless).
    assert.ok(v.tx_existing + v.tx_stateless > 0, `tx_existing ${v.tx_existing}, tx_stateless ${v.tx_stateless}`);
    assert.equal(v.drop_no_real, 0);
    assert.equal(v.aborted, 0);
  });

  test('on SIGTERM xlvs exits 0, detaches, and removes its pins and the VIP', async () => {
    const l = L();
    const pins = path.join(l.bpffsDir, 'xlvs', 'eth0');
    assert.ok(fs.existsSync(pins), `${pins} should exist while the director runs`);
    const r = await l.stopDirector(10_000);
    assert.deepEqual({ code: r.code, killed: r.killed }, { code: 0, killed: false }, `xlvs exit: ${JSON.stringify(r)}`);
    assert.equal(fs.existsSync(pins), false, `${pins} left behind`);
    assert.equal((await l.addresses('dir', 'eth0')).includes(`${ADDR.vip}/32`), false, 'VIP left on eth0');
    const link = await l.exec('dir', ['ip', '-j', 'link', 'show', 'dev', 'eth0']);
    assert.equal((JSON.parse(link.stdout) as { xdp?: unknown }[])[0]?.xdp, undefined, 'XDP program still attached');
  });
});

/** TAP escapes newlines inside one diagnostic, so a table goes out a line at a time. */
function diagnoseLines(t: { diagnostic(msg: string): void }, text: string): void {
  for (const line of text.split('\n')) t.diagnostic(line);
}

/** Reply-path counters after the TCP run: every real's replies reached the router from its own MAC, none via the director. */
function t_replyPath(tcp: ClientResult, c: ReplyPathCounters): void {
  for (const r of REALS) {
    // At least SYN-ACK, response and FIN come from the VIP for every connection the real served.
    assert.ok(
      c.routerFromReal[r] >= 3 * (tcp.counts[r] ?? 0),
      `router saw ${c.routerFromReal[r]} VIP-sourced packets from ${r}'s MAC for ${tcp.counts[r]} connections`,
    );
  }
  assert.equal(c.routerFromOther, 0, "VIP-sourced packets reached the router from a MAC that is not a real's");
  assert.equal(c.directorIngress, 0, 'VIP-sourced packets reached the director');
}
