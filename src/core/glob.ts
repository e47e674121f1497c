// SPDX-License-Identifier: Apache-2.0
// glob.ts: glob(3) pattern matching as keepalived's include uses it (GLOB_BRACE): braces, then *, ? and [...] per path segment, over an injected file system.

/** What is at a path, symlinks followed: a file (`exec`: with an execute bit), a directory, something else, or nothing. */
export type PathKind = 'file' | 'exec' | 'dir' | 'other';

/** The file system a glob walks; the adapter reads the real one, unit tests pass a fake. */
export interface GlobFs {
  stat(path: string): PathKind | undefined;
  /** The names in a directory; [] when it cannot be read. */
  readDir(path: string): string[];
}

export interface GlobMatch {
  path: string;
  kind: PathKind;
}

/** Characters that make a segment a pattern; a backslash takes the next one literally. */
const MAGIC = /[*?[\\]/;

/** The pattern with every character glob or brace expansion reads escaped, for a directory name put in front of a pattern. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\{}]/g, '\\$&');
}

/**
 * csh-style brace expansion as glibc's GLOB_BRACE does it: the first unescaped `{a,b}` with a comma at its own
 * depth gives one pattern per alternative, in order, each expanded again; a brace without a comma is literal.
 */
export function braceExpand(pattern: string): string[] {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '\\') {
      i++;
      continue;
    }
    if (pattern[i] !== '{') continue;
    const alts: string[] = [];
    let depth = 0;
    let from = i + 1;
    let end = -1;
    for (let j = i + 1; j < pattern.length; j++) {
      const ch = pattern[j];
      if (ch === '\\') j++;
      else if (ch === '{') depth++;
      else if (ch === '}' && depth > 0) depth--;
      else if (ch === ',' && depth === 0) {
        alts.push(pattern.slice(from, j));
        from = j + 1;
      } else if (ch === '}') {
        end = j;
        break;
      }
    }
    if (end < 0) return [pattern];
    if (!alts.length) continue;
    alts.push(pattern.slice(from, end));
    const [head, tail] = [pattern.slice(0, i), pattern.slice(end + 1)];
    return alts.flatMap((a) => braceExpand(head + a + tail));
  }
  return [pattern];
}

/** A segment with its escapes removed (a segment with no pattern characters names one entry). */
function unescapeGlob(seg: string): string {
  return seg.replace(/\\(.)/g, '$1');
}

/**
 * One path segment's pattern as a matcher: `*` any run, `?` one character, `[abc]` `[a-z]` `[!x]` `[^x]` one of a
 * set, a backslash the next character literally. An unclosed `[` is a literal `[`. A leading `.` of a name is only
 * matched by a literal `.` (glob(3) without GLOB_PERIOD).
 */
export function segmentMatcher(seg: string): (name: string) => boolean {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i]!;
    if (ch === '\\' && i + 1 < seg.length) re += escapeRe(seg[++i]!);
    else if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const set = bracket(seg, i);
      if (set) {
        re += set.re;
        i = set.end;
      } else re += '\\[';
    } else re += escapeRe(ch);
  }
  const rx = new RegExp(`${re}$`, 's');
  const dotOk = seg.startsWith('.') || seg.startsWith('\\.');
  return (name) => (dotOk || !name.startsWith('.')) && rx.test(name);
}

function escapeRe(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A bracket expression from `[` at i: its regex and the index of its `]`; undefined when it is not closed. */
function bracket(seg: string, i: number): { re: string; end: number } | undefined {
  let j = i + 1;
  let neg = false;
  if (seg[j] === '!' || seg[j] === '^') {
    neg = true;
    j++;
  }
  let body = '';
  // A `]` first in the set is a member, not its end.
  for (let first = true; j < seg.length; j++, first = false) {
    const ch = seg[j]!;
    if (ch === ']' && !first) return { re: `[${neg ? '^' : ''}${body}]`, end: j };
    if (ch === '\\' && j + 1 < seg.length) body += escapeRe(seg[++j]!);
    else if (ch === '-' && !first && seg[j + 1] !== ']' && j + 1 < seg.length) body += '-';
    else body += escapeRe(ch);
  }
  return undefined;
}

/**
 * The paths a pattern matches, as glob(3) with GLOB_BRACE returns them: each brace alternative's matches sorted
 * (byte order, the C locale's), the alternatives in the order written. A segment without pattern characters is
 * taken as written; `.` segments are dropped from the paths returned (they name the same directory).
 */
export function glob(pattern: string, fs: GlobFs): GlobMatch[] {
  const out: GlobMatch[] = [];
  for (const alt of braceExpand(pattern)) {
    const abs = alt.startsWith('/');
    const segs = alt.split('/').filter((s, _i, all) => s !== '' && (s !== '.' || all.length === 1));
    let paths = [abs ? '/' : ''];
    for (const [k, seg] of segs.entries()) {
      const last = k === segs.length - 1;
      const next: string[] = [];
      for (const dir of paths) {
        const join = (name: string) => (dir === '' ? name : dir.endsWith('/') ? dir + name : `${dir}/${name}`);
        if (!MAGIC.test(seg)) next.push(join(unescapeGlob(seg)));
        else {
          const match = segmentMatcher(seg);
          for (const name of fs.readDir(dir === '' ? '.' : dir)) if (match(name)) next.push(join(name));
        }
      }
      // Directories all the way down: only the last segment may name something else.
      paths = last ? next : next.filter((p) => fs.stat(p) === 'dir');
    }
    const found: GlobMatch[] = [];
    for (const p of paths) {
      const kind = p === '' ? undefined : fs.stat(p);
      if (kind) found.push({ path: p, kind });
    }
    found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    out.push(...found);
  }
  return out;
}
