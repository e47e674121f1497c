// SPDX-License-Identifier: Apache-2.0
// pack.test.ts: `npm pack`, `npm install -g --prefix DIR`: xlvs and xlvsadm run from anywhere with their objects, addon and man pages (root).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { requirePrivileges } from '../lib/privileged';

const repo = path.join(__dirname, '..', '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-pack-'));
const prefix = path.join(dir, 'prefix');
const elsewhere = path.join(dir, 'elsewhere');
const pkgDir = path.join(prefix, 'lib', 'node_modules', 'xlvs');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd = elsewhere) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` } });

let files: string[] = [];

before(() => {
  requirePrivileges('the npm pack/install test');
  fs.mkdirSync(elsewhere);
  // The build already ran (tests run from dist/); --ignore-scripts skips prepack's rebuild.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], repo)) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = packed[0]!.files.map((f) => f.path);
  // Dependencies come from the npm cache where it has them (npm ci filled it), else from the registry.
  run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--allow-scripts=xlvs', path.join(dir, packed[0]!.filename)]);
});

test('the tarball holds the CLI, prebuilt objects, addon sources and man pages, and no tests or lab', () => {
  for (const f of ['bin/xlvs', 'bin/xlvsadm', 'build/bpf/xlvs.o', 'build/bpf/probe.o', 'binding.gyp', 'native/addon.cc', 'scripts/install.js'])
    assert.ok(files.includes(f), `${f} not packed`);
  for (const f of ['man/xlvs.8', 'man/xlvsadm.8', 'dist/src/cli/main.js', 'dist/src/cli/commands/completion.js', 'README.md', 'LICENSE'])
    assert.ok(files.includes(f), `${f} not packed`);
  const stray = files.filter((f) => /^(test|dist\/test|dist\/bench|dist\/src\/lab|bench|src)\//.test(f) || f.endsWith('.map'));
  assert.deepEqual(stray, []);
});

test('the installed package built its addon and kept the prebuilt objects', () => {
  assert.ok(fs.statSync(path.join(pkgDir, 'build', 'Release', 'xlvs_native.node')).size > 0);
  assert.deepEqual(fs.readdirSync(path.join(pkgDir, 'build', 'bpf')).sort(), ['probe.o', 'xlvs.o']);
});

test('xlvs and xlvsadm run from another directory', () => {
  const version = (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(run(path.join(prefix, 'bin', 'xlvs'), ['--version']).trim(), version);
  const kernel = JSON.parse(run(path.join(prefix, 'bin', 'xlvs'), ['kernel', '--json'])) as { ok: boolean; verifier: { programs?: { object: string }[] } };
  assert.equal(kernel.ok, true);
  assert.ok(
    kernel.verifier.programs!.some((p) => p.object === 'xlvs.o'),
    'xlvs.o not loaded from the install',
  );
  assert.match(run(path.join(prefix, 'bin', 'xlvsadm'), ['-h']), /^Usage:$/m);
  assert.match(run(path.join(prefix, 'bin', 'xlvs'), ['completion', 'bash']), /complete -F _xlvs xlvs/);
});

test('the man pages render and npm linked them under the prefix', () => {
  for (const page of ['xlvs', 'xlvsadm']) {
    const linked = path.join(prefix, 'share', 'man', 'man8', `${page}.8`);
    assert.ok(fs.existsSync(linked), `${linked} missing`);
    const text = execFileSync('man', ['-l', linked], { encoding: 'utf8', env: { ...process.env, MANPAGER: 'cat', MANWIDTH: '100' } });
    assert.match(text, new RegExp(`^${page.toUpperCase()}\\(8\\)`, 'm'));
    assert.match(text, /OPTIONS/);
  }
});
