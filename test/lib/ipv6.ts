// SPDX-License-Identifier: Apache-2.0
// ipv6.ts: whether the config schema takes IPv6 services yet (issue 18's config half lands on another branch), for tests of what is printed and parsed around it.

import { validateConfig } from '../../src/core/config';

/** True once validateConfig takes an IPv6 VIP and real; before, a test checks what reaches the schema instead. */
export function schemaTakesIPv6(): boolean {
  try {
    validateConfig({ interface: 'eth0', services: [{ vip: '2001:db8::1', port: 80, reals: [{ address: '2001:db8::2' }] }] });
    return true;
  } catch {
    return false;
  }
}
