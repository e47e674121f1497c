// SPDX-License-Identifier: Apache-2.0
// real.ts: `xlvs real add|edit|delete` (and `drain`, in real-drain.ts): change one real server of a service of the running daemon.

import type { Command } from 'commander';
import { isIPv4 } from '../../core/config';
import { UsageError } from '../../core/errors';
import { api, intFlag, serviceKey, withServiceFlags, withSocket } from '../socket';
import { printReport } from './apply';
import { registerRealDrain } from './real-drain';

type Opts = { vip: string; port: string; protocol: string; address: string; weight?: string; socket: string };

function real(o: Opts) {
  if (!isIPv4(o.address)) throw new UsageError(`--address ${JSON.stringify(o.address)}: not an IPv4 address`);
  return { address: o.address, weight: intFlag('--weight', o.weight, 0, 65535) };
}

export function registerReal(program: Command): void {
  const cmd = program.command('real').description('add, edit, delete or drain a real server of a service of the running daemon');
  const flags = (c: Command, weight: boolean) => {
    withSocket(withServiceFlags(c)).requiredOption('--address <ip>', "the real server's IPv4 address");
    return weight ? c.option('--weight <n>', 'weight 0..65535 (0: keep existing connections, take no new ones)') : c;
  };
  flags(cmd.command('add').description('add a real server'), true).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/real/add', { service: serviceKey(o), real: real(o) })),
  );
  flags(cmd.command('edit').description("change a real server's weight"), true).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/real/edit', { service: serviceKey(o), real: real(o) })),
  );
  flags(cmd.command('delete').description('delete a real server (its connections are rescheduled)'), false).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/real/delete', { service: serviceKey(o), real: real(o) })),
  );
  registerRealDrain(cmd);
}
