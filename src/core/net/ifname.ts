// SPDX-License-Identifier: Apache-2.0
// ifname.ts: the interface-name rule (the kernel's dev_valid_name), one for the config, the sync section and every CLI flag.

/** The longest name the kernel takes: IFNAMSIZ (16) less the terminating NUL. */
export const IFNAME_MAX = 15;

/**
 * As the kernel's dev_valid_name(): 1..15 bytes, no whitespace, '/' or ':' (which name paths and aliases), no NUL
 * (which would end the name early), and not "." or "..". Bytes, not characters: a name is a C string to the kernel.
 */
export function isIfName(s: string): boolean {
  if (s === '' || s === '.' || s === '..') return false;
  if (Buffer.byteLength(s) > IFNAME_MAX) return false;
  return !/[\s/:\0]/.test(s);
}

/** The words a refusal says after the value: "eth0/1" is not an interface name. */
export const IFNAME_PROBLEM = 'is not an interface name';
