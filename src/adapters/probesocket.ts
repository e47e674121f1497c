// SPDX-License-Identifier: Apache-2.0
// probesocket.ts: the raw packet socket the doctor's and the health checker's frame probes share: one receive loop handing each frame to every waiting probe.

import * as os from 'node:os';
import { type ParsedFrame, parseFrame } from '../core/packetparse';
import { probeFilter } from '../core/probefilter';
import { native, type PacketSocket } from './native';

interface Waiter {
  pick(f: ParsedFrame): boolean;
  done(err?: Error): void;
}

/**
 * One packet socket shared by every probe of a run: a single receive loop hands each frame to every waiting probe,
 * so probes of many reals run at once and none steals another's answer.
 */
export class ProbeSocket {
  private readonly sock: PacketSocket;
  private readonly waiters = new Set<Waiter>();
  private readonly loop: Promise<void>;
  private closed = false;
  private failure: Error | undefined;

  /** Receives ARP, and IPv4 and IPv6 addressed to one of `addresses` (either family) on the interface. */
  constructor(ifindex: number, addresses: string[]) {
    this.sock = new (native().PacketSocket)(ifindex, { filter: probeFilter(addresses, os.endianness()) });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let b: Buffer | null;
      try {
        b = await this.sock.recv(250);
      } catch (e) {
        if (this.closed) return;
        this.failure = e as Error;
        for (const w of [...this.waiters]) w.done(this.failure);
        return;
      }
      if (!b) continue;
      const f = parseFrame(b);
      if (!f) continue;
      for (const w of [...this.waiters]) if (w.pick(f)) w.done();
    }
  }

  send(frame: Buffer): void {
    this.sock.send(frame);
  }

  /**
   * Frames for which pick returns a value, gathered for ms; with `first`, resolves at the first one. Register before
   * sending the probe, so a quick answer cannot slip past.
   */
  collect<T>(ms: number, pick: (f: ParsedFrame) => T | undefined, first = false): Promise<T[]> {
    if (this.failure) return Promise.reject(this.failure);
    const got: T[] = [];
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        pick: (f) => {
          const v = pick(f);
          if (v === undefined) return false;
          got.push(v);
          return first;
        },
        done: (err) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          if (err) reject(err);
          else resolve(got);
        },
      };
      // As in checkers.ts: a frame that arrived before the deadline but was not read yet (the receive runs on the
      // thread pool, the pick on this loop) is still an answer; drain() reads whatever the socket holds first.
      const timer = setTimeout(() => void this.drain().then(() => w.done()), ms);
      this.waiters.add(w);
    });
  }

  private draining: Promise<void> | undefined;

  /** Hands every frame already queued on the socket to the waiters (shared by the probes that time out together). */
  private drain(): Promise<void> {
    this.draining ??= (async () => {
      try {
        for (let i = 0; i < 64 && !this.closed; i++) {
          const b = await this.sock.recv(0);
          if (!b) break;
          const f = parseFrame(b);
          if (f) for (const w of [...this.waiters]) if (w.pick(f)) w.done();
        }
      } catch {
        // The receive loop reports socket failures.
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sock.close();
    await this.loop;
    for (const w of [...this.waiters]) w.done();
  }
}

export interface Endpoint {
  mac: string;
  ip: string;
}
