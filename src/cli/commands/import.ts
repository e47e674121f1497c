// SPDX-License-Identifier: Apache-2.0
// import.ts: `xlvs import keepalived FILE`: keepalived.conf's LVS rules as xlvs config YAML on stdout, and what could not be mapped on stderr.

import type { Command } from 'commander';
import { readTextFile } from '../../adapters/configfile';
import { UsageError } from '../../core/errors';
import { convertKeepalived } from '../../core/keepalived-services';
import { MAX_CONFIG_BYTES } from '../../core/limits';

export function registerImport(program: Command): void {
  const imp = program.command('import').description("convert another load balancer's configuration into an xlvs config");
  imp
    .command('keepalived')
    .description('keepalived.conf virtual_server/real_server blocks -> xlvs YAML on stdout; everything not mapped is listed on stderr with its line')
    .argument('<file>', 'keepalived.conf')
    .option('-i, --interface <name>', "the director interface (default: the first vrrp_instance's interface)")
    .action((file: string, opts: { interface?: string }) => {
      // keepalived.conf for 10,000 services x 10 reals with a check each is ~15 MiB: the config file's limit fits it.
      const text = readTextFile(file, MAX_CONFIG_BYTES, JSON.stringify(file));
      let r: ReturnType<typeof convertKeepalived>;
      try {
        r = convertKeepalived(text, opts.interface ? { iface: opts.interface } : {});
      } catch (e) {
        if (e instanceof UsageError) throw new UsageError(`${file}: ${e.message.split('\n')[0]}`, e.details);
        throw e;
      }
      process.stdout.write(r.yaml);
      for (const u of r.unmapped) process.stderr.write(`${file}:${u.line}${u.endLine ? `-${u.endLine}` : ''}: not mapped: ${u.what}: ${u.reason}\n`);
      if (r.unmapped.length) process.stderr.write(`xlvs: ${r.unmapped.length} statement(s) not mapped; review them before using the config\n`);
    });
}
