// SPDX-License-Identifier: Apache-2.0
// ipvsadm.ts: the ipvsadm-syntax tests' helpers: a fixed /etc/services, a one-line parser, and a refusal checked for its message and exit code.

import assert from 'node:assert/strict';
import { IpvsadmError, parseIpvsadm } from '../../src/core/ipvsadm-parse';

export const lookup = (n: string, p: 'tcp' | 'udp') => (({ 'http/tcp': 80, 'domain/udp': 53 }) as Record<string, number>)[`${n}/${p}`];
export const parse = (s: string) => parseIpvsadm(s.split(' '), lookup);
export const refused = (s: string, re: RegExp, code: number) =>
  assert.throws(
    () => parse(s),
    (e: unknown) => {
      assert.ok(e instanceof IpvsadmError, String(e));
      assert.match(e.message, re);
      assert.equal(e.exitCode, code, `${s}: exit code`);
      return true;
    },
  );
