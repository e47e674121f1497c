// SPDX-License-Identifier: Apache-2.0
// real-drain.ts: `xlvs real drain VIP:PORT RIP [--wait]`: weight 0 through the daemon; with --wait, the real's tracked connections printed as they fall and the real deleted at zero.

import type { Command } from 'commander';
import { NotFoundError, type ServiceKey } from '../../core/edits';
import { RuntimeError, UsageError } from '../../core/errors';
import type { RealListing, ServiceListing } from '../../core/listing';
import { serviceName } from '../../core/net/label';
import { type RealOpts, realArgs, type ServiceOpts, withRealAddress, withServiceAddress } from '../address';
import { api, intFlag, withSocket } from '../socket';

export interface DrainOptions {
  service: ServiceKey;
  address: string;
  wait: boolean;
  timeoutS: number;
  intervalMs: number;
}

/** What the drain needs from the outside: the daemon's API, a clock, and somewhere to print. */
export interface DrainEffects {
  call<T = any>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T>;
  sleep(ms: number): Promise<void>;
  now(): number;
  out(line: string): void;
}

/** Long enough for connections closed with a FIN to expire at the default timeouts.tcp_fin (120 s). */
export const DEFAULT_TIMEOUT_S = 300;
export const DEFAULT_INTERVAL_MS = 1000;

/** Every flag checked before anything is sent to the daemon. */
export function drainOptions(
  service: string | undefined,
  real: string | undefined,
  o: ServiceOpts & RealOpts & { wait?: boolean; timeout?: string; interval?: string },
): DrainOptions {
  const named = realArgs(service, real, o);
  const timeoutS = intFlag('--timeout', o.timeout, 1, 604800);
  const intervalMs = intFlag('--interval', o.interval, 100, 60000);
  if (!o.wait && o.timeout !== undefined) throw new UsageError(`--timeout ${JSON.stringify(o.timeout)}: only with --wait (without it nothing is waited for)`);
  if (!o.wait && o.interval !== undefined) throw new UsageError(`--interval ${JSON.stringify(o.interval)}: only with --wait (without it nothing is polled)`);
  return {
    service: named.service,
    address: named.address,
    wait: !!o.wait,
    timeoutS: timeoutS ?? DEFAULT_TIMEOUT_S,
    intervalMs: intervalMs ?? DEFAULT_INTERVAL_MS,
  };
}

function findReal(list: ServiceListing[], d: DrainOptions): RealListing | undefined {
  const s = list.find((x) => x.vip === d.service.vip && x.port === d.service.port && x.protocol === d.service.protocol);
  if (!s) throw new NotFoundError(`no service ${serviceName(d.service)}`);
  return s.reals.find((r) => r.address === d.address);
}

const counts = (r: RealListing) => `${r.activeConns ?? '?'} active, ${r.inactiveConns ?? '?'} inactive connection(s)`;

/**
 * Weight 0, then (with wait) one line per interval until the real has no tracked connection, then delete. The delete
 * cannot race a new connection: at weight 0 the datapath gives the real none (persistence templates included).
 */
export async function drain(d: DrainOptions, fx: DrainEffects): Promise<void> {
  const name = `${d.address} of ${serviceName(d.service)}`;
  const listing = () => fx.call<ServiceListing[]>('GET', '/v1/services');
  const before = findReal(await listing(), d);
  if (!before) throw new NotFoundError(`no real ${d.address} in ${serviceName(d.service)}`);
  if (d.wait && (typeof before.activeConns !== 'number' || typeof before.inactiveConns !== 'number')) {
    throw new RuntimeError(`${name}: the daemon's datapath reports no per-real connection counts, so --wait cannot tell when it is drained; nothing changed`);
  }
  if (before.weight !== 0) await fx.call('POST', '/v1/real/edit', { service: d.service, real: { address: d.address, weight: 0 } });
  fx.out(`xlvs: ${name}: ${before.weight === 0 ? 'weight already 0' : `weight ${before.weight} -> 0`}: no new connections, existing ones stay`);
  const current = async () => {
    const r = findReal(await listing(), d);
    if (!r) throw new RuntimeError(`${name}: deleted by another change while draining`);
    return r;
  };
  if (!d.wait) {
    fx.out(`xlvs: ${name}: ${counts(await current())} left (--wait deletes it once none are)`);
    return;
  }
  const t0 = fx.now();
  for (;;) {
    const r = await current();
    // Someone put it back into service: deleting it now would cut connections it was meant to take.
    if (r.weight !== 0) throw new RuntimeError(`${name}: weight set to ${r.weight} by another change while draining; not deleted`);
    const elapsed = fx.now() - t0;
    fx.out(`  +${(elapsed / 1000).toFixed(1)}s  ${r.activeConns} active  ${r.inactiveConns} inactive`);
    if (r.activeConns === 0 && r.inactiveConns === 0) {
      await fx.call('POST', '/v1/real/delete', { service: d.service, real: { address: d.address } });
      fx.out(`xlvs: ${name}: no tracked connections left after ${(elapsed / 1000).toFixed(1)} s; deleted`);
      return;
    }
    const left = d.timeoutS * 1000 - elapsed;
    if (left <= 0) throw new RuntimeError(`${name}: ${counts(r)} still tracked after ${d.timeoutS} s; not deleted (it stays at weight 0)`);
    await fx.sleep(Math.min(d.intervalMs, left));
  }
}

const HELP = `
Drain sets the real's weight to 0: it takes no new connections (persistence
templates that name it are no longer honoured) while the connections it has
stay. Without --wait that is all; the command prints what is left.

With --wait it prints the real's tracked connections every --interval ms
(active = ESTABLISHED, inactive = every other state) and deletes the real once
both are 0 (exit 0). If --timeout passes first it prints what is left and exits
1 without deleting; the real stays at weight 0.

A closed connection stays counted as inactive until its idle timeout expires:
timeouts.tcp_fin after the client's FIN (default 120 s), 10 s after an RST;
a UDP flow for timeouts.udp (300 s); an idle ESTABLISHED one for timeouts.tcp
(900 s). Give --timeout above what you expect (default ${DEFAULT_TIMEOUT_S} s), or lower
timeouts.tcp_fin in the config for quicker drains.

Example: xlvs real drain 10.0.0.100:80 10.0.0.11 --wait --timeout 600
`;

type DrainFlags = { wait?: boolean; timeout?: string; interval?: string; socket: string };

export function registerRealDrain(real: Command): void {
  withSocket(
    withRealAddress(
      withServiceAddress(
        real.command('drain').description('stop new connections to a real server (weight 0); with --wait, delete it once its connections are gone'),
      ).argument('[RIP[:PORT]]', "the real server's IPv4 address"),
    )
      .option('--wait', 'wait until the real has no tracked connection, then delete it')
      .option('--timeout <seconds>', `with --wait: give up after this many seconds, exit 1, delete nothing (default ${DEFAULT_TIMEOUT_S})`)
      .option('--interval <ms>', `with --wait: how often to poll and print, 100..60000 (default ${DEFAULT_INTERVAL_MS})`)
      .addHelpText('after', HELP),
  ).action(async (service: string | undefined, address: string | undefined, o: ServiceOpts & RealOpts & DrainFlags) => {
    const d = drainOptions(service, address, o);
    await drain(d, {
      call: (method, route, body) => api(o, method, route, body),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
      out: (line) => process.stdout.write(`${line}\n`),
    });
  });
}
