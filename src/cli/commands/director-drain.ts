// SPDX-License-Identifier: Apache-2.0
// director-drain.ts: `xlvs director drain [--wait [SECONDS]]`: withdraw every VIP from BGP, then print the connections still arriving.

import type { Command } from 'commander';
import type { BgpStatus } from '../../adapters/announce';
import { RuntimeError } from '../../core/errors';
import { api, intFlag, withSocket } from '../socket';

/** Long enough for BIRD to send the withdrawal, BFD-free, and for the router to move every flow. */
export const DEFAULT_WAIT_S = 300;
export const INTERVAL_MS = 1000;

export interface DirectorDrainEffects {
  call<T = any>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T>;
  sleep(ms: number): Promise<void>;
  now(): number;
  out(line: string): void;
}

/** --wait alone waits DEFAULT_WAIT_S; --wait N waits N seconds; without it nothing is waited for. */
export function waitSeconds(wait: string | boolean | undefined): number | null {
  if (wait === undefined || wait === false) return null;
  if (wait === true) return DEFAULT_WAIT_S;
  return intFlag('--wait', wait, 1, 604800)!;
}

export function announcementLines(st: BgpStatus): string {
  return st.vips.map((v) => `  ${v.vip}  ${v.announced ? 'announced' : 'withdrawn'} (${v.reason})\n`).join('');
}

/** Withdraw, then (with a wait) one line a second until no tracked connection still sends, or the time is up (exit 1). */
export async function drainDirector(waitS: number | null, fx: DirectorDrainEffects): Promise<void> {
  const st = await fx.call<BgpStatus>('POST', '/v1/director/drain', {});
  fx.out(`xlvs: drained: every VIP withdrawn from BGP (table ${st.table})`);
  for (const l of announcementLines(st).split('\n')) if (l) fx.out(l);
  if (waitS === null) return;
  const t0 = fx.now();
  for (;;) {
    const s = await fx.call<BgpStatus>('GET', '/v1/director/bgp');
    if (!s?.drained) throw new RuntimeError('undrained by another command while waiting');
    const d = s.drain!;
    const elapsed = (fx.now() - t0) / 1000;
    fx.out(`  +${elapsed.toFixed(1)}s  ${d.active} active  ${d.tracked} tracked`);
    if (d.done) {
      fx.out(`xlvs: drain complete after ${elapsed.toFixed(1)} s: no connection sent a packet for ${d.quietS} s`);
      return;
    }
    if (elapsed >= waitS) throw new RuntimeError(`${d.active} connection(s) still sending after ${waitS} s; the director stays drained`);
    await fx.sleep(Math.min(INTERVAL_MS, waitS * 1000 - (fx.now() - t0)));
  }
}

const HELP = `
Drain withdraws every VIP this director announces over BGP (config bgp.table:
the routes BIRD exports leave the table), so the router sends new and existing
flows to the other directors. The datapath keeps forwarding whatever still
arrives. The drain survives a daemon restart and lasts until
"xlvs director undrain" or "xlvs down".

With --wait it prints, once a second, the tracked connections that sent a
packet within the last few seconds (active) and all tracked ones, and exits 0
once none is active; exit 1 if SECONDS (default ${DEFAULT_WAIT_S}) pass first.

Example: xlvs director drain --wait 60
`;

export function registerDirectorDrain(director: Command): void {
  withSocket(
    director
      .command('drain')
      .description('withdraw every VIP from BGP; with --wait, wait until no connection arrives any more')
      .option('--wait [seconds]', `wait until no tracked connection sends (at most SECONDS, default ${DEFAULT_WAIT_S})`)
      .addHelpText('after', HELP),
  ).action(async (o: { wait?: string | boolean; socket: string }) => {
    const waitS = waitSeconds(o.wait);
    await drainDirector(waitS, {
      call: (method, route, body) => api(o, method, route, body),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
      out: (line) => process.stdout.write(`${line}\n`),
    });
  });
}
