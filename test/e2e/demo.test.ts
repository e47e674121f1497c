// SPDX-License-Identifier: Apache-2.0
// demo.test.ts: `npm run demo -- --keep` leaves the lab and a daemon running, the commands it prints work on them, and `--cleanup` removes it all.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

const root = path.resolve(__dirname, '..', '..', '..');
const demo = path.join(root, 'dist', 'scripts', 'demo.js');
const PREFIX = `dm${process.pid % 100000}`;
const run = (args: string[], timeoutMs = 240_000) => spawnSync(process.execPath, [demo, ...args], { encoding: 'utf8', timeout: timeoutMs });
const netns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe('npm run demo -- --keep (namespace lab)', { timeout: 400_000 }, () => {
  after(() => {
    run(['--cleanup', PREFIX]);
  });

  test('the kept demo prints what to try; each command works; --cleanup removes the lab and its background run', () => {
    assert.equal(process.getuid?.(), 0, 'the e2e tests must run as root');
    const kept = run(['--keep', '--prefix', PREFIX]);
    assert.equal(kept.status, 0, `${kept.stdout}\n${kept.stderr}`);
    assert.match(kept.stdout, /demo OK/);
    assert.match(kept.stdout, new RegExp(`Remove it all: npm run demo -- --cleanup ${PREFIX}\\n`));
    // The parent returned; the lab and its daemon are still there.
    assert.match(netns(), new RegExp(`^${PREFIX}-dir\\b`, 'm'));
    const wrapper = /Try, as root \((\S+) runs a command/.exec(kept.stdout)?.[1];
    assert.ok(wrapper, kept.stdout);
    const inDir = (argv: string[]) => execFileSync(wrapper, argv, { encoding: 'utf8', timeout: 30_000 });
    assert.match(inDir(['xlvsadm', '-Ln']), /TCP {2}10\.0\.0\.100:80 mh[\s\S]*-> 10\.0\.0\.11:80 +Route +3 /);
    assert.match(inDir(['xlvs', 'list', '--stats']), /MAC\s+Health\s+Weight/);
    assert.match(inDir(['xlvs', 'trace', '--interface', 'eth0', '--vip', '10.0.0.100:80', '--client', '203.0.113.10:40000']), /real 10\.0\.0\.1\d/);
    assert.match(inDir(['curl', '-sS', 'http://127.0.0.1:9258/metrics']), /^xlvs_connections_total\{vip="10\.0\.0\.100",port="80"/m);
    const reply = execFileSync('ip', ['netns', 'exec', `${PREFIX}-client`, 'curl', '-sS', '-m', '5', 'http://10.0.0.100/'], { encoding: 'utf8' });
    assert.match(reply, /^rs[123]/);
    inDir(['xlvs', 'real', 'edit', '--vip', '10.0.0.100', '--port', '80', '--address', '10.0.0.13', '--weight', '6']);
    assert.match(inDir(['xlvsadm', '-Ln']), /-> 10\.0\.0\.13:80 +Route +6 /);

    const gone = run(['--cleanup', PREFIX], 90_000);
    assert.equal(gone.status, 0, gone.stderr);
    assert.match(gone.stdout, /the kept demo \(pid \d+\) tore its lab down/);
    assert.doesNotMatch(netns(), new RegExp(`^${PREFIX}-`, 'm'));
  });
});
