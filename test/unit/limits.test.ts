// SPDX-License-Identifier: Apache-2.0
// limits.test.ts: unbounded inputs refused with a clear usage error: config file size (before it is read), YAML aliases, the length of an error, and the CLI paths that read files (apply -f, import keepalived).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { configFileText, readConfigFile, readTextFile } from '../../src/adapters/configfile';
import { repoRoot } from '../../src/adapters/native';
import { parseConfig, validateConfig } from '../../src/core/config';
import { PROBLEMS_LISTED, UsageError } from '../../src/core/errors';
import { MAX_CONFIG_BYTES, MAX_YAML_ALIASES } from '../../src/core/limits';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-limits-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file of `size` bytes that takes no disk (and so shows whether the reader read it). */
function sparse(name: string, size: number): string {
  const f = path.join(dir, name);
  const fd = fs.openSync(f, 'w');
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
  return f;
}

/** A billion laughs: nine levels of nine aliases each. */
const BOMB = (() => {
  let y = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    y += `${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(', ')}]\n`;
  }
  return y;
})();

const xlvs = (...args: string[]) => spawnSync(path.join(repoRoot(), 'bin', 'xlvs'), args, { encoding: 'utf8' });

test('a config file over the limit is refused from its size, naming the file, the size and the limit', () => {
  const f = sparse('huge.yaml', MAX_CONFIG_BYTES + 1);
  const t0 = process.hrtime.bigint();
  assert.throws(
    () => readConfigFile(f),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, `--config ${JSON.stringify(f)}: ${MAX_CONFIG_BYTES + 1} bytes, more than the limit of ${MAX_CONFIG_BYTES} bytes (32 MiB)`);
      return true;
    },
  );
  // Not read: refusing it costs a stat (reading and parsing 32 MiB takes seconds).
  assert.ok(process.hrtime.bigint() - t0 < 200_000_000n);
  // At the limit it is read whole.
  assert.equal(readTextFile(sparse('edge', 1000), 1000, 'x').length, 1000);
});

test('a stream with no size (a pipe) is cut one byte past the limit', () => {
  const f = path.join(dir, 'fifo');
  spawnSync('mkfifo', [f]);
  // The writer sends more than the limit; the reader stops at limit + 1 and refuses.
  spawn('sh', ['-c', `head -c 5000 /dev/zero > ${f}`], { stdio: 'ignore' }).unref();
  assert.throws(() => readTextFile(f, 4096, 'fifo'), /^UsageError: fifo: more than the limit of 4096 bytes/);
});

test('YAML on stdin (xlvs restore) over the limit is refused by parseConfig too', () => {
  assert.throws(
    () => parseConfig(`interface: eth0\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`, 'stdin'),
    /^UsageError: stdin: \d+ bytes, more than the limit of 33554432 bytes \(32 MiB\)$/,
  );
});

test('the daemon does not write back a config a restart could not read', () => {
  assert.equal(configFileText('interface: eth0\n'), 'interface: eth0\n');
  assert.throws(
    () => configFileText('x'.repeat(MAX_CONFIG_BYTES + 1)),
    /would be 33554433 bytes as YAML, more than the limit .* a restart can read back; nothing was changed/,
  );
});

test('an alias bomb is a usage error, not a stack trace', () => {
  assert.throws(
    () => parseConfig(BOMB, 'bomb.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /^bomb\.yaml: YAML aliases expand to more than 50000 copies of an anchor \(an alias bomb\?\)$/);
      return true;
    },
  );
  // Too many aliases at all (each costs a scan of the document's anchors) is refused before any is resolved.
  const many = `interface: &i eth0\nservices: [${Array(MAX_YAML_ALIASES + 1)
    .fill('*i')
    .join(', ')}]\n`;
  assert.throws(() => parseConfig(many, 'many.yaml'), /^UsageError: many\.yaml: more than 50000 YAML aliases/);
});

test("a check anchor shared by a thousand services is fine (yaml's own default stopped at 100)", () => {
  let y = 'interface: eth0\nservices:\n  - { vip: 10.1.0.1, port: 1, check: &c { type: tcp, interval_ms: 2000 } }\n';
  for (let i = 2; i <= 1000; i++) y += `  - { vip: 10.1.${i >> 8}.${i & 255 || 1}, port: ${i}, check: *c }\n`;
  const c = parseConfig(y);
  assert.equal(c.services.length, 1000);
  assert.equal(c.services[999]!.check!.interval_ms, 2000);
});

test('an error lists the first problems and how many more, whatever the number of bad services', () => {
  const bad = Array.from({ length: 100 }, (_, i) => ({ vip: `10.0.${i}.300`, port: 80 }));
  assert.throws(
    () => validateConfig({ interface: 'eth0', services: bad }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.details.length, PROBLEMS_LISTED + 1);
      assert.equal(e.details[0], 'services[0].vip: "10.0.0.300" is not an IPv4 address');
      assert.equal(e.details[PROBLEMS_LISTED], '… and 80 more');
      return true;
    },
  );
  // 20,000 services: one problem (the count), not a per-service flood; a message of a few lines.
  const many = Array.from({ length: 20000 }, (_, i) => ({ vip: `10.${i >> 16}.${(i >> 8) & 255}.300`, port: 80 }));
  assert.throws(
    () => validateConfig({ interface: 'eth0', services: many }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.ok(e.message.length < 4000, `${e.message.length} characters`);
      assert.match(e.message, /services: .* has more than 16384 services/);
      return true;
    },
  );
  // A re-thrown error (the file's name put in front) keeps the true count.
  const yaml = `interface: eth0\nservices:\n${bad.map((s) => `  - { vip: ${s.vip}, port: 80 }\n`).join('')}`;
  assert.throws(
    () => parseConfig(yaml, 'f.yaml'),
    (e: unknown) => e instanceof UsageError && e.details[PROBLEMS_LISTED] === '… and 80 more',
  );
  // A long value is quoted short.
  assert.throws(
    () => validateConfig({ interface: 'eth0', services: [{ vip: 'x'.repeat(1 << 20), port: 80 }] }),
    (e: unknown) => e instanceof UsageError && e.message.length < 300,
  );
});

test('xlvs apply -f and xlvs import keepalived: an alias bomb or an oversize file exits 2 with the reason', () => {
  const bomb = path.join(dir, 'bomb.yaml');
  fs.writeFileSync(bomb, BOMB);
  const a = xlvs('apply', '-f', bomb, '--socket', path.join(dir, 'none.sock'));
  assert.equal(a.status, 2, a.stderr);
  assert.match(a.stderr, /^xlvs: .*bomb\.yaml: YAML aliases expand to more than 50000 copies/);
  assert.doesNotMatch(a.stderr, /\n\s+at /, 'no stack trace');
  const big = sparse('keepalived.conf', MAX_CONFIG_BYTES + 1);
  const k = xlvs('import', 'keepalived', big);
  assert.equal(k.status, 2, k.stderr);
  assert.equal(k.stderr, `xlvs: ${JSON.stringify(big)}: ${MAX_CONFIG_BYTES + 1} bytes, more than the limit of ${MAX_CONFIG_BYTES} bytes (32 MiB)\n`);
  assert.equal(k.stdout, '');
});
