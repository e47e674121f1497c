// SPDX-License-Identifier: Apache-2.0
// config-issues.ts: schema problems as one line each, "path: value message", with the value quoted short and safely.

import type { z } from 'zod';

export type Issue = z.core.$ZodIssue;

function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(top level)';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: any = input;
  for (const p of path) v = v == null ? undefined : v[p as any];
  return v;
}

const TYPE_NAMES: Record<string, string> = { number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping', array: 'a list' };

/**
 * A value as a problem quotes it: short, since it may be a whole subtree or a megabyte-long string. Written here,
 * at most QUOTED characters deep, rather than by JSON.stringify, which throws on a cycle (YAML's `&a [*a]`) and
 * overflows the stack on 100,000 nested lists (a 200 KB request body): either made a bad body an internal error.
 */
function quote(v: unknown): string {
  let s = '';
  const put = (x: unknown): void => {
    if (s.length > QUOTED) return;
    if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function') x = (x as { toJSON(): unknown }).toJSON();
    if (typeof x === 'string') s += JSON.stringify(x.length > QUOTED ? x.slice(0, QUOTED + 1) : x);
    else if (typeof x === 'number')
      s += Number.isFinite(x) ? JSON.stringify(x) : String(x); // YAML's .nan and .inf
    else if (Array.isArray(x)) {
      s += '[';
      for (let i = 0; i < x.length && s.length <= QUOTED; i++) {
        if (i) s += ',';
        put(x[i] === undefined ? null : x[i]);
      }
      s += ']';
    } else if (x !== null && typeof x === 'object') {
      s += '{';
      let first = true;
      for (const k in x) {
        const e = (x as Record<string, unknown>)[k];
        if (!Object.hasOwn(x, k) || e === undefined) continue;
        if (s.length > QUOTED) break;
        s += `${first ? '' : ','}${JSON.stringify(k.length > QUOTED ? k.slice(0, QUOTED + 1) : k)}:`;
        first = false;
        put(e);
      }
      s += '}';
    } else s += JSON.stringify(x) ?? String(x);
  };
  put(v);
  return s.length > QUOTED ? `${s.slice(0, QUOTED)}…` : s;
}
const QUOTED = 60;

/**
 * One line per zod issue, "path: value message", the path from the root of `input` (also the shape of the API's
 * errors, src/core/apibody.ts).
 */
export function issueProblems(input: unknown, issues: readonly Issue[]): string[] {
  const problems: string[] = [];
  for (const issue of issues) {
    const where = pathString(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) problems.push(`${where === '(top level)' ? k : `${where}.${k}`}: unknown key`);
      continue;
    }
    const v = valueAt(input, issue.path);
    if (v === undefined) {
      problems.push(`${where}: is required`);
      continue;
    }
    // zod's own wording ("Invalid input: expected number, received string") reads oddly after the value; ours stays.
    const msg =
      issue.code === 'invalid_type' && issue.message.startsWith('Invalid input') ? `is not ${TYPE_NAMES[issue.expected] ?? issue.expected}` : issue.message;
    problems.push(`${where}: ${quote(v)} ${msg}`);
  }
  return problems;
}
