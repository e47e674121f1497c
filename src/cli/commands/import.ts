// SPDX-License-Identifier: Apache-2.0
// import.ts: `xlvs import keepalived FILE`: keepalived.conf's LVS rules as xlvs config YAML on stdout, and what was dropped, approximated or ignored on stderr.

import type { Command } from 'commander';
import { readTextFile } from '../../adapters/configfile';
import { localIncludeFs } from '../../adapters/includefs';
import { UsageError } from '../../core/errors';
import { convertKeepalived, type ImportSummary } from '../../core/keepalived-services';
import type { Unmapped } from '../../core/keepalived-skips';
import { MAX_CONFIG_BYTES } from '../../core/limits';

/** One stderr line: FILE:LINE[-END]: dropped|ignored|note|approximated as X: STATEMENT: REASON. */
export function unmappedLine(file: string, u: Unmapped): string {
  const label = u.kind === 'approximated' ? `approximated as ${u.as}` : u.kind;
  return `${u.file ?? file}:${u.line}${u.endLine ? `-${u.endLine}` : ''}: ${label}: ${u.what}: ${u.reason}`;
}

const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;

/** The closing count: services imported (approximated), services and statements dropped, statements ignored. */
export function summaryLine(s: ImportSummary): string {
  return (
    `imported ${n(s.services, 'service')} (${s.approximated} approximated), dropped ${n(s.droppedServices, 'service')} and ` +
    `${n(s.dropped, 'statement')}; ${n(s.approximations, 'statement')} approximated, ${s.ignored} ignored`
  );
}

export function registerImport(program: Command): void {
  const imp = program.command('import').description("convert another load balancer's configuration into an xlvs config");
  imp
    .command('keepalived')
    .description(
      'keepalived.conf virtual_server/real_server blocks (includes followed, virtual_server groups expanded) -> xlvs YAML on stdout; ' +
        'what is dropped, approximated or ignored is listed on stderr with its file and line; exit 2 when anything was dropped unless --allow-partial',
    )
    .argument('<file>', 'keepalived.conf')
    .option('-i, --interface <name>', "the director interface (default: the first vrrp_instance's interface)")
    .option('--allow-partial', 'print the config (exit 0) even when services or statements were dropped')
    .action((file: string, opts: { interface?: string; allowPartial?: boolean }) => {
      // keepalived.conf for 10,000 services x 10 reals with a check each is ~15 MiB: the config file's limit fits it.
      const text = readTextFile(file, MAX_CONFIG_BYTES, JSON.stringify(file));
      let r: ReturnType<typeof convertKeepalived>;
      try {
        r = convertKeepalived(text, { file, fs: localIncludeFs, ...(opts.interface ? { iface: opts.interface } : {}) });
      } catch (e) {
        if (e instanceof UsageError) throw new UsageError(`${file}: ${e.message.split('\n')[0]}`, e.details);
        throw e;
      }
      for (const u of r.unmapped) process.stderr.write(`${unmappedLine(file, u)}\n`);
      const s = r.summary;
      process.stderr.write(`xlvs: ${summaryLine(s)}\n`);
      // A config missing services or settings keepalived had is refused unless asked for: nothing half-imported
      // reaches a file by a redirect nobody checked.
      if ((s.droppedServices || s.dropped) && !opts.allowPartial)
        throw new UsageError(
          `${file}: not printing the config: ${n(s.droppedServices, 'service')} and ${n(s.dropped, 'statement')} dropped (listed above); ` +
            'review them, then pass --allow-partial to print it without them',
        );
      process.stdout.write(r.yaml);
    });
}
