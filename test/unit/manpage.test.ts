// SPDX-License-Identifier: Apache-2.0
// manpage.test.ts: the man pages xlvs(8) and xlvsadm(8) cover every command and option and match what the build wrote to man/.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { roff, xlvsadmManPage, xlvsManPage } from '../../src/cli/manpage';
import { XLVSADM_COMMANDS, XLVSADM_OPTIONS } from '../../src/cli/xlvsadm-options';
import { IPVSADM_HELP, IPVSADM_OPTION_NAMES } from '../../src/core/ipvsadm-parse';

const root = path.join(__dirname, '..', '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

function walk(c: Command, p: string[], out: { name: string; c: Command }[]): void {
  const here = [...p, c.name()];
  out.push({ name: here.join(' '), c });
  for (const s of c.commands) walk(s, here, out);
}

test('xlvs.8 has a section per command path with each of its options and defaults', () => {
  const program = buildProgram();
  const page = xlvsManPage(program, version);
  const all: { name: string; c: Command }[] = [];
  walk(program, [], all);
  assert.ok(all.length > 25, `only ${all.length} commands`);
  for (const { name, c } of all.slice(1)) {
    const at = page.indexOf(`.SS "${roff(name)}"`);
    assert.ok(at >= 0, `no section for ${name}`);
    const next = page.indexOf('.SS ', at + 4);
    const section = page.slice(at, next < 0 ? undefined : next);
    // Hidden options (deprecated aliases) are left out of the page, as out of --help.
    for (const o of c.options.filter((x) => !x.hidden)) {
      assert.ok(section.includes(roff(o.flags)), `${name}: no ${o.flags}`);
      if (typeof o.defaultValue === 'string') assert.ok(section.includes(roff(JSON.stringify(o.defaultValue))), `${name} ${o.flags}: no default`);
    }
  }
  assert.ok(page.includes('.SS "xlvs real add"'));
  assert.ok(page.includes(roff('--scheduler <name>')));
});

test('xlvsadm.8 documents every option the ipvsadm parser accepts', () => {
  const documented = new Set([...XLVSADM_COMMANDS, ...XLVSADM_OPTIONS].flatMap((o) => o.names));
  for (const n of IPVSADM_OPTION_NAMES) assert.ok(documented.has(n), `${n} is parsed but not in XLVSADM_OPTIONS`);
  const page = xlvsadmManPage(IPVSADM_HELP, version);
  for (const n of documented) assert.ok(page.includes(roff(n)), `${n} missing from the page`);
  assert.match(page, /^\.TH XLVSADM 8 /m);
});

test('man/ holds what the definitions generate now (scripts/build.sh writes it)', () => {
  assert.equal(fs.readFileSync(path.join(root, 'man', 'xlvs.8'), 'utf8'), xlvsManPage(buildProgram(), version), 'man/xlvs.8 is stale: run scripts/build.sh');
  assert.equal(fs.readFileSync(path.join(root, 'man', 'xlvsadm.8'), 'utf8'), xlvsadmManPage(IPVSADM_HELP, version), 'man/xlvsadm.8 is stale');
});

test('roff escapes hyphens, backslashes and leading dots', () => {
  assert.equal(roff('--a\\b\n.x'), '\\-\\-a\\eb\n\\&.x');
});
