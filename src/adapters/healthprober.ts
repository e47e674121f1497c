// SPDX-License-Identifier: Apache-2.0
// healthprober.ts: the health prober thread (a worker_threads Worker): runs the probes the HealthRunner hands it, with their timers and sockets on its own event loop, and posts each result back.

import { parentPort } from 'node:worker_threads';
import type { ProbeResult } from '../core/health';
import { type ProbeTarget, runProbe } from './checkers';
import { ProbeSocket } from './probesocket';

/** The director's side of DR-path probes: its NIC, MAC and own address. */
export interface ProberDr {
  ifindex: number;
  mac: string;
  ip: string;
}

/** One probe to run: `mac` is the real's MAC as the datapath holds it (DR-path probes are addressed to it). */
export interface ProbeRequest {
  id: number;
  target: ProbeTarget;
  mac: string | null;
}

export type ToProber = { type: 'probe'; dr: ProberDr | null; probes: ProbeRequest[] } | { type: 'stop' };
export type FromProber = { type: 'results'; results: { id: number; result: ProbeResult }[] } | { type: 'stopped' };

/**
 * Why a thread: a probe's timeout and its answer are both events on the loop that runs it. On the daemon's loop a
 * plan of 10,000 services or a burst of API edits held the loop past a 10 ms timeout, so a SYN-ACK that had arrived was
 * read after its timer fired and a healthy real went down. This loop does nothing but probe.
 */
function main(port: NonNullable<typeof parentPort>): void {
  let ps: ProbeSocket | undefined;
  let psKey = '';
  let stopping = false;
  let inFlight = 0;
  let out: { id: number; result: ProbeResult }[] = [];
  let flushQueued = false;

  // Results that settle in the same turn go back as one message.
  const flush = () => {
    flushQueued = false;
    if (out.length) port.postMessage({ type: 'results', results: out } satisfies FromProber);
    out = [];
    if (stopping && !inFlight) void finish();
  };
  const finish = async () => {
    const s = ps;
    ps = undefined;
    await s?.close();
    port.postMessage({ type: 'stopped' } satisfies FromProber);
    port.close();
  };

  const socketFor = (dr: ProberDr): ProbeSocket => {
    const key = `${dr.ifindex}/${dr.ip}`;
    if (!ps || key !== psKey) {
      void ps?.close();
      ps = new ProbeSocket(dr.ifindex, [dr.ip]);
      psKey = key;
    }
    return ps;
  };

  port.on('message', (m: ToProber) => {
    if (m.type === 'stop') {
      stopping = true;
      if (!inFlight) void finish();
      return;
    }
    const dr = m.dr;
    for (const p of m.probes) {
      inFlight++;
      const ctx = dr ? { socket: () => socketFor(dr), director: { mac: dr.mac, ip: dr.ip }, macOf: () => p.mac } : undefined;
      let run: Promise<ProbeResult>;
      try {
        run = runProbe(p.target, ctx);
      } catch (e) {
        run = Promise.resolve({ ok: false, detail: `probe failed: ${(e as Error).message}` });
      }
      void run
        .catch((e: unknown): ProbeResult => ({ ok: false, detail: `probe failed: ${e instanceof Error ? e.message : String(e)}` }))
        .then((result) => {
          inFlight--;
          out.push({ id: p.id, result });
          if (!flushQueued) {
            flushQueued = true;
            setImmediate(flush);
          }
        });
    }
  });
}

if (parentPort) main(parentPort);
