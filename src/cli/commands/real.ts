// SPDX-License-Identifier: Apache-2.0
// real.ts: `xlvs real add|edit|delete VIP:PORT RIP` (and `drain`, in real-drain.ts): change one real server of a service of the running daemon.

import type { Command } from 'commander';
import { type RealOpts, realArgs, type ServiceOpts, withRealAddress, withServiceAddress } from '../address';
import { api, intFlag, withSocket } from '../socket';
import { printReport } from './apply';
import { registerRealDrain } from './real-drain';

type Opts = ServiceOpts & RealOpts & { weight?: string; upperThreshold?: string; lowerThreshold?: string; socket: string };

/** The real's settings given; absent ones stay as they are on edit and take their defaults on add. */
function settings(o: Opts): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (k: string, flag: string, v: string | undefined, max: number) => {
    const n = intFlag(flag, v, 0, max);
    if (n !== undefined) out[k] = n;
  };
  put('weight', '--weight', o.weight, 65535);
  put('upper_threshold', '--upper-threshold', o.upperThreshold, 2147483647);
  put('lower_threshold', '--lower-threshold', o.lowerThreshold, 2147483647);
  return out;
}

export function registerReal(program: Command): void {
  const cmd = program.command('real').description('add, edit, delete or drain a real server of a service of the running daemon');
  const flags = (c: Command, withSettings: boolean) => {
    withSocket(withRealAddress(withServiceAddress(c).argument('[RIP[:PORT]]', "the real server's IPv4 address (a port must be the service's)")));
    if (!withSettings) return c;
    return c
      .option('-w, --weight <n>', 'weight 0..65535 (0: keep existing connections, take no new ones)')
      .option('-x, --upper-threshold <n>', 'no new connections once its active + inactive reach this (0: no limit)')
      .option('-y, --lower-threshold <n>', 'new connections again once below this (0: 3/4 of the upper)');
  };
  const run = (route: string, withSettings: boolean) => async (a: string | undefined, b: string | undefined, o: Opts) => {
    const { service, address } = realArgs(a, b, o);
    printReport(await api(o, 'POST', route, { service, real: { address, ...(withSettings ? settings(o) : {}) } }));
  };
  flags(cmd.command('add').description('add a real server, e.g. xlvs real add 10.0.0.100:80 10.0.0.11 -w 2'), true).action(run('/v1/real/add', true));
  flags(cmd.command('edit').description("change a real server's weight or thresholds"), true).action(run('/v1/real/edit', true));
  flags(cmd.command('delete').description('delete a real server (its connections are rescheduled)'), false).action(run('/v1/real/delete', false));
  registerRealDrain(cmd);
}
