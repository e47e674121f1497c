// SPDX-License-Identifier: Apache-2.0
// apply.ts: `xlvs apply -f FILE [--dry-run]`: replace the running daemon's config; the dry run prints the plan and what it would move.

import type { Command } from 'commander';
import type { PlanReport } from '../../core/controller';
import { loadConfigFile } from '../options';
import { api, withSocket } from '../socket';

export function printReport(r: PlanReport, verbose = false): void {
  if (verbose || r.dryRun) for (const l of r.ops) process.stdout.write(`  ${l}\n`);
  const head = r.dryRun ? 'dry run, nothing applied' : 'applied';
  process.stdout.write(`xlvs: ${head}: ${r.ops.length} operation(s), ${r.bucketsMoved} Maglev bucket(s) moved, ${r.connsMoved} tracked connection(s) moved\n`);
}

export function registerApply(program: Command): void {
  withSocket(
    program
      .command('apply')
      .description("replace the running daemon's config with FILE (validated first; a rejected file changes nothing)")
      .requiredOption('-f, --file <file>', 'YAML config')
      .option('--dry-run', 'print the plan and what it would move, apply nothing'),
  ).action(async (o: { file: string; dryRun?: boolean; socket: string }) => {
    const cfg = loadConfigFile(o.file);
    printReport(await api<PlanReport>(o, 'POST', '/v1/apply', { config: cfg, dryRun: !!o.dryRun }), true);
  });
}
