// SPDX-License-Identifier: Apache-2.0
// mutate.ts: random mutations of JSON-like documents and of YAML text from a seeded Rng, for the fuzz tests (pure: no I/O, no clock).

import type { Rng } from '../../src/core/rng';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Path = (string | number)[];

/** Every node's path, the root ([]) first. */
export function paths(v: unknown): Path[] {
  const out: Path[] = [];
  const walk = (x: unknown, p: Path): void => {
    out.push(p);
    if (Array.isArray(x)) x.forEach((e, i) => walk(e, [...p, i]));
    else if (x !== null && typeof x === 'object') for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...p, k]);
  };
  walk(v, []);
  return out;
}

export function getAt(v: unknown, p: Path): unknown {
  let x: any = v;
  for (const k of p) x = x?.[k];
  return x;
}

/** Sets the value at a non-root path in place. */
function setAt(v: unknown, p: Path, value: unknown): void {
  (getAt(v, p.slice(0, -1)) as any)[p[p.length - 1]!] = value;
}

/** Keys a document could plausibly (mis)spell, and ones that trip up object handling. */
const KEYS = [
  'extra',
  'wieght',
  'persistance',
  'Port',
  'vip ',
  '',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'services',
  'reals',
  'check',
  '0',
  'ké',
  '\u0000',
  'x'.repeat(300),
];

/** Numbers at and past every range the schema has, and ones JSON or YAML write oddly. */
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  -2.5,
  50,
  99,
  100,
  250,
  251,
  252,
  600,
  1023,
  1024,
  65535,
  65536,
  70000,
  86400,
  86401,
  2678401,
  3_600_001,
  2147483647,
  2147483648,
  4294967296,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_VALUE,
  1048573,
  1048576,
  67108865,
];

/** Strings that look like numbers, booleans, nulls, addresses, names, or nothing good. */
const STRINGS = [
  '',
  ' ',
  'NaN',
  'nan',
  '.nan',
  'Infinity',
  '-Infinity',
  '.inf',
  '-0',
  '0x10',
  '0o17',
  '1e3',
  ' 80',
  '80 ',
  '080',
  'true',
  'yes',
  'off',
  'null',
  '~',
  '10.0.0.1',
  '010.0.0.1',
  '10.0.0.256',
  '0.0.0.0',
  '255.255.255.255',
  '127.0.0.1',
  '224.0.0.1',
  '::1',
  'eth0',
  'eth0:1',
  'a/b',
  '.',
  '..',
  'aaaaaaaaaaaaaaaa',
  'mh',
  'wrr',
  'TCP',
  'udp',
  'sctp',
  '/',
  '(',
  '[a-',
  '255.255.0.255',
  '02:00:00:00:00:01',
  '01:00:5e:00:00:01',
  '00:00:00:00:00:00',
  'ff:ff:ff:ff:ff:ff',
  '127.0.0.1:9258',
  '10.0.0.1:0',
  'off',
  'é',
  '\u0000',
  '\ud800',
  '\u202e',
  'a\nb',
  '"',
  "'",
  '{',
  '[',
  '*x',
  '&x',
  '!!str',
  '%',
  '#',
  ': ',
  '- ',
];

/** A value of a kind a field was not written for. */
export function weirdValue(rng: Rng, depth = 0): Json {
  switch (rng.int(14)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
    case 3:
      return rng.pick(NUMBERS) * (rng.chance(0.2) ? -1 : 1);
    case 4:
      return rng.float() * 10 ** rng.int(12) - (rng.chance(0.3) ? 1e6 : 0);
    case 5:
    case 6:
      return rng.pick(STRINGS);
    case 7:
      return rng.pick(STRINGS) + rng.pick(STRINGS);
    case 8:
      return 'x'.repeat(rng.pick([64, 501, 4096, 20_000]));
    case 9:
      return depth > 3 ? [] : Array.from({ length: rng.int(4) }, () => weirdValue(rng, depth + 1));
    case 10:
      return depth > 3 ? {} : Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(KEYS), weirdValue(rng, depth + 1)]));
    case 11:
      return nested(rng.pick([10, 70, 200]), rng.chance(0.5));
    case 12:
      return Array.from({ length: rng.pick([20, 200]) }, (_, i) => i);
    default:
      return rng.pick<Json>([{}, [], [[]], [{}], { '': null }]);
  }
}

