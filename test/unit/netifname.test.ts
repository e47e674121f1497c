// SPDX-License-Identifier: Apache-2.0
// netifname.test.ts: the interface-name rule (dev_valid_name) and every place that applies it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIfName } from '../../src/cli/options';
import { validateConfig } from '../../src/core/config';
import { UsageError } from '../../src/core/errors';
import { isIfName } from '../../src/core/net/ifname';

const GOOD = ['eth0', 'lo', 'enp3s0f1', 'br-lan.100', 'a', 'x'.repeat(15), 'wlan0@x', 'ä'.repeat(7)];
const BAD = ['', '.', '..', 'x'.repeat(16), 'eth 0', 'eth0/1', 'eth0:1', 'a\0b', 'tab\t', 'ä'.repeat(8)];

test('1..15 bytes without whitespace, "/", ":" or NUL, not "." or ".."', () => {
  for (const s of GOOD) assert.equal(isIfName(s), true, JSON.stringify(s));
  for (const s of BAD) assert.equal(isIfName(s), false, JSON.stringify(s));
});

test('the config, its sync section and the CLI flags apply the same rule', () => {
  for (const s of [...GOOD, ...BAD]) {
    const want = isIfName(s);
    let cfg = true;
    try {
      validateConfig({ interface: s, services: [] });
    } catch (e) {
      assert.ok(e instanceof UsageError);
      assert.match(e.details.join('\n'), /interface: .* is not an interface name/);
      cfg = false;
    }
    assert.equal(cfg, want, `config ${JSON.stringify(s)}`);
    let sync = true;
    try {
      validateConfig({ interface: 'eth0', sync: { master: { mcast_interface: s } }, services: [] });
    } catch (e) {
      assert.match((e as UsageError).details.join('\n'), /sync\.master\.mcast_interface: .* is not an interface name/);
      sync = false;
    }
    assert.equal(sync, want, `sync ${JSON.stringify(s)}`);
    let flag = true;
    try {
      parseIfName('--dev', s);
    } catch (e) {
      assert.match((e as Error).message, /^--dev .*: not an interface name$/);
      flag = false;
    }
    assert.equal(flag, want, `flag ${JSON.stringify(s)}`);
  }
});
