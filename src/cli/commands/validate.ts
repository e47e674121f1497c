// SPDX-License-Identifier: Apache-2.0
// validate.ts: `xlvs validate FILE [--host] [--json]`: check a config without a daemon (schema; with --host the host checks the daemon runs at start).

import type { Command } from 'commander';
import { requireKernel } from '../../adapters/kernelprobe';
import { checkHost } from '../../adapters/runner';
import type { Config } from '../../core/config';
import { RuntimeError, UsageError } from '../../core/errors';
import { loadConfigFile } from '../options';

export interface ValidateReport {
  file: string;
  ok: boolean;
  services?: number;
  reals?: number;
  /** Config problems, each naming the field and the value (exit 2). */
  problems: string[];
  /** With --host: what the daemon's start-up checks would refuse (exit 1), and what could not be checked. */
  host?: { ok: boolean; problems: string[]; notes: string[] };
}

/** The host half: the interface, the VIPs against the host's own addresses, every real on-link, then the kernel's BPF/XDP features. */
async function hostReport(cfg: Config): Promise<NonNullable<ValidateReport['host']>> {
  const problems: string[] = [];
  const notes: string[] = [];
  try {
    checkHost(cfg);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problems.push(...(e.details.length ? e.details : [e.message]));
  }
  // Probing loads small BPF programs, which needs root; without it the rest still says something useful.
  if (process.geteuid?.() === 0) {
    try {
      notes.push(...(await requireKernel()));
    } catch (e) {
      if (!(e instanceof RuntimeError)) throw e;
      problems.push(`kernel: ${e.message}`);
    }
  } else notes.push('kernel: BPF and XDP features not probed (that needs root)');
  return { ok: problems.length === 0, problems, notes };
}

export async function validateFile(file: string, host: boolean): Promise<ValidateReport> {
  let cfg: Config;
  try {
    cfg = loadConfigFile(file);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const [head] = e.message.split('\n');
    return { file, ok: false, problems: e.details.length ? e.details.map(String) : [head!] };
  }
  const r: ValidateReport = { file, ok: true, services: cfg.services.length, reals: cfg.services.reduce((n, s) => n + s.reals.length, 0), problems: [] };
  if (host) {
    r.host = await hostReport(cfg);
    r.ok = r.host.ok;
  }
  return r;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

export function validateText(r: ValidateReport): string {
  const lines: string[] = [];
  if (r.problems.length) lines.push(`${r.file}: invalid config`, ...r.problems.map((p) => `  ${p}`));
  else lines.push(`ok: ${plural(r.services!, 'service')}, ${plural(r.reals!, 'real')}`);
  if (r.host) {
    lines.push(r.host.ok ? 'host: ok' : 'host: the daemon would refuse to start:', ...r.host.problems.map((p) => `  ${p}`));
    for (const n of r.host.notes) lines.push(`  note: ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a config file without a daemon: every problem named with its field and value (exit 2); --host adds the start-up host checks (exit 1)')
    .argument('<FILE>', 'YAML config')
    .option('--host', 'also check this host as the daemon does at start: interface, VIPs against own addresses, reals on-link, BPF/XDP support')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { host?: boolean; json?: boolean }) => {
      const r = await validateFile(file, !!o.host);
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : validateText(r));
      if (r.problems.length) process.exitCode = 2;
      else if (!r.ok) process.exitCode = 1;
    });
}