/** A value nested n levels deep (lists or mappings). */
export function nested(n: number, lists: boolean): Json {
  let v: Json = 1;
  for (let i = 0; i < n; i++) v = lists ? [v] : { a: v };
  return v;
}

/**
 * One structural mutation of a copy of doc: delete a key or element, add an unknown key, replace a value by one of
 * another type or range, duplicate a list element, swap two values, rename a key, replace the whole root. Returns the
 * copy and what was done (for the failure message).
 */
export function mutate(rng: Rng, doc: unknown): { doc: unknown; what: string } {
  const d = structuredClone(doc) as any;
  const all = paths(d);
  const p = rng.pick(all);
  const at = JSON.stringify(p).slice(0, 200);
  const v = getAt(d, p);
  const parent = p.length ? getAt(d, p.slice(0, -1)) : undefined;
  switch (rng.int(9)) {
    case 0: {
      if (!p.length) break;
      if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
      else delete (parent as any)[p[p.length - 1]!];
      return { doc: d, what: `delete ${at}` };
    }
    case 1: {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) break;
      const k = rng.pick(KEYS);
      const w = weirdValue(rng);
      Object.defineProperty(v, k, { value: w, enumerable: true, writable: true, configurable: true });
      return { doc: d, what: `add key ${JSON.stringify(k)} at ${at}` };
    }
    case 2:
    case 3:
    case 4: {
      if (!p.length) return { doc: weirdValue(rng), what: 'replace the root' };
      const w = weirdValue(rng);
      setAt(d, p, w);
      return { doc: d, what: `replace ${at} by ${JSON.stringify(w)?.slice(0, 80)}` };
    }
    case 5: {
      if (!Array.isArray(v) || !v.length) break;
      const i = rng.int(v.length);
      v.splice(rng.int(v.length + 1), 0, structuredClone(v[i]));
      return { doc: d, what: `duplicate ${at}[${i}]` };
    }
    case 6: {
      // Two values trade places (neither inside the other).
      const q = rng.pick(all);
      if (!p.length || !q.length || isPrefix(p, q) || isPrefix(q, p)) break;
      const a = getAt(d, p);
      const b = getAt(d, q);
      setAt(d, p, b);
      setAt(d, q, a);
      return { doc: d, what: `swap ${at} and ${JSON.stringify(q).slice(0, 200)}` };
    }
    case 7: {
      if (!p.length || Array.isArray(parent)) break;
      const k = p[p.length - 1] as string;
      const nk = rng.pick([k.toUpperCase(), `${k}_`, k.slice(1), rng.pick(KEYS)]);
      if (nk === k) break;
      const val = (parent as any)[k];
      delete (parent as any)[k];
      Object.defineProperty(parent, nk, { value: val, enumerable: true, writable: true, configurable: true });
      return { doc: d, what: `rename ${at} to ${JSON.stringify(nk)}` };
    }
    case 8: {
      if (!Array.isArray(v)) break;
      v.push(weirdValue(rng));
      return { doc: d, what: `append to ${at}` };
    }
  }
  return { doc: d, what: 'nothing' };
}

function isPrefix(a: Path, b: Path): boolean {
  return a.length <= b.length && a.every((k, i) => b[i] === k);
}

/** n mutations in a row; the description lists each. */
export function mutateN(rng: Rng, doc: unknown, n: number): { doc: unknown; what: string } {
  const whats: string[] = [];
  let d = doc;
  for (let i = 0; i < n; i++) {
    const m = mutate(rng, d);
    d = m.doc;
    whats.push(m.what);
  }
  return { doc: d, what: whats.join('; ') };
}

const BYTES = [
  '\u0000',
  '\t',
  '\r',
  '\n',
  ' ',
  ':',
  '-',
  '?',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&',
  '*',
  '!',
  '|',
  '>',
  "'",
  '"',
  '%',
  '@',
  '`',
  '#',
  '\ufeff',
  '\u00a0',
  '\u2028',
  '\ud83d',
  'é',
  '---\n',
  '...\n',
  '<<: ',
];

