// SPDX-License-Identifier: Apache-2.0
// zero.ts: `xlvs zero`: reset the running daemon's counters (all services, or one) and its rate window.

import type { Command } from 'commander';
import { api, serviceKey, withSocket } from '../socket';

export function registerZero(program: Command): void {
  withSocket(
    program
      .command('zero')
      .description('zero the counters of every service, or of one')
      .option('--vip <address>')
      .option('--port <port>')
      .option('--protocol <proto>', 'tcp or udp', 'tcp'),
  ).action(async (o: { vip?: string; port?: string; protocol: string; socket: string }) => {
    const service = o.vip || o.port ? serviceKey({ vip: o.vip ?? '', port: o.port ?? '', protocol: o.protocol }) : undefined;
    await api(o, 'POST', '/v1/zero', service ? { service } : {});
    process.stdout.write('xlvs: counters zeroed\n');
  });
}
