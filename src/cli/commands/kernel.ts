// SPDX-License-Identifier: Apache-2.0
// kernel.ts: `xlvs kernel`: what the running kernel offers xlvs (each feature, with the version that brought it) and what each BPF program costs its verifier.

import * as os from 'node:os';
import type { Command } from 'commander';
import { requireRoot } from '../../adapters/host';
import { type ProgramCost, probeKernel, verifierCosts } from '../../adapters/kernelprobe';
import { RuntimeError } from '../../core/errors';
import { KERNEL_FEATURES, MIN_KERNEL, missingRequired, VERIFIER_BUDGET } from '../../core/kernel';

export interface KernelJson {
  kernel: string;
  minimum: string;
  features: { name: string; since: string; required: boolean; present: boolean; error?: string; fallback?: string }[];
  verifier: { budget: number; programs: (ProgramCost & { overBudget: boolean })[] } | { error: string };
  ok: boolean;
}

export async function kernelReport(): Promise<KernelJson> {
  const features = await probeKernel();
  let verifier: KernelJson['verifier'];
  try {
    verifier = { budget: VERIFIER_BUDGET, programs: (await verifierCosts()).map((p) => ({ ...p, overBudget: (p.verifiedInsns ?? 0) > VERIFIER_BUDGET })) };
  } catch (e) {
    verifier = { error: e instanceof Error ? e.message : String(e) };
  }
  const ok = !missingRequired(features, os.release()) && !('error' in verifier) && verifier.programs.every((p) => !p.overBudget);
  return {
    kernel: os.release(),
    minimum: MIN_KERNEL,
    features: features.map((r) => ({
      name: r.feature.name,
      since: r.feature.since,
      required: r.feature.required,
      present: r.present,
      ...(r.error ? { error: r.error } : {}),
      ...(!r.present && r.feature.fallback ? { fallback: r.feature.fallback } : {}),
    })),
    verifier,
    ok,
  };
}

export function kernelText(k: KernelJson): string {
  const w = Math.max(...KERNEL_FEATURES.map((f) => f.name.length));
  const lines = [`kernel ${k.kernel} (xlvs supports ${k.minimum} and later)`, 'features:'];
  for (const f of k.features) {
    const state = f.present ? 'yes' : f.required ? 'MISSING' : 'missing';
    lines.push(
      `  ${f.name.padEnd(w)}  ${state.padEnd(7)}  since ${f.since}${f.required ? '' : ', optional'}${f.error ? `  (probe: ${f.error})` : ''}${f.fallback ? `  -> ${f.fallback}` : ''}`,
    );
  }
  if ('error' in k.verifier) {
    lines.push('verifier: a program does not load:', `  ${k.verifier.error.replace(/\n/g, '\n  ')}`);
  } else {
    lines.push(`verifier: processed instructions per program (budget ${k.verifier.budget.toLocaleString('en')}, limit 1,000,000)`);
    for (const p of k.verifier.programs) {
      const n = p.verifiedInsns === null ? 'unknown' : p.verifiedInsns.toLocaleString('en');
      lines.push(`  ${`${p.object} ${p.program}`.padEnd(36)}  ${n.padStart(9)}${p.overBudget ? '  OVER BUDGET' : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function registerKernel(program: Command): void {
  program
    .command('kernel')
    .description('check the running kernel: every feature xlvs uses, and the verifier cost of each BPF program (loads them, attaches nothing)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      requireRoot('xlvs kernel');
      const k = await kernelReport();
      process.stdout.write(opts.json ? `${JSON.stringify(k, null, 2)}\n` : kernelText(k));
      if (!k.ok) throw new RuntimeError('this kernel cannot run xlvs as built (see above)');
    });
}