/** One textual mutation of YAML: truncation, inserted or deleted bytes, lines duplicated, swapped or re-indented, anchors and aliases, deep nesting. */
export function mutateText(rng: Rng, text: string): { text: string; what: string } {
  const lines = text.split('\n');
  const li = rng.int(lines.length);
  switch (rng.int(12)) {
    case 0: {
      const at = rng.int(text.length + 1);
      return { text: text.slice(0, at), what: `truncate at ${at}` };
    }
    case 1:
    case 2: {
      const at = rng.int(text.length + 1);
      const ins = Array.from({ length: 1 + rng.int(4) }, () => (rng.chance(0.7) ? rng.pick(BYTES) : String.fromCharCode(rng.int(0x3000)))).join('');
      return { text: text.slice(0, at) + ins + text.slice(at), what: `insert ${JSON.stringify(ins)} at ${at}` };
    }
    case 3: {
      const at = rng.int(text.length + 1);
      const n = 1 + rng.int(8);
      return { text: text.slice(0, at) + text.slice(at + n), what: `delete ${n} at ${at}` };
    }
    case 4: {
      lines.splice(li, 0, lines[li]!);
      return { text: lines.join('\n'), what: `duplicate line ${li}` };
    }
    case 5: {
      const lj = rng.int(lines.length);
      [lines[li], lines[lj]] = [lines[lj]!, lines[li]!];
      return { text: lines.join('\n'), what: `swap lines ${li} and ${lj}` };
    }
    case 6: {
      lines[li] = rng.chance(0.5) ? ` ${lines[li]}` : lines[li]!.replace(/^ {1,2}/, rng.chance(0.5) ? '' : '\t');
      return { text: lines.join('\n'), what: `re-indent line ${li}` };
    }
    case 7:
    case 8: {
      // An anchor on one "key: value" and an alias in place of a later value (or the same one: a cycle).
      const kv = lines.map((l, i) => [i, /^(\s*(?:- )?[\w-]+:\s)(.*)$/.exec(l)] as const).filter(([, m]) => m);
      if (!kv.length) break;
      const [i, m] = rng.pick(kv);
      const [j, n] = rng.pick(kv.filter(([k]) => k >= i));
      const name = `a${rng.int(3)}`;
      lines[i] = `${m![1]}&${name} ${m![2]}`;
      if (j === i && rng.chance(0.5)) lines[i] = `${m![1]}&${name} [*${name}]`;
      else if (j !== i) lines[j] = `${n![1]}*${rng.chance(0.9) ? name : 'nope'}`;
      return { text: lines.join('\n'), what: `anchor line ${i}, alias line ${j}` };
    }
    case 9: {
      // Past MAX_YAML_DEPTH (64) and far past the composer's stack (a few hundred levels); parsing costs ~10 us a level.
      const n = rng.pick([10, 60, 70, 500, 3000]);
      const flow = rng.chance(0.5);
      const deep = flow
        ? `${'['.repeat(n)}${']'.repeat(n)}`
        : Array.from({ length: Math.min(n, 500) }, (_, k) => `${' '.repeat(k + 2)}- `)
            .join('\n')
            .concat('1');
      const key = rng.pick(['extra', 'interface', 'services', 'timeouts']);
      return { text: `${text}\n${flow ? `${key}_deep: ${deep}` : `${key}_deep:\n${deep}`}\n`, what: `${n} deep ${flow ? 'flow' : 'block'}` };
    }
    case 10: {
      // An alias bomb, small enough to parse, big enough to expand.
      const bomb = [
        'bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]',
        ...Array.from({ length: rng.int(6) + 1 }, (_, k) => `bomb${k + 1}: &b${k + 1} [${Array(10).fill(`*b${k}`).join(', ')}]`),
      ];
      return { text: `${text}\n${bomb.join('\n')}\n`, what: 'alias bomb' };
    }
    case 11: {
      const tag = rng.pick(['!!str', '!!int', '!!float', '!!bool', '!!null', '!!binary', '!!set', '!!map', '!!seq', '!!timestamp', '!x', '!!omap']);
      const kv = lines.map((l, i) => [i, /^(\s*(?:- )?[\w-]+:\s)(.*)$/.exec(l)] as const).filter(([, m]) => m);
      if (!kv.length) break;
      const [i, m] = rng.pick(kv);
      lines[i] = `${m![1]}${tag} ${m![2]}`;
      return { text: lines.join('\n'), what: `tag ${tag} on line ${i}` };
    }
  }
  return { text, what: 'nothing' };
}
