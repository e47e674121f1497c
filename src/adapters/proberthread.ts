// SPDX-License-Identifier: Apache-2.0
// proberthread.ts: the health runner's handle on the prober worker thread: probes batched out, results settled as they come back, restarts paced.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ProbeResult } from '../core/health';
import type { ProbeTarget } from './checkers';
import { monotonicMs } from './clock';
import type { EventSink } from './event';
import type { FromProber, ProbeRequest, ProberDr, ToProber } from './healthprober';

/** A prober thread that died is not restarted sooner than this after its start (a crash loop must not spin). */
const RESTART_MS = 1000;
/** stop() waits this long for the prober thread to close its socket before terminating it. */
const STOP_MS = 2000;

/**
 * The main thread's handle on the prober thread (src/adapters/healthprober.ts): probes go over in one message per
 * schedule wake-up, results come back as they settle. Timeouts are timed there, so however long this thread is busy
 * (a 10,000-service plan, a burst of API edits), an answer that arrived in time counts as in time; only the
 * schedule and the verdict's effect wait for this thread. The thread alone is not enough on a small machine: with
 * both cores taken by the daemon, `ip` children and clients, it too wakes late, so a fired timer still reads what
 * has arrived before it calls a timeout (checkers.ts withTimeout, ProbeSocket.collect).
 */
export class ProberThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (r: ProbeResult) => void>();
  private batch: ProbeRequest[] = [];
  private nextId = 1;
  private startedAt = -Infinity;
  private stopping = false;

  constructor(private readonly event: EventSink) {}

  probe(target: ProbeTarget, mac: string | null): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, resolve);
      this.batch.push({ id, target, mac });
    });
  }

  /** Sends the probes queued since the last send. */
  send(dr: ProberDr | null): void {
    const probes = this.batch;
    this.batch = [];
    if (!probes.length) return;
    const w = this.start();
    if (!w) {
      for (const p of probes) this.settle(p.id, { ok: false, inconclusive: true, detail: 'health prober restarting (not checked)' });
      return;
    }
    w.postMessage({ type: 'probe', dr, probes } satisfies ToProber);
  }

  private settle(id: number, r: ProbeResult): void {
    const resolve = this.pending.get(id);
    this.pending.delete(id);
    resolve?.(r);
  }

  private start(): Worker | undefined {
    if (this.worker) return this.worker;
    if (this.stopping || monotonicMs() - this.startedAt < RESTART_MS) return undefined;
    this.startedAt = monotonicMs();
    const w = new Worker(path.join(__dirname, 'healthprober.js'));
    // The daemon's own handles keep it alive; an idle prober must not (xlvs up's stop() does not wait for it).
    w.unref();
    w.on('message', (m: FromProber) => {
      if (m.type === 'results') for (const r of m.results) this.settle(r.id, r.result);
    });
    w.on('error', (e) => this.event('error', 'health prober failed', { event: 'health', err: e.message }));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      if (!this.stopping) this.event('error', 'health prober exited', { event: 'health', code, restart_after_ms: RESTART_MS });
      // What it was running is unknown either way: counts neither way, and each target is due again next interval.
      for (const id of [...this.pending.keys()]) this.settle(id, { ok: false, inconclusive: true, detail: 'health prober exited (not checked)' });
    });
    this.worker = w;
    return w;
  }

  /** Lets in-flight probes settle and the raw socket close; terminates the thread if that takes longer than STOP_MS. */
  async stop(): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage({ type: 'stop' } satisfies ToProber);
    const t = setTimeout(() => void w.terminate(), STOP_MS);
    await exited;
    clearTimeout(t);
  }
}
