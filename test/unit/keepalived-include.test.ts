// SPDX-License-Identifier: Apache-2.0
// keepalived-include.test.ts: keepalived.conf import following include and its variants: globs, paths relative to the including file, nesting, cycles, missing and unreadable files; and the CLI on a real directory.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/adapters/native';
import { unmappedLine } from '../../src/cli/commands/import';
import { parseConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { convertKeepalived } from '../../src/core/keepalived-services';
import { type FakeEntry, fakeFs } from '../lib/fakefs';

const vs = (vip: string, real: string) => `virtual_server ${vip} 80 {\n  lb_kind DR\n  protocol TCP\n  real_server ${real} 80 {\n  }\n}\n`;

function run(files: Record<string, FakeEntry>, main = 'etc/keepalived/keepalived.conf') {
  const f = fakeFs(files);
  const r = convertKeepalived(f.readFile(main), { file: main, fs: f, iface: 'eth0' });
  return { ...r, reads: f.reads.slice(1), lines: r.unmapped.map((u) => unmappedLine(main, u)) };
}

test('includes are read where they stand: glob order, relative to the including file, nested, inside a block', () => {
  const r = run({
    'etc/keepalived/keepalived.conf':
      'global_defs {\n  router_id A\n}\n' + // 1-3
      'include conf.d/*.conf\n' + // 4
      'virtual_server 10.0.0.1 80 {\n  lb_kind DR\n  protocol TCP\n' + // 5-7
      '  include reals/web.inc # a comment\n' + // 8
      '}\n',
    'etc/keepalived/conf.d/20-b.conf': `${vs('10.0.0.3', '10.1.0.3')}include ../more/{x,y}.conf\n`,
    'etc/keepalived/conf.d/10-a.conf': vs('10.0.0.2', '10.1.0.2'),
    'etc/keepalived/conf.d/notes.txt': vs('10.0.0.99', '10.1.0.99'),
    'etc/keepalived/more/y.conf': vs('10.0.0.5', '10.1.0.5'),
    'etc/keepalived/more/x.conf': vs('10.0.0.4', '10.1.0.4'),
    'etc/keepalived/reals/web.inc': 'real_server 10.1.0.1 80 {\n  weight 3\n  bogus_keyword\n}\nreal_server 10.1.0.11 80 {\n}\n',
  });
  assert.deepEqual(
    r.config.services.map((s) => [s.vip, s.reals.map((x) => `${x.address}/${x.weight}`).join(' ')]),
    [
      ['10.0.0.2', '10.1.0.2/1'],
      ['10.0.0.3', '10.1.0.3/1'],
      ['10.0.0.4', '10.1.0.4/1'],
      ['10.0.0.5', '10.1.0.5/1'],
      ['10.0.0.1', '10.1.0.1/3 10.1.0.11/1'],
    ],
    "the conf.d files sorted, 20-b.conf's include of ../more resolved against conf.d, {x,y} in brace order",
  );
  assert.deepEqual(r.reads, [
    'etc/keepalived/conf.d/10-a.conf',
    'etc/keepalived/conf.d/20-b.conf',
    'etc/keepalived/conf.d/../more/x.conf',
    'etc/keepalived/conf.d/../more/y.conf',
    'etc/keepalived/reals/web.inc',
  ]);
  // A statement of an included file is named by that file and its own line.
  assert.ok(r.lines.includes('etc/keepalived/reals/web.inc:3: dropped: bogus_keyword: bogus_keyword is not something xlvs does'), r.lines.join('\n'));
  assert.equal(r.summary.services, 5);
});

test('nothing matching, an unreadable file and an include cycle are dropped with file:line; an executable file is skipped as keepalived does', () => {
  const r = run({
    'etc/keepalived/keepalived.conf':
      'include /etc/keepalived/services/*.conf\n' + // 1: absolute, nothing there
      'includer missing.conf\n' + // 2
      'include sub/*.conf\n' + // 3
      vs('10.0.0.1', '10.1.0.1'),
    'etc/keepalived/sub/a.conf': `${vs('10.0.0.2', '10.1.0.2')}include ../keepalived.conf\n`, // 7: back to the main file
    'etc/keepalived/sub/b.conf': { unreadable: true },
    'etc/keepalived/sub/c.conf': { exec: vs('10.0.0.3', '10.1.0.3') },
    'etc/keepalived/sub/d.conf': 'include d.conf\n',
  });
  assert.deepEqual(
    r.config.services.map((s) => s.vip),
    ['10.0.0.2', '10.0.0.1'],
  );
  const main = 'etc/keepalived/keepalived.conf';
  const want = [
    `${main}:1: dropped: include /etc/keepalived/services/*.conf: nothing matches /etc/keepalived/services/*.conf: keepalived logs that and goes on;`,
    `${main}:2: dropped: includer missing.conf: nothing matches missing.conf (etc/keepalived/missing.conf): keepalived logs that and goes on (with includer keepalived also reports a config error);`,
    `${main}:3: dropped: include sub/*.conf: etc/keepalived/sub/b.conf: cannot read: EACCES`,
    `${main}:3: ignored: include sub/*.conf: etc/keepalived/sub/c.conf is not a regular non-executable file: keepalived skips it too`,
    'etc/keepalived/sub/a.conf:7: dropped: include ../keepalived.conf: etc/keepalived/sub/../keepalived.conf includes itself (etc/keepalived/keepalived.conf -> etc/keepalived/sub/a.conf -> etc/keepalived/sub/../keepalived.conf)',
    'etc/keepalived/sub/d.conf:1: dropped: include d.conf: etc/keepalived/sub/d.conf includes itself (etc/keepalived/sub/d.conf -> etc/keepalived/sub/d.conf)',
  ];
  assert.equal(r.lines.length, want.length, r.lines.join('\n'));
  want.forEach((w, i) => assert.ok(r.lines[i]!.startsWith(w), `${r.lines[i]}\nshould start with\n${w}`));
  assert.deepEqual([r.summary.dropped, r.summary.ignored, r.summary.droppedServices], [5, 1, 0]);
});

test('an include line is two words (a quoted name may hold spaces); the same file may be included twice; errors in it name it', () => {
  const r = run({
    'etc/keepalived/keepalived.conf':
      'virtual_server 10.0.0.1 80 {\n  lb_kind DR\n  protocol TCP\n  include "common reals.inc"\n}\n' +
      'virtual_server 10.0.0.2 80 {\n  lb_kind DR\n  protocol TCP\n  include "common reals.inc"\n}\n',
    'etc/keepalived/common reals.inc': 'real_server 10.1.0.1 80 {\n}\nreal_server 10.1.0.2 80 {\n}\n',
  });
  assert.deepEqual(
    r.config.services.map((s) => [s.vip, s.reals.map((x) => x.address)]),
    [
      ['10.0.0.1', ['10.1.0.1', '10.1.0.2']],
      ['10.0.0.2', ['10.1.0.1', '10.1.0.2']],
    ],
  );
  assert.throws(
    () => run({ 'etc/keepalived/keepalived.conf': 'include bad.conf\n', 'etc/keepalived/bad.conf': 'virtual_server 10.0.0.1 80 {\n  lb_kind DR\n' }),
    (e: unknown) => e instanceof UsageError && e.message === 'etc/keepalived/bad.conf:1: "{" is never closed',
  );
  // Three words is not an include: the statement is listed like any unknown one.
  const three = run({ 'etc/keepalived/keepalived.conf': `include a.conf b.conf\n${vs('10.0.0.1', '10.1.0.1')}` });
  assert.ok(three.lines[0]!.startsWith('etc/keepalived/keepalived.conf:1: ignored: include a.conf b.conf: '), three.lines.join('\n'));
});

test('xlvs import keepalived: an include in a directory and a virtual_server group give the services; a dropped member exits 2 unless --allow-partial', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-kainc-'));
  try {
    fs.mkdirSync(path.join(dir, 'conf.d'));
    fs.writeFileSync(
      path.join(dir, 'keepalived.conf'),
      'vrrp_instance VI_1 {\n  interface eth1\n}\n' + // 1-3
        'include conf.d/*.conf\n', // 4
    );
    fs.writeFileSync(
      path.join(dir, 'conf.d', 'groups.conf'),
      'virtual_server_group WEB {\n' + // 1
        '  10.0.0.10-11 80\n' + // 2
        '  10.0.0.20 443\n' + // 3
        '}\n' +
        'virtual_server group WEB {\n' + // 5
        '  lb_kind DR\n  protocol TCP\n  lb_algo rr\n' +
        '  real_server 10.1.0.1 80 {\n    weight 2\n  }\n' +
        '  real_server 10.1.0.2 80 {\n  }\n' +
        '}\n',
    );
    const xlvs = (...args: string[]) =>
      spawnSync(path.join(repoRoot(), 'bin', 'xlvs'), ['import', 'keepalived', ...args, 'keepalived.conf'], { cwd: dir, encoding: 'utf8' });
    const ok = xlvs();
    assert.equal(ok.status, 0, ok.stderr);
    const cfg = parseConfig(ok.stdout);
    assert.equal(cfg.interface, 'eth1');
    assert.deepEqual(
      cfg.services.map((s) => [s.vip, s.port, s.scheduler, s.reals.map((x) => `${x.address}/${x.weight}`).join(' ')]),
      [
        ['10.0.0.10', 80, 'rr', '10.1.0.1/2 10.1.0.2/1'],
        ['10.0.0.11', 80, 'rr', '10.1.0.1/2 10.1.0.2/1'],
        ['10.0.0.20', 443, 'rr', '10.1.0.1/2 10.1.0.2/1'],
      ],
    );
    assert.match(ok.stderr, /xlvs: imported 3 services \(0 approximated\), dropped 0 services and 0 statements/);
    // An fwmark member is a service xlvs cannot make: listed at its file and line, and the import refused.
    fs.appendFileSync(
      path.join(dir, 'conf.d', 'groups.conf'),
      'virtual_server_group MARKS {\n  fwmark 7\n  10.0.0.30 80\n}\nvirtual_server group MARKS {\n  lb_kind DR\n  protocol TCP\n}\n',
    );
    const refused = xlvs();
    assert.equal(refused.status, 2, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.ok(refused.stderr.includes('conf.d/groups.conf:16: dropped: fwmark 7: firewall-mark services are not in xlvs'), refused.stderr);
    assert.match(refused.stderr, /not printing the config: 1 service and 0 statements dropped/);
    const partial = xlvs('--allow-partial');
    assert.equal(partial.status, 0, partial.stderr);
    assert.deepEqual(
      parseConfig(partial.stdout).services.map((s) => s.vip),
      ['10.0.0.10', '10.0.0.11', '10.0.0.20', '10.0.0.30'],
    );
    assert.match(partial.stderr, /xlvs: imported 4 services \(0 approximated\), dropped 1 service and 0 statements/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
