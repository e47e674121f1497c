// SPDX-License-Identifier: Apache-2.0
// run.ts: running commands for the lab: one command with its output collected, a quiet synchronous one for teardown, and ending a detached child's whole process group.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command (argv array, no shell) and collects its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}, track?: Set<ChildProcess>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    track?.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      track?.delete(child);
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      track?.delete(child);
      const r: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs}ms\n${r.stderr}`));
      } else if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${r.stderr.trim()}\n${r.stdout.trim()}`));
      } else {
        resolve(r);
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export function runSyncQuiet(cmd: string, args: string[]): { code: number | null; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  return { code: r.status, stdout: r.stdout ?? '' };
}

export function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Detached children lead their own process group, which also holds whatever `ip netns exec` started.
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}
