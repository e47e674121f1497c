// SPDX-License-Identifier: Apache-2.0
// icmperr.test.ts: lab end to end: a router's "fragmentation needed" about a live connection reaches that connection's real alone.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADDR, type DrLab } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';
import { ACK, frame, quoteOf } from '../lib/packets';

const REALS = ['rs1', 'rs2', 'rs3'];

/** A frame put on the router's LAN port as is (AF_PACKET), addressed to the director. */
async function sendFromRouter(l: DrLab, f: Buffer): Promise<void> {
  const py = "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0)); s.send(bytes.fromhex(sys.argv[1]))";
  await l.exec('router', ['python3', '-c', py, f.toString('hex')]);
}

/** ICMP destination unreachable / fragmentation needed (next-hop MTU 1300) from the router to the VIP, quoting the real's reply to client:port. */
function fragNeeded(l: DrLab, clientPort: number): Buffer {
  const reply = frame({ saddr: ADDR.vip, daddr: ADDR.client, sport: 80, dport: clientPort, tcpFlags: ACK });
  return frame({
    dst: l.macs.dir,
    src: l.macs.router,
    saddr: ADDR.router,
    daddr: ADDR.vip,
    proto: 1,
    icmp: { type: 3, code: 4, rest: 1300, quote: quoteOf(reply) },
  });
}

describe('ICMP errors for a flow through the director (namespace lab)', { timeout: 120_000 }, () => {
  const L = useLab({ reals: 3, handleSignals: true }, async (l) => {
    const rules = [
      'table netdev xlvsicmp {',
      '  counter frag_needed { }',
      '  chain in {',
      '    type filter hook ingress device "eth0" priority 0; policy accept;',
      `    ip daddr ${ADDR.vip} icmp type destination-unreachable counter name "frag_needed"`,
      '  }',
      '}',
    ].join('\n');
    for (const r of REALS) await l.exec(r, ['nft', '-f', '-'], { input: rules });
    await l.startDirector(l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }]), 30_000);
  });

  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of REALS) {
      const j = JSON.parse((await L().exec(r, ['nft', '-j', 'list', 'counter', 'netdev', 'xlvsicmp', 'frag_needed'])).stdout) as {
        nftables: { counter?: { packets: number } }[];
      };
      out[r] = j.nftables.find((e) => e.counter)?.counter?.packets ?? Number.NaN;
    }
    return out;
  }

  test('fragmentation needed about a live connection reaches its real only (tx_icmp); about none it is passed (pass_icmp_no_flow)', async () => {
    const l = L();
    const ka = l.startKeepalive({ port: 80, intervalMs: 100, timeoutMs: 3000 });
    try {
      // The real holding the keep-alive connection, and the client's port, from the reals' own sockets.
      let owner: { real: string; port: number } | undefined;
      for (let i = 0; i < 50 && !owner; i++) {
        await new Promise((r) => setTimeout(r, 100));
        for (const r of REALS) {
          const ss = await l.exec(r, ['ss', '-Htn', 'state', 'established', '( sport = :80 )']);
          const m = ss.stdout.match(new RegExp(`${ADDR.client.replace(/\./g, '\\.')}:(\\d+)`));
          if (m) owner = { real: r, port: Number(m[1]) };
        }
      }
      assert.ok(owner, 'the keep-alive connection is established on a real');
      const before = await counts();
      const v0 = (await l.statusJson('dir', 'eth0')).verdicts as unknown as Record<string, number>;
      await sendFromRouter(l, fragNeeded(l, owner.port));
      await sendFromRouter(l, fragNeeded(l, owner.port === 1 ? 2 : 1)); // a client port with no connection
      await new Promise((r) => setTimeout(r, 300));
      const after = await counts();
      const v1 = (await l.statusJson('dir', 'eth0')).verdicts as unknown as Record<string, number>;
      assert.deepEqual(
        Object.fromEntries(REALS.map((r) => [r, after[r]! - before[r]!])),
        Object.fromEntries(REALS.map((r) => [r, r === owner!.real ? 1 : 0])),
        `the error reaches ${owner.real} alone`,
      );
      assert.deepEqual([v1.tx_icmp! - v0.tx_icmp!, v1.pass_icmp_no_flow! - v0.pass_icmp_no_flow!], [1, 1], JSON.stringify(v1));
    } finally {
      const r = await ka.stop();
      assert.equal(r.failures, 0, `the connection carried on: ${JSON.stringify(r)}`);
    }
  });
});
