// SPDX-License-Identifier: Apache-2.0
// neighbours.test.ts: the neighbour-table rules of both families: canonical keys, multicast mappings left out, which NUD states forward and which are re-solicited.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isUnicastNeighbour, type NeighbourEntry, needsSolicit, neighbourKey, usableMac } from '../../src/core/neighbours';

const v6 = (state: string[], mac: string | null = '02:00:00:00:00:AA'): NeighbourEntry => ({ address: '2001:db8::11', mac, state });

describe('neighbours (ARP and NDP)', () => {
  test('keys are canonical text, so the kernel and the config meet whatever the spelling', () => {
    assert.equal(neighbourKey('2001:DB8:0:0::11'), '2001:db8::11');
    assert.equal(neighbourKey('2001:db8:0:0:0:0:0:11'), '2001:db8::11');
    assert.equal(neighbourKey('fe80:0::1'), 'fe80::1');
    assert.equal(neighbourKey('10.0.0.11'), '10.0.0.11');
    assert.equal(neighbourKey('not an address'), 'not an address', 'left as is: it matches nothing');
  });

  test('multicast mappings (NOARP ff02::16, 224.0.0.22) are no neighbour; unicast of both families is', () => {
    for (const a of ['ff02::16', 'ff02::1:ff00:11', '224.0.0.22', '239.1.1.1']) assert.equal(isUnicastNeighbour(a), false, a);
    for (const a of ['2001:db8::11', 'fe80::1', '10.0.0.11', '192.0.2.1']) assert.equal(isUnicastNeighbour(a), true, a);
    assert.equal(isUnicastNeighbour('nope'), false);
  });

  test('an IPv6 entry forwards in REACHABLE, STALE, DELAY and PROBE, never in FAILED, INCOMPLETE or NONE, nor without a MAC', () => {
    for (const s of ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT']) assert.equal(usableMac(v6([s])), '02:00:00:00:00:aa', s);
    for (const s of ['FAILED', 'INCOMPLETE', 'NONE']) assert.equal(usableMac(v6([s])), null, s);
    assert.equal(usableMac(v6(['REACHABLE'], null)), null);
    assert.equal(usableMac(undefined), null);
  });

  test('missing, STALE, FAILED and INCOMPLETE entries are solicited again (an NS for IPv6); REACHABLE, DELAY and PROBE are left to the kernel', () => {
    assert.equal(needsSolicit(undefined), true);
    for (const s of ['STALE', 'FAILED', 'INCOMPLETE', 'NONE']) assert.equal(needsSolicit(v6([s], s === 'STALE' ? '02:00:00:00:00:aa' : null)), true, s);
    for (const s of ['REACHABLE', 'DELAY', 'PROBE', 'PERMANENT']) assert.equal(needsSolicit(v6([s])), false, s);
  });

  test('a real that moved its MAC: the new entry (STALE after an override advertisement) forwards to the new MAC and is re-confirmed', () => {
    const before = v6(['REACHABLE'], '02:00:00:00:00:01');
    const after = v6(['STALE'], '02:00:00:00:00:02');
    assert.equal(usableMac(before), '02:00:00:00:00:01');
    assert.equal(usableMac(after), '02:00:00:00:00:02');
    assert.equal(needsSolicit(after), true);
  });
});
