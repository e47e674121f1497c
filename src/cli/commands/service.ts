// SPDX-License-Identifier: Apache-2.0
// service.ts: `xlvs service add|edit|delete`: change one service of the running daemon.

import type { Command } from 'commander';
import { api, intFlag, serviceKey, withServiceFlags, withSocket } from '../socket';
import { printReport } from './apply';

type Opts = { vip: string; port: string; protocol: string; scheduler?: string; maglevSize?: string; socket: string };

export function registerService(program: Command): void {
  const svc = program.command('service').description('add, edit or delete a service of the running daemon');
  const extra = (c: Command) => c.option('--scheduler <name>', 'scheduler (mh)').option('--maglev-size <n>', 'Maglev table size (a prime)');
  const body = (o: Opts) => ({
    service: { ...serviceKey(o), scheduler: o.scheduler, maglev_size: intFlag('--maglev-size', o.maglevSize, 1, 1 << 30) },
  });
  withSocket(extra(withServiceFlags(svc.command('add').description('add a service (no reals yet)')))).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/service/add', body(o))),
  );
  withSocket(extra(withServiceFlags(svc.command('edit').description("change a service's settings")))).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/service/edit', body(o))),
  );
  withSocket(withServiceFlags(svc.command('delete').description('delete a service and its reals'))).action(async (o: Opts) =>
    printReport(await api(o, 'POST', '/v1/service/delete', { service: serviceKey(o) })),
  );
}
