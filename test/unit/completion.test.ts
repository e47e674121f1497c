// SPDX-License-Identifier: Apache-2.0
// completion.test.ts: the bash completion script of `xlvs completion bash`, run in bash with COMP_WORDS set.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { bashCompletion } from '../../src/cli/completion';
import { buildProgram } from '../../src/cli/main';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-completion-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const script = path.join(dir, 'xlvs.bash');
fs.writeFileSync(script, bashCompletion(buildProgram()));

/** What bash offers for the words (the last one is being completed), through the function `complete` registered. */
function complete(words: string[]): string[] {
  const fn = words[0] === 'xlvsadm' ? '_xlvsadm' : '_xlvs';
  const arr = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    ['--norc', '-c', `source '${script}'; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`],
    {
      encoding: 'utf8',
    },
  );
  return out.split('\n').filter(Boolean);
}

test('commands complete from their prefix', () => {
  assert.deepEqual(complete(['xlvs', 'rea']), ['real', 'realserver']);
  assert.deepEqual(complete(['xlvs', 'compl']), ['completion']);
});

test('a command with subcommands offers them', () => {
  const got = complete(['xlvs', 'real', '']);
  for (const s of ['add', 'edit', 'delete', 'drain']) assert.ok(got.includes(s), `${s} not in ${got.join(' ')}`);
  assert.deepEqual(complete(['xlvs', 'service', 'ed']), ['edit']);
});

test('options of the command path, past other options and their values', () => {
  const got = complete(['xlvs', 'service', 'add', '--scheduler', 'wrr', '--']);
  for (const o of ['--protocol', '--tcp-service', '--scheduler', '--socket']) assert.ok(got.includes(o), `${o} not in ${got.join(' ')}`);
  assert.deepEqual(complete(['xlvs', 'service', 'add', '--sched']), ['--scheduler', '--sched-flags']);
});

test('--scheduler completes scheduler names', () => {
  assert.deepEqual(complete(['xlvs', 'service', 'add', '--scheduler', 'w']), ['wrr', 'wlc']);
  assert.deepEqual(complete(['xlvsadm', '-A', '-t', '10.0.0.1:80', '-s', 'm']), ['mh']);
});

test('xlvsadm completes its options', () => {
  assert.deepEqual(complete(['xlvsadm', '--add-s']), ['--add-service', '--add-server']);
  assert.deepEqual(complete(['xlvsadm', '-b', 'sh']), ['sh-port', 'sh-fallback']);
});
