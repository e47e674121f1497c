// SPDX-License-Identifier: Apache-2.0
// save.ts: `xlvs save` / `xlvs restore`: the running daemon's config as YAML on stdout, and applying one from stdin.

import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseConfig } from '../../core/config';
import type { PlanReport } from '../../core/controller';
import { UsageError } from '../../core/errors';
import { MAX_CONFIG_BYTES } from '../../core/limits';
import { api, withSocket } from '../socket';
import { printReport } from './apply';

/** stdin, read no further than the config limit (a runaway pipe is refused, not buffered). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    total += (c as Buffer).length;
    if (total > MAX_CONFIG_BYTES) throw new UsageError(`stdin: more than the limit of ${MAX_CONFIG_BYTES} bytes (${MAX_CONFIG_BYTES >> 20} MiB)`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function registerSave(program: Command): void {
  withSocket(program.command('save').description("print the running daemon's config (YAML) on stdout")).action(async (o: { socket: string }) => {
    process.stdout.write(stringify(await api(o, 'GET', '/v1/config')));
  });
  withSocket(program.command('restore').description('apply a config (YAML, as "xlvs save" prints it) read from stdin')).action(
    async (o: { socket: string }) => {
      const cfg = parseConfig(await readStdin(), 'stdin');
      printReport(await api<PlanReport>(o, 'POST', '/v1/apply', { config: cfg }));
    },
  );
}
