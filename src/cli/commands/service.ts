// SPDX-License-Identifier: Apache-2.0
// service.ts: `xlvs service add|edit|delete VIP:PORT`: change one service of the running daemon (scheduler, persistence, flags, slow start, check).

import { type Command, Option } from 'commander';
import { SCHED_FLAGS, SCHEDULER_NAMES } from '../../core/config';
import { UsageError } from '../../core/errors';
import { type ServiceOpts, serviceFrom, withServiceAddress } from '../address';
import { api, intFlag, withSocket } from '../socket';
import { printReport } from './apply';

const CHECKS = ['tcp', 'http', 'https', 'none'] as const;

type Opts = ServiceOpts & {
  scheduler?: string;
  maglevSize?: string;
  schedFlags?: string;
  persistent?: string | boolean;
  netmask?: string;
  slowStart?: string;
  check?: string;
  checkPort?: string;
  checkPath?: string;
  checkInterval?: string;
  checkTimeout?: string;
  socket: string;
};

function withSettings(c: Command): Command {
  return c
    .addOption(new Option('-s, --scheduler <name>', 'scheduler (default mh)').choices(SCHEDULER_NAMES))
    .option('--maglev-size <n>', 'Maglev table size (a prime, 251..1048573)')
    .option('-b, --sched-flags <flags>', `scheduler flags, comma-separated (${SCHED_FLAGS.join(', ')}), or "none"`)
    .option('-p, --persistent [seconds]', "a client's new connections follow its earlier ones for this long after its last packet (default 300)")
    .option('--no-persistent', 'edit: persistence off')
    .option(
      '-M, --netmask <mask>',
      'with --persistent: clients in one network of this mask count as one (default 255.255.255.255; IPv6: a prefix length, default 128)',
    )
    .option('--slow-start <seconds>', 'a new or recovered real ramps to its full weight over this many seconds (0: at once)')
    .addOption(new Option('--check <type>', 'health check of every real ("none": unchecked)').choices(CHECKS))
    .option('--check-port <port>', 'with --check: the port probed (default the service port)')
    .option('--check-path <path>', 'with --check http|https: the path requested (default /)')
    .option('--check-interval <ms>', 'with --check: milliseconds between probes (default 1000)')
    .option('--check-timeout <ms>', 'with --check: milliseconds a probe may take (default 500)');
}

/** The settings given on the command line; `edit` maps "off" forms to null (the API's "back to the default"). */
export function serviceSettings(o: Opts, edit: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.scheduler !== undefined) out.scheduler = o.scheduler;
  if (o.maglevSize !== undefined) out.maglev_size = intFlag('--maglev-size', o.maglevSize, 1, 1 << 30);
  if (o.schedFlags !== undefined) {
    const flags = o.schedFlags === 'none' ? [] : o.schedFlags.split(',').map((f) => f.trim());
    for (const f of flags)
      if (!(SCHED_FLAGS as readonly string[]).includes(f))
        throw new UsageError(`--sched-flags ${JSON.stringify(o.schedFlags)}: ${JSON.stringify(f)} is not a scheduler flag (known: ${SCHED_FLAGS.join(', ')})`);
    out.sched_flags = flags;
  }
  if (o.persistent === false) {
    if (!edit) throw new UsageError('--no-persistent: only with service edit (a new service has no persistence unless --persistent)');
    if (o.netmask !== undefined) throw new UsageError(`--netmask ${JSON.stringify(o.netmask)}: not with --no-persistent`);
    out.persistence = null;
  } else if (o.persistent !== undefined) {
    const timeout = o.persistent === true ? 300 : intFlag('--persistent', o.persistent, 1, 2678400);
    // An IPv6 service's netmask is a prefix length, a number to the config (-M 64); an IPv4 one's a dotted mask.
    const netmask = o.netmask !== undefined && /^\d{1,3}$/.test(o.netmask) ? Number(o.netmask) : o.netmask;
    out.persistence = { timeout, ...(netmask !== undefined ? { netmask } : {}) };
  } else if (o.netmask !== undefined) throw new UsageError(`--netmask ${JSON.stringify(o.netmask)}: only with --persistent`);
  if (o.slowStart !== undefined) out.slow_start_s = intFlag('--slow-start', o.slowStart, 0, 86400);
  const params: [string, string | undefined][] = [
    ['--check-port', o.checkPort],
    ['--check-path', o.checkPath],
    ['--check-interval', o.checkInterval],
    ['--check-timeout', o.checkTimeout],
  ];
  const stray = params.find(([, v]) => v !== undefined);
  if (o.check === undefined || o.check === 'none') {
    if (stray) throw new UsageError(`${stray[0]} ${JSON.stringify(stray[1])}: only with --check tcp|http|https`);
    if (o.check === 'none') out.check = edit ? null : undefined;
  } else {
    if (o.checkPath !== undefined && o.check === 'tcp') throw new UsageError(`--check-path ${JSON.stringify(o.checkPath)}: only with --check http|https`);
    out.check = {
      type: o.check,
      ...(o.checkPort !== undefined ? { port: intFlag('--check-port', o.checkPort, 1, 65535) } : {}),
      ...(o.checkPath !== undefined ? { path: o.checkPath } : {}),
      ...(o.checkInterval !== undefined ? { interval_ms: intFlag('--check-interval', o.checkInterval, 50, 3_600_000) } : {}),
      ...(o.checkTimeout !== undefined ? { timeout_ms: intFlag('--check-timeout', o.checkTimeout, 10, 3_600_000) } : {}),
    };
  }
  return out;
}

export function registerService(program: Command): void {
  const svc = program.command('service').description('add, edit or delete a service of the running daemon');
  const cmd = (name: string, what: string) => withSocket(withServiceAddress(svc.command(name).description(what)));
  withSettings(cmd('add', 'add a service (no reals yet), e.g. xlvs service add 10.0.0.100:80 -s wrr -p 600')).action(
    async (pos: string | undefined, o: Opts) => {
      const service = { ...serviceFrom(pos, o), ...serviceSettings(o, false) };
      printReport(await api(o, 'POST', '/v1/service/add', { service }));
    },
  );
  withSettings(cmd('edit', "change a service's settings; what is not given stays")).action(async (pos: string | undefined, o: Opts) => {
    const service = { ...serviceFrom(pos, o), ...serviceSettings(o, true) };
    printReport(await api(o, 'POST', '/v1/service/edit', { service }));
  });
  cmd('delete', 'delete a service and its reals').action(async (pos: string | undefined, o: Opts) =>
    printReport(await api(o, 'POST', '/v1/service/delete', { service: serviceFrom(pos, o) })),
  );
}
