// SPDX-License-Identifier: Apache-2.0
// apply.ts: `xlvs apply -f FILE [--dry-run] [--json]`: replace the running config; a dry run says what changes, then the plan's counts.

import type { Command } from 'commander';
import { diffText } from '../../core/configdiff';
import type { PlanReport } from '../../core/controller';
import { UsageError } from '../../core/errors';
import { loadConfigFile } from '../options';
import { api, withSocket } from '../socket';

export function printReport(r: PlanReport, verbose = false): void {
  // What an operator asks first (scheduler, reals, weights, timeouts...), then the datapath's operations and counts.
  if (r.changes) for (const l of diffText(r.changes)) process.stdout.write(`${l}\n`);
  if (r.changes && r.ops.length) process.stdout.write('operations:\n');
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
      .option('--dry-run', 'say what would change (services, scheduler, reals, weights, timeouts...), then the plan and what it would move; apply nothing')
      .option('--json', 'with --dry-run: the report as JSON (changes, ops, bucketsMoved, connsMoved)'),
  ).action(async (o: { file: string; dryRun?: boolean; json?: boolean; socket: string }) => {
    if (o.json && !o.dryRun) throw new UsageError('--json: only with --dry-run (an apply prints what it did)');
    const cfg = loadConfigFile(o.file);
    const r = await api<PlanReport>(o, 'POST', '/v1/apply', { config: cfg, dryRun: !!o.dryRun });
    if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else printReport(r, true);
  });
}
