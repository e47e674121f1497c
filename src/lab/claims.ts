// SPDX-License-Identifier: Apache-2.0
// claims.ts: which namespaces a lab run may use and remove: its prefix claimed with a record under /run/xlvs-lab, what it created listed there, and the clean-up of a dead run's leftovers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runSyncQuiet } from './run';

const MARKER_DIR = '/run/xlvs-lab';
const BPFFS_BASE = '/run/xlvs-test-bpf-';

function listNetns(): string[] {
  const r = runSyncQuiet('ip', ['netns', 'list']);
  if (r.code !== 0) return [];
  // Lines look like "name (id: 3)" or just "name".
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

/** The bpffs a run under this prefix mounts (and records, so teardown unmounts it). */
export function bpffsDirFor(prefix: string): string {
  return BPFFS_BASE + prefix.replace(/-$/, '');
}

/**
 * A letter, then up to 7 letters or digits, then '-' (added when missing). No '-' inside, so no prefix begins
 * another; short, so `ip netns list` stays readable and names stay far from the kernel's limits.
 */
const PREFIX_RE = /^[a-z][a-z0-9]{0,7}-?$/;

/**
 * What one run claimed and created, in MARKER_DIR/<prefix>.json. Teardown and cleanupPrefix() remove exactly what is
 * listed here, never a namespace merely because its name looks like a lab's: other runs (or other people) may use
 * such names.
 */
export interface LabRecord {
  prefix: string;
  pid: number;
  /** The owner's start time (field 22 of /proc/PID/stat), so a reused pid does not pass for the owner. */
  start: string | null;
  namespaces: string[];
  bpffs?: string;
  workDir?: string;
  /** A demo run with --keep: it waits in the background for `--cleanup` to ask it (SIGTERM) to tear down. */
  kept?: boolean;
}

/** Checks a LabOptions.prefix and returns it ending in '-'. */
export function labPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(
      `prefix: ${JSON.stringify(prefix)} is not a lab prefix (a lowercase letter, then up to 7 lowercase letters or digits, optionally ending in "-")`,
    );
  }
  return prefix.endsWith('-') ? prefix : `${prefix}-`;
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; field 3 starts two characters after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function ownerAlive(r: LabRecord): boolean {
  const now = procStart(r.pid);
  return now !== null && (r.start === null || now === r.start);
}

function recordPath(prefix: string): string {
  return path.join(MARKER_DIR, `${prefix.replace(/-$/, '')}.json`);
}

function readRecord(prefix: string): LabRecord | null | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(recordPath(prefix), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'unreadable';
  }
  try {
    const r = JSON.parse(text) as LabRecord;
    return Number.isInteger(r.pid) && Array.isArray(r.namespaces) ? r : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Replaces the record whole (rename), so a reader never sees half of it. */
export function writeRecord(r: LabRecord): void {
  const file = recordPath(r.prefix);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(r)}\n`);
  fs.renameSync(tmp, file);
}

/** Creates the record only if none exists: link() of a complete file is the atomic claim; false when taken. */
function createRecord(r: LabRecord): boolean {
  const file = recordPath(r.prefix);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(r)}\n`);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.unlinkSync(tmp);
  }
}

function leftoversNote(r: LabRecord): string {
  const what = [...r.namespaces.map((n) => `namespace ${n}`), ...(r.bpffs ? [`bpffs ${r.bpffs}`] : [])];
  return (
    `it holds the leftovers of run ${r.pid}, which is gone (${what.join(', ') || 'nothing but its record'}, listed in ${recordPath(r.prefix)}); ` +
    `remove them with cleanupPrefix(${JSON.stringify(r.prefix)}) from src/lab/drnet (npm run demo -- --cleanup ${r.prefix})`
  );
}

