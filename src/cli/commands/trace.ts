// SPDX-License-Identifier: Apache-2.0
// trace.ts: `xlvs trace --vip V:PORT --client IP:PORT [--protocol tcp|udp]`: which real a flow goes to and why, read from the pinned maps.

import type { Command } from 'commander';
import { pinDir, requireRoot } from '../../adapters/host';
import { PinnedDatapath } from '../../adapters/pinned';
import { pinnedLookups } from '../../adapters/trace';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../core/abi';
import { isIPv4 } from '../../core/config';
import { RuntimeError, UsageError } from '../../core/errors';
import { trace, traceText } from '../../core/trace';
import { interfaceFrom } from '../options';

/** "A.B.C.D:PORT", the flag named in the error. */
export function hostPort(flag: string, v: string): { addr: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]!) || !(port >= 1 && port <= 65535)) throw new UsageError(`${flag} ${JSON.stringify(v)}: expected IPv4:PORT with a port in 1..65535`);
  return { addr: m[1]!, port };
}

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description(
      'which real a flow goes to and why: its connection-table entry, else the service (exact port, then port 0), its persistence template and its scheduler',
    )
    .requiredOption('--vip <addr:port>', 'the service, VIP:PORT')
    .requiredOption('--client <addr:port>', 'the client address and source port as the director sees them')
    .option('--protocol <proto>', 'tcp or udp', 'tcp')
    .option('-c, --config <file>', 'the config the director runs with (for its interface)')
    .option('-i, --interface <name>', 'the interface the director is attached to')
    .option('--json', 'machine-readable output')
    .action((o: { vip: string; client: string; protocol: string; config?: string; interface?: string; json?: boolean }) => {
      const vip = hostPort('--vip', o.vip);
      const client = hostPort('--client', o.client);
      if (o.protocol !== 'tcp' && o.protocol !== 'udp') throw new UsageError(`--protocol ${JSON.stringify(o.protocol)}: must be tcp or udp`);
      const ifname = interfaceFrom(o);
      requireRoot('xlvs trace');
      const dp = new PinnedDatapath(pinDir(ifname));
      const l = pinnedLookups(dp);
      try {
        const t = trace(
          { client: client.addr, cport: client.port, vip: vip.addr, vport: vip.port, proto: o.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP },
          l,
        );
        if (t.verdict.kind === 'no-service') throw new RuntimeError(`no service ${o.vip}/${o.protocol} on ${ifname}: unknown VIP or port`);
        process.stdout.write(o.json ? `${JSON.stringify(t, null, 2)}\n` : traceText(t));
      } finally {
        l.close();
        dp.close();
      }
    });
}
