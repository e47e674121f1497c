// SPDX-License-Identifier: Apache-2.0
// main.ts: the xlvs command line: registers one command per file and maps failures to exit codes (2 usage/config, 1 runtime).

import { Command, CommanderError } from 'commander';
import { isNativeError } from '../adapters/native';
import { RuntimeError, UsageError } from '../core/errors';
import { registerApply } from './commands/apply';
import { registerCompletion } from './commands/completion';
import { registerDaemon } from './commands/daemon';
import { registerDirector } from './commands/director';
import { registerDoctor } from './commands/doctor';
import { registerDown } from './commands/down';
import { registerImport } from './commands/import';
import { registerKernel } from './commands/kernel';
import { registerList } from './commands/list';
import { registerReal } from './commands/real';
import { registerRealserver } from './commands/realserver';
import { registerRouterArp } from './commands/router-arp';
import { registerSave } from './commands/save';
import { registerService } from './commands/service';
import { registerStatus } from './commands/status';
import { registerTop } from './commands/top';
import { registerTrace } from './commands/trace';
import { registerUp } from './commands/up';
import { registerValidate } from './commands/validate';
import { registerZero } from './commands/zero';

export function buildProgram(): Command {
  const program = new Command('xlvs')
    .description('LVS-DR load-balancer director with an XDP datapath')
    .version(require('../../../package.json').version as string)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerUp(program);
  registerStatus(program);
  for (const r of [
    registerDaemon,
    registerDirector,
    registerDown,
    registerService,
    registerReal,
    registerList,
    registerApply,
    registerSave,
    registerZero,
    registerImport,
    registerValidate,
  ])
    r(program);
  for (const r of [registerRealserver, registerRouterArp, registerDoctor]) r(program);
  for (const r of [registerTrace, registerTop, registerKernel, registerCompletion]) r(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return 2;
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  return 1;
}

export function report(e: unknown): void {
  if (e instanceof CommanderError) return; // commander already printed it
  if (e instanceof UsageError || e instanceof RuntimeError) process.stderr.write(`xlvs: ${e.message}\n`);
  else if (isNativeError(e)) process.stderr.write(`xlvs: ${e.message}${e.log ? `\n${e.log}` : ''}\n`);
  else process.stderr.write(`xlvs: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    report(e);
    process.exitCode = exitCodeOf(e);
  }
}