/** Kills the processes in the record's namespaces (it created them, so only its processes live there) and removes what it lists. */
export function removeRecorded(r: LabRecord, keepWorkDir: boolean): string[] {
  const removed: string[] = [];
  const present = new Set(listNetns());
  for (const ns of r.namespaces) {
    if (!present.has(ns)) continue;
    const pids = runSyncQuiet('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    runSyncQuiet('ip', ['netns', 'del', ns]);
    removed.push(ns);
  }
  if (r.bpffs && fs.existsSync(r.bpffs)) {
    runSyncQuiet('umount', ['-l', r.bpffs]);
    try {
      fs.rmdirSync(r.bpffs);
    } catch {
      /* not empty or still mounted: leave it */
    }
  }
  if (r.workDir && !keepWorkDir) fs.rmSync(r.workDir, { recursive: true, force: true });
  try {
    fs.unlinkSync(recordPath(r.prefix));
  } catch {
    /* no record */
  }
  return removed;
}

/**
 * Removes what a run that is gone (killed, crashed) recorded under this prefix: processes inside its namespaces, the
 * namespaces, its bpffs mount, its work dir. Nothing else with a similar name is touched, and a live run's prefix is
 * refused. Returns the namespaces removed.
 */
export function cleanupPrefix(prefix: string): string[] {
  const p = labPrefix(prefix);
  const r = readRecord(p);
  if (r === null) return [];
  if (r === 'unreadable') throw new Error(`prefix ${p}: ${recordPath(p)} is unreadable; check it and remove it by hand`);
  if (ownerAlive(r)) throw new Error(`prefix ${p} belongs to run ${r.pid}, which is still running; it removes its namespaces when it ends`);
  return removeRecorded(r, false);
}

/**
 * A kept demo lab (`npm run demo -- --keep`) is owned by a background run waiting for this: SIGTERM makes it tear
 * down what it built, as Ctrl-C would. Returns the owner's pid once it has gone, or null when no kept run owns it.
 */
export async function stopKeptOwner(prefix: string, timeoutMs = 60_000): Promise<number | null> {
  const r = readRecord(labPrefix(prefix));
  if (r === null || r === 'unreadable' || !r.kept || !ownerAlive(r)) return null;
  process.kill(r.pid, 'SIGTERM');
  for (const t0 = Date.now(); ownerAlive(r); ) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`prefix ${r.prefix}: run ${r.pid} did not tear down within ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return r.pid;
}

/**
 * Claims a prefix for this run: the one asked for, or the first free xlN- (N from the pid). A prefix is free when no
 * record holds it and no namespace uses it; a run that is gone keeps its prefix until cleanupPrefix() removes its
 * leftovers, which this run only names (through note) and never removes.
 */
export function claimPrefix(wanted: string | undefined, note: (l: string) => void): LabRecord {
  fs.mkdirSync(MARKER_DIR, { recursive: true });
  const existing = listNetns();
  const start = procStart(process.pid);
  const tryClaim = (prefix: string): { record: LabRecord } | { why: string; leftovers: boolean } => {
    const r = readRecord(prefix);
    if (r === 'unreadable') return { why: `${recordPath(prefix)} is unreadable; check it and remove it by hand`, leftovers: false };
    if (r) return ownerAlive(r) ? { why: `run ${r.pid} is using it`, leftovers: false } : { why: leftoversNote(r), leftovers: true };
    const foreign = existing.filter((n) => n.startsWith(prefix));
    if (foreign.length)
      return {
        why: `namespaces this run did not create use it (${foreign.join(' ')}); remove them (ip netns del NAME) or pick another prefix`,
        leftovers: false,
      };
    const record: LabRecord = { prefix, pid: process.pid, start, namespaces: [] };
    return createRecord(record) ? { record } : { why: 'another run claimed it first', leftovers: false };
  };
  if (wanted !== undefined) {
    const prefix = labPrefix(wanted);
    const c = tryClaim(prefix);
    if ('why' in c) throw new Error(`prefix ${prefix}: ${c.why}`);
    return c.record;
  }
  // pid % 10000 keeps names short; a prefix that is taken (a live run, leftovers, someone's namespaces) is skipped.
  for (let k = 0; k < 10000; k++) {
    const prefix = `xl${(process.pid + k) % 10000}-`;
    const c = tryClaim(prefix);
    if ('record' in c) return c.record;
    if (c.leftovers) note(`skipping prefix ${prefix}: ${c.why}`);
  }
  throw new Error('no free lab prefix');
}
