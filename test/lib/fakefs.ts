// SPDX-License-Identifier: Apache-2.0
// fakefs.ts: an in-memory file system for the glob and include tests: files by path, directories implied, executable and unreadable files marked.

import type { PathKind } from '../../src/core/glob';
import type { IncludeFs } from '../../src/core/keepalived-include';

/** A file's text, or a marked file: `exec` (an execute bit), `unreadable` (reading it fails). */
export type FakeEntry = string | { exec: string } | { unreadable: true };

/** Paths are relative to the fake's working directory or absolute; `a/./b` and `a//b` name `a/b`, `..` goes up. */
export function fakeFs(files: Record<string, FakeEntry>): IncludeFs & { reads: string[] } {
  const norm = (p: string) => {
    const out: string[] = [];
    for (const s of p.split('/')) {
      if (s === '' || s === '.') continue;
      if (s === '..') out.pop();
      else out.push(s);
    }
    return (p.startsWith('/') ? '/' : '') + out.join('/');
  };
  const entries = new Map(Object.entries(files).map(([p, e]) => [norm(p), e]));
  const dirs = new Set<string>(['', '/']);
  for (const p of entries.keys()) for (let k = p.lastIndexOf('/'); k > 0; k = p.lastIndexOf('/', k - 1)) dirs.add(p.slice(0, k));
  const reads: string[] = [];
  return {
    reads,
    stat(p: string): PathKind | undefined {
      const n = norm(p);
      if (dirs.has(n)) return 'dir';
      const e = entries.get(n);
      if (e === undefined) return undefined;
      return typeof e === 'object' && 'exec' in e ? 'exec' : 'file';
    },
    readDir(p: string): string[] {
      const n = norm(p);
      const prefix = n === '' ? '' : n === '/' ? '/' : `${n}/`;
      const names = new Set<string>();
      for (const q of [...entries.keys(), ...dirs]) {
        if (q === n || !q.startsWith(prefix) || q.length === prefix.length) continue;
        names.add(q.slice(prefix.length).split('/')[0]!);
      }
      // Unsorted on purpose: glob must sort.
      return [...names].reverse();
    },
    readFile(p: string): string {
      reads.push(p);
      const e = entries.get(norm(p));
      if (e === undefined || (typeof e === 'object' && 'unreadable' in e)) throw new Error('cannot read: EACCES');
      return typeof e === 'string' ? e : e.exec;
    },
    realPath: norm,
  };
}
