// SPDX-License-Identifier: Apache-2.0
// glob.test.ts: glob(3) with GLOB_BRACE as keepalived's include uses it: braces, *, ?, [...] per segment, sorted matches, over a fake file system.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { braceExpand, escapeGlob, glob, segmentMatcher } from '../../src/core/glob';
import { fakeFs } from '../lib/fakefs';

test('brace expansion: alternatives in order, nested, empty alternatives, escaped and comma-less braces literal', () => {
  assert.deepEqual(braceExpand('a{b,c}d'), ['abd', 'acd']);
  assert.deepEqual(braceExpand('{foo/{,cat,dog},bar}'), ['foo/', 'foo/cat', 'foo/dog', 'bar']);
  assert.deepEqual(braceExpand('{z,a}{1,2}'), ['z1', 'z2', 'a1', 'a2']);
  assert.deepEqual(braceExpand('x{a}y'), ['x{a}y']);
  assert.deepEqual(braceExpand('x\\{a,b}y'), ['x\\{a,b}y']);
  assert.deepEqual(braceExpand('open{a,b'), ['open{a,b']);
  assert.deepEqual(braceExpand(`${escapeGlob('d{1,2}')}/{a,b}`), ['d\\{1,2\\}/a', 'd\\{1,2\\}/b']);
});

test('segment patterns: * ? [set] [range] [!neg] [^neg] escapes, and a leading dot only by a literal dot', () => {
  const m = (p: string, name: string) => segmentMatcher(p)(name);
  assert.ok(m('*.conf', 'web.conf'));
  assert.ok(!m('*.conf', 'web.conf.bak'));
  assert.ok(!m('*.conf', '.hidden.conf'), 'glob(3) without GLOB_PERIOD');
  assert.ok(m('.*.conf', '.hidden.conf'));
  assert.ok(m('vs?.conf', 'vs1.conf'));
  assert.ok(!m('vs?.conf', 'vs12.conf'));
  assert.ok(m('vs[0-9].conf', 'vs7.conf'));
  assert.ok(!m('vs[0-9].conf', 'vsa.conf'));
  assert.ok(m('vs[!0-9].conf', 'vsa.conf'));
  assert.ok(m('vs[^0-9].conf', 'vsa.conf'));
  assert.ok(!m('vs[!0-9].conf', 'vs1.conf'));
  assert.ok(m('[]x]', ']'), 'a ] first in a set is a member');
  assert.ok(m('[a-]', '-'));
  assert.ok(m('a\\*b', 'a*b'));
  assert.ok(!m('a\\*b', 'axb'));
  assert.ok(m('a[b', 'a[b'), 'an unclosed [ is literal');
  assert.ok(m('a.b(c)+', 'a.b(c)+'), 'regex characters are literal');
  assert.ok(!m('a.b', 'axb'));
});

test('glob over a file system: sorted per alternative, directories walked, literal segments as written, nothing for no match', () => {
  const fs = fakeFs({
    'etc/ka/keepalived.conf': '',
    'etc/ka/conf.d/b.conf': '',
    'etc/ka/conf.d/a.conf': '',
    'etc/ka/conf.d/c.conf.bak': '',
    'etc/ka/conf.d/.hidden.conf': '',
    'etc/ka/conf.d/sub/d.conf': '',
    'etc/ka/site1/vs.conf': '',
    'etc/ka/site2/vs.conf': '',
    'etc/ka/site2/x.sh': { exec: '' },
    '/abs/one.conf': '',
  });
  const paths = (p: string) => glob(p, fs).map((m) => `${m.path} ${m.kind}`);
  assert.deepEqual(paths('etc/ka/conf.d/*.conf'), ['etc/ka/conf.d/a.conf file', 'etc/ka/conf.d/b.conf file']);
  assert.deepEqual(paths('etc/ka/conf.d/*'), [
    'etc/ka/conf.d/a.conf file',
    'etc/ka/conf.d/b.conf file',
    'etc/ka/conf.d/c.conf.bak file',
    'etc/ka/conf.d/sub dir',
  ]);
  assert.deepEqual(paths('etc/ka/site*/vs.conf'), ['etc/ka/site1/vs.conf file', 'etc/ka/site2/vs.conf file']);
  assert.deepEqual(paths('etc/ka/site2/*'), ['etc/ka/site2/vs.conf file', 'etc/ka/site2/x.sh exec']);
  assert.deepEqual(paths('etc/ka/conf.d/{b,a}.conf'), ['etc/ka/conf.d/b.conf file', 'etc/ka/conf.d/a.conf file'], 'alternatives keep their order');
  assert.deepEqual(paths('etc/ka/./conf.d//a.conf'), ['etc/ka/conf.d/a.conf file'], '. and empty segments name the same directory');
  assert.deepEqual(paths('/abs/*.conf'), ['/abs/one.conf file']);
  assert.deepEqual(paths('etc/ka/none/*.conf'), []);
  assert.deepEqual(paths('etc/ka/missing.conf'), []);
  assert.deepEqual(paths('etc/ka/keepalived.conf/*'), [], 'a file is not walked into');
});
