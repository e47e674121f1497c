// SPDX-License-Identifier: Apache-2.0
// keepalived-parse.ts: keepalived.conf's syntax: statements and blocks with their line numbers, and the value forms keywords take (booleans, script lines, hex bytes).

import { UsageError } from './errors';

export interface KaNode {
  /** The included file the statement is in (as messages name it); undefined in the imported file itself. */
  file?: string;
  key: string;
  args: string[];
  line: number;
  /** Last line of the block (the closing brace); equal to line for a plain statement. */
  endLine: number;
  children?: KaNode[];
}

interface Token {
  t: string;
  line: number;
  /** An include line's pattern: keepalived reads `include FILE` (and its variants) as a whole line, braces and all. */
  include?: string;
}

/** keepalived's include keyword and its variants, which add checks on missing or unreadable files (includer, includem, ...). */
export const INCLUDE_KEYWORDS: ReadonlySet<string> = new Set(['include', 'includer', 'includem', 'includew', 'includeb', 'includea']);

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    let s = raw;
    // keepalived comments start with # or ! anywhere outside a quoted string.
    let inQuote = false;
    for (let j = 0; j < s.length; j++) {
      if (s[j] === '"') inQuote = !inQuote;
      else if (!inQuote && (s[j] === '#' || s[j] === '!')) {
        s = s.slice(0, j);
        break;
      }
    }
    // An include is a line of exactly two words (a quoted one may hold spaces), found before braces mean anything.
    const inc = /^\s*(\S+)\s+(?:"([^"]*)"|([^\s"]+))\s*$/.exec(s);
    if (inc && INCLUDE_KEYWORDS.has(inc[1]!)) {
      out.push({ t: inc[1]!, line, include: inc[2] ?? inc[3]! });
      return;
    }
    const re = /"([^"]*)"|([{}])|([^\s{}"]+)/g;
    for (let m = re.exec(s); m; m = re.exec(s)) out.push({ t: m[1] ?? m[2] ?? m[3]!, line });
  });
  return out;
}

export interface ParseOptions {
  /** The file the text is from, when it is an included one: set on every statement, and named by errors. */
  file?: string;
  /** Replaces an include statement by the statements of the files it names (a statement of their own file each). */
  include?: (n: KaNode) => KaNode[];
}

/**
 * The block structure of a keepalived.conf: one node per statement (a line's words), braces opening children. An
 * include line is replaced where it stands, at any depth, by what `opts.include` returns for it.
 */
export function parseKeepalived(text: string, opts: ParseOptions = {}): KaNode[] {
  const toks = tokenize(text);
  const where = (line: number) => (opts.file !== undefined ? `${opts.file}:${line}` : `line ${line}`);
  const inFile = opts.file !== undefined ? { file: opts.file } : {};
  let i = 0;
  const block = (depth: number, openLine: number): KaNode[] => {
    const nodes: KaNode[] = [];
    while (i < toks.length) {
      const tok = toks[i]!;
      if (tok.include !== undefined) {
        i++;
        const n: KaNode = { ...inFile, key: tok.t, args: [tok.include], line: tok.line, endLine: tok.line };
        nodes.push(...(opts.include ? opts.include(n) : [n]));
        continue;
      }
      if (tok.t === '}') {
        if (depth === 0) throw new UsageError(`${where(tok.line)}: "}" without a matching "{"`);
        i++;
        return nodes;
      }
      if (tok.t === '{') {
        // A brace on its own line opens the previous statement's block.
        const prev = nodes[nodes.length - 1];
        if (!prev || prev.children) throw new UsageError(`${where(tok.line)}: "{" without a statement`);
        i++;
        prev.children = block(depth + 1, tok.line);
        prev.endLine = toks[i - 1]!.line;
        continue;
      }
      const line = tok.line;
      const words: string[] = [];
      while (i < toks.length && toks[i]!.line === line && toks[i]!.t !== '{' && toks[i]!.t !== '}') words.push(toks[i++]!.t);
      const node: KaNode = { ...inFile, key: words[0]!, args: words.slice(1), line, endLine: line };
      if (i < toks.length && toks[i]!.t === '{' && toks[i]!.line === line) {
        i++;
        node.children = block(depth + 1, line);
        node.endLine = toks[i - 1]!.line;
      }
      nodes.push(node);
    }
    if (depth > 0) throw new UsageError(`${where(openLine)}: "{" is never closed`);
    return nodes;
  };
  return block(0, 0);
}

/** A statement as written ("lb_kind NAT"), as the unmapped list names it. */
export function describe(n: KaNode): string {
  return [n.key, ...n.args].join(' ');
}

/** keepalived's <BOOL>: no value is true; undefined for a word it does not take. */
export function kaBool(n: KaNode): boolean | undefined {
  const v = n.args[0]?.toLowerCase();
  if (v === undefined || v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  return undefined;
}

/**
 * A script's argv as keepalived 2.x builds it: words split at unquoted whitespace, quotes keep spaces, backslash
 * escapes. keepalived then execve()s the words itself, without a shell, as xlvs does.
 */
export function scriptWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      const e = s[++i]!;
      cur += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
      inWord = true;
    } else if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      [cur, inWord] = ['', false];
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Shell syntax in a script line, which keepalived 1.x (system(), so /bin/sh -c) interpreted and 2.x passes on as text. */
export function shellNote(raw: string): string | undefined {
  const chars = [...new Set(raw.replace(/'[^']*'/g, '').match(/[|&;<>()$`*?~]/g) ?? [])];
  if (!chars.length) return undefined;
  return `it holds shell syntax (${chars.join(' ')}): keepalived 2.x runs it without a shell, as xlvs does, so these reach the program as plain characters (keepalived 1.x ran it with /bin/sh -c; if it relies on that, write argv: [/bin/sh, -c, "..."])`;
}

/** keepalived's free-form hex (UDP_CHECK payload, require_reply): "Ab12f 3" is AB 12 0F 03; an x nibble matches anything. */
export function hexBytes(words: string[]): { bytes: number[]; wildcard: boolean } | undefined {
  const bytes: number[] = [];
  let wildcard = false;
  for (const w of words) {
    for (let i = 0; i < w.length; i += 2) {
      const pair = w.slice(i, i + 2);
      if (!/^[0-9a-fA-FxX]{1,2}$/.test(pair)) return undefined;
      if (/[xX]/.test(pair)) wildcard = true;
      bytes.push(parseInt(pair.replace(/[xX]/g, '0'), 16));
    }
  }
  return bytes.length ? { bytes, wildcard } : undefined;
}

/** The bytes as text, when they are UTF-8 that reads back the same (xlvs's payload and expect are text). */
export function asText(bytes: number[]): string | undefined {
  const b = Buffer.from(bytes);
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : undefined;
}
