// SPDX-License-Identifier: Apache-2.0
// keepalived-include.ts: following keepalived's include (and includer, includem, ...): glob, relative to the including file's directory, nested, cycles refused.

import { UsageError } from './errors';
import { escapeGlob, type GlobFs, glob } from './glob';
import { describe, type KaNode, parseKeepalived } from './keepalived-parse';
import type { Note } from './keepalived-skips';
import { MAX_CONFIG_BYTES } from './limits';

/** The file system an import reads included files from (the CLI's adapter reads the real one). */
export interface IncludeFs extends GlobFs {
  /** A file's text; throws an Error saying why it cannot be read. */
  readFile(path: string): string;
  /** The file's identity (its real path), so a cycle is found whichever path reaches the file again. */
  realPath(path: string): string;
}

/** A file system with nothing in it: every include matches nothing (an import of text alone). */
export const NO_FILES: IncludeFs = {
  stat: () => undefined,
  readDir: () => [],
  readFile: (p) => {
    throw new Error(`${p}: no file system`);
  },
  realPath: (p) => p,
};

/** Included files read in one import, at most: a bound on configs that include files many times over. */
export const MAX_INCLUDED_FILES = 10000;

/** The directory of a path as written ('.' for a bare name): keepalived chdir()s there while reading the file. */
export function dirOf(path: string): string {
  const k = path.lastIndexOf('/');
  return k < 0 ? '.' : k === 0 ? '/' : path.slice(0, k);
}

/** Where a statement is, as errors name it. */
export function place(n: KaNode, mainFile?: string): string {
  const f = n.file ?? mainFile;
  return f !== undefined ? `${f}:${n.line}` : `line ${n.line}`;
}

/**
 * The include callback for parseKeepalived. keepalived reads an include line wherever it stands (inside a block
 * too), globs its pattern (braces included) after changing to the directory of the file holding the line, so a
 * relative pattern is relative to that file, and reads the matches in glob's sorted order, each nested includes
 * and all. What it does with what is not a readable file is mirrored: a directory is skipped silently, an
 * executable or special file skipped (ignored, keepalived skips it too). A pattern that matches nothing, a file
 * that cannot be read and an include cycle are dropped: keepalived's host may hold virtual servers there.
 * `mainFile` is the imported file's path (relative patterns in it resolve against its directory).
 */
export function includeResolver(fs: IncludeFs, note: Note, mainFile?: string): (n: KaNode) => KaNode[] {
  const stack: { id: string; path: string }[] = mainFile !== undefined ? [{ id: safeReal(fs, mainFile), path: mainFile }] : [];
  let bytes = 0;
  let files = 0;
  const resolve = (n: KaNode): KaNode[] => {
    const pattern = n.args[0]!;
    const from = n.file ?? mainFile;
    const dir = from === undefined ? '.' : dirOf(from);
    const full = pattern.startsWith('/') || dir === '.' ? pattern : `${escapeGlob(dir)}/${pattern}`;
    const strict = n.key !== 'include' ? ` (with ${n.key} keepalived also reports a config error)` : '';
    const matches = glob(full, fs).filter((m) => m.kind !== 'dir');
    if (!matches.length) {
      note(
        n,
        `nothing matches ${full === pattern ? pattern : `${pattern} (${full})`}: keepalived logs that and goes on${strict}; ` +
          "if keepalived's host has such files, what they configure is missing here: import there, or copy them alongside",
        describe(n),
        'dropped',
      );
      return [];
    }
    const out: KaNode[] = [];
    for (const m of matches) {
      if (m.kind !== 'file') {
        note(n, `${m.path} is not a regular non-executable file: keepalived skips it too`, describe(n), 'ignored');
        continue;
      }
      const id = safeReal(fs, m.path);
      const cycle = stack.findIndex((s) => s.id === id);
      if (cycle >= 0) {
        const chain = [...stack.slice(cycle).map((s) => s.path), m.path].join(' -> ');
        note(
          n,
          `${m.path} includes itself (${chain}): keepalived would read it again and again until it ran out of files; not followed`,
          describe(n),
          'dropped',
        );
        continue;
      }
      let text: string;
      try {
        text = fs.readFile(m.path);
      } catch (e) {
        note(n, `${m.path}: ${e instanceof Error ? e.message : String(e)}`, describe(n), 'dropped');
        continue;
      }
      bytes += text.length;
      if (++files > MAX_INCLUDED_FILES || bytes > MAX_CONFIG_BYTES)
        throw new UsageError(
          `${place(n, mainFile)}: ${describe(n)}: the included files exceed ${files > MAX_INCLUDED_FILES ? `${MAX_INCLUDED_FILES} files` : `${MAX_CONFIG_BYTES >> 20} MiB`}`,
        );
      stack.push({ id, path: m.path });
      try {
        out.push(...parseKeepalived(text, { file: m.path, include: resolve }));
      } finally {
        stack.pop();
      }
    }
    return out;
  };
  return resolve;
}

function safeReal(fs: IncludeFs, path: string): string {
  try {
    return fs.realPath(path);
  } catch {
    return path;
  }
}
