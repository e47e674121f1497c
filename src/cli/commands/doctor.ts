// SPDX-License-Identifier: Apache-2.0
// doctor.ts: `xlvs doctor --config FILE`: probes every real of the config from the director and prints a readiness report; exit 1 if anything fails.

import type { Command } from 'commander';
import { runDoctor } from '../../adapters/drprobe';
import { renderDoctorText } from '../../core/doctor';
import { UsageError } from '../../core/errors';
import { isIPv6 } from '../../core/net/addr';
import { loadConfigFile, parseAddress, parseIntFlag } from '../options';

interface Opts {
  config: string;
  json?: boolean;
  probeAddress?: string;
  offlinkAddress?: string;
  offlinkAddress6?: string;
  timeoutMs?: string;
}

function parseAddress6(flag: string, v: string): string {
  if (!isIPv6(v)) throw new UsageError(`${flag} ${JSON.stringify(v)}: not an IPv6 address`);
  return parseAddress(flag, v, true);
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check from the director that every real of the config is ready for LVS-DR (works with or without xlvs up)')
    .requiredOption('-c, --config <file>', "the director's config")
    .option('--json', 'machine-readable output')
    .option('--probe-address <ip>', 'a spare address on the segment for the arp-announce probe (default: picked by ARP)')
    .option('--offlink-address <ip>', 'an address off the segment for the reply-route probe', '192.0.2.1')
    .option('--offlink-address6 <ip>', "the same for IPv6 reals' reply-route probe", '100::1')
    .option('--timeout-ms <n>', 'how long each probe waits for an answer', '1000')
    .action(async (o: Opts) => {
      const cfg = loadConfigFile(o.config);
      const report = await runDoctor(cfg, {
        ...(o.probeAddress !== undefined ? { probeAddress: parseAddress('--probe-address', o.probeAddress) } : {}),
        ...(o.offlinkAddress !== undefined ? { offlinkAddress: parseAddress('--offlink-address', o.offlinkAddress) } : {}),
        ...(o.offlinkAddress6 !== undefined ? { offlinkAddress6: parseAddress6('--offlink-address6', o.offlinkAddress6) } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: parseIntFlag('--timeout-ms', o.timeoutMs, 100, 10000) } : {}),
      });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctorText(report));
      if (!report.ok) process.exitCode = 1;
    });
}
