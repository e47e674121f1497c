// faults.test.ts: the fault matrix under load in the namespace lab: a stalled daemon, a flushed neighbour table, a real changing its MAC, the director's link flapping; failed requests and moved connections counted.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ClientResult } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  fault: string;
  /** Short connections opened during the fault (one request each), and how many failed. */
  short: { requested: number; failures: number; errors: Record<string, number> };
  /** One keep-alive connection with a request every 100 ms across the fault (a reconnect: it was reset or moved). */
  longLived: { requests: number; failures: number; reconnects: number; reals: string[] };
  notes: string[];
}

const outcomes: Outcome[] = [];

describe('fault matrix under load (namespace lab, daemon)', { timeout: 600_000 }, () => {
  const L = useLab({ reals: 3, handleSignals: true }, async (l) => {
    await l.startDaemon(l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1, 1] }]));
  });
  const listJson = async () => JSON.parse((await L().xlvs(['list', '--json', '--socket', L().daemonSocket()], { timeoutMs: 30_000 })).stdout) as { reals: { address: string; mac: string | null }[] }[];

  /** Runs fault() while a keep-alive connection and bursts of short connections (until the fault is over) go through the director. */
  async function underLoad(name: string, fault: (notes: string[]) => Promise<void>): Promise<Outcome> {
    const l = L();
    // Timeouts longer than any outage here, so a request waits out the fault in TCP's retransmissions and a failure or
    // a new connection means the director lost or moved something, not that the client gave up.
    const ka = l.startKeepalive({ port: 80, intervalMs: 100, timeoutMs: 15000 });
    const notes: string[] = [];
    const short = { requested: 0, failures: 0, errors: {} as Record<string, number> };
    let long: ClientResult;
    try {
      await sleep(500);
      let over = false;
      const faulted = fault(notes).finally(() => (over = true));
      let burst = 0;
      while (!over || burst < 2) {
        const r = await l.runClient('tcp', { port: 80, count: 30, concurrency: 3, timeoutMs: 15000, basePort: 30000 + (burst % 100) * 100 });
        short.requested += r.requested;
        short.failures += r.failures;
        for (const [k, v] of Object.entries(r.errors)) short.errors[k] = (short.errors[k] ?? 0) + v;
        if (over) burst++;
      }
      await faulted;
    } finally {
      long = await ka.stop();
    }
    const o: Outcome = {
      fault: name,
      short,
      longLived: { requests: long.requested, failures: long.failures, reconnects: Math.max(0, (long.localPorts?.length ?? 1) - 1), reals: Object.keys(long.counts) },
      notes,
    };
    outcomes.push(o);
    return o;
  }

  test('the daemon stalled for 10 s (SIGSTOP) and resumed: the datapath forwards throughout', async () => {
    const l = L();
    const o = await underLoad('daemon stalled 10 s (SIGSTOP, SIGCONT)', async () => {
      l.signalDirector('SIGSTOP');
      await sleep(10_000);
      l.signalDirector('SIGCONT');
    });
    assert.equal(o.short.failures, 0, JSON.stringify(o));
    assert.equal(o.longLived.failures, 0, JSON.stringify(o));
    assert.equal(o.longLived.reconnects, 0);
    assert.equal((await listJson()).length, 1, 'the daemon answers again');
  });

  test('the director\'s neighbour table flushed: the reals keep their MACs in the datapath, no connection moves', async () => {
    const l = L();
    const o = await underLoad('neighbour table flushed on the director', async (notes) => {
      await sleep(1000);
      await l.exec('dir', ['ip', 'neigh', 'flush', 'dev', 'eth0']);
      const t0 = Date.now();
      for (let i = 0; i < 100 && (await listJson())[0]!.reals.some((r) => !r.mac); i++) await sleep(100);
      notes.push(`every real had a MAC again ${Date.now() - t0} ms after the flush`);
    });
    assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
    assert.equal(o.longLived.reals.length, 1, `the long-lived connection stayed on one real: ${JSON.stringify(o)}`);
    assert.equal(o.short.failures + o.longLived.failures, 0, JSON.stringify(o));
  });

  test('a real changes its MAC: the director follows it, new connections reach the real at its new MAC', async () => {
    const l = L();
    const fresh = '02:00:00:00:aa:01';
    const o = await underLoad('a real (rs1) changes its MAC', async (notes) => {
      await sleep(1000);
      await l.exec('rs1', ['ip', 'link', 'set', 'eth0', 'address', fresh]);
      const t0 = Date.now();
      let seen = false;
      // Without a gratuitous ARP the director learns it when its entry turns STALE: the kernel's reachable time, 15-45 s.
      for (let i = 0; i < 600 && !seen; i++) {
        seen = (await listJson())[0]!.reals.some((r) => r.mac === fresh);
        if (!seen) await sleep(100);
      }
      notes.push(seen ? `the datapath had rs1's new MAC ${Date.now() - t0} ms after the change` : 'the datapath never saw the new MAC within 60 s');
      assert.ok(seen, notes.join('; '));
    });
    const after = await l.runClient('tcp', { port: 80, count: 60, concurrency: 3, timeoutMs: 3000 });
    assert.equal(after.failures, 0, `after the change: ${JSON.stringify(after.errors)}`);
    assert.ok((after.counts.rs1 ?? 0) > 0, 'rs1 takes connections at its new MAC');
    assert.ok(o.longLived.requests > 0);
  });

  test('the director\'s link goes down for 2 s and up again: forwarding resumes, nothing is detached', async () => {
    const l = L();
    const o = await underLoad('director NIC link down 2 s, up', async () => {
      await sleep(1000);
      await l.exec('dir', ['ip', 'link', 'set', 'eth0', 'down']);
      await sleep(2000);
      await l.exec('dir', ['ip', 'link', 'set', 'eth0', 'up']);
    });
    const xdp = JSON.parse((await l.exec('dir', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth0'])).stdout)[0]?.xdp;
    assert.ok(xdp?.prog?.id, 'the XDP program is still attached');
    const after = await l.runClient('tcp', { port: 80, count: 60, concurrency: 3, timeoutMs: 3000 });
    assert.equal(after.failures, 0, `after the link came back: ${JSON.stringify(after.errors)}`);
    // The flush that link down makes does not move the connection: its real keeps its last MAC.
    assert.equal(o.longLived.reconnects, 0, JSON.stringify(o));
    assert.equal(o.longLived.reals.length, 1, JSON.stringify(o));
  });

  after(() => {
    process.stderr.write(`fault matrix:\n${outcomes.map((o) => `  ${o.fault}: short ${o.short.failures}/${o.short.requested} failed, long-lived ${o.longLived.failures}/${o.longLived.requests} failed, ${o.longLived.reconnects} reconnects, reals ${o.longLived.reals.join(',')}${o.notes.length ? `; ${o.notes.join('; ')}` : ''}`).join('\n')}\n`);
  });
});
