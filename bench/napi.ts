// SPDX-License-Identifier: Apache-2.0
// napi.ts: moves a veth's NAPI poll loop into its own kernel thread and pins it, so generator and director run on separate cores.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * veth polls the receiving end on the CPU that transmitted, so without this the generator, the
 * director and the sink would all share one core and the benchmark would time the whole chain.
 */
export function napiThreads(dev: string): number[] {
  const re = new RegExp(`^napi/${dev.replace(/[^\w-]/g, '')}-\\d+$`);
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (re.test(fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim())) pids.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

export function pin(pids: number[], cpu: number): void {
  for (const pid of pids) execFileSync('taskset', ['-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}
