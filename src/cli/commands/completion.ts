// SPDX-License-Identifier: Apache-2.0
// completion.ts: `xlvs completion bash`: prints the bash completion script for xlvs and xlvsadm.

import type { Command } from 'commander';
import { UsageError } from '../../core/errors';
import { bashCompletion } from '../completion';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for xlvs and xlvsadm (install: xlvs completion bash > /etc/bash_completion.d/xlvs)')
    .argument('<shell>', 'the shell (bash)')
    .action((shell: string) => {
      if (shell !== 'bash') throw new UsageError(`shell: ${JSON.stringify(shell)} is not supported (bash is)`);
      process.stdout.write(bashCompletion(program));
    });
}
