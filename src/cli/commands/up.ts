// SPDX-License-Identifier: Apache-2.0
// up.ts: `xlvs up --config FILE`: run the director in the foreground until SIGINT/SIGTERM.

import type { Command } from 'commander';
import { Runner } from '../../adapters/runner';
import { loadConfigFile } from '../options';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('attach the datapath on the configured interface and run in the foreground; SIGINT/SIGTERM detaches and cleans up')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .action(async (opts: { config: string }) => {
      const cfg = loadConfigFile(opts.config);
      const runner = new Runner(cfg);
      await runner.start();
      await new Promise<void>((resolve) => {
        const done = (sig: string) => {
          process.stdout.write(`xlvs: ${sig}: detaching from ${cfg.interface}\n`);
          runner.stop();
          resolve();
        };
        process.once('SIGINT', () => done('SIGINT'));
        process.once('SIGTERM', () => done('SIGTERM'));
        // Only once the handlers are in place: whoever waits for this line may signal at once.
        process.stdout.write(`xlvs: ${runner.summary()}\n`);
      });
    });
}
