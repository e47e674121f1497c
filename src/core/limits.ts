// SPDX-License-Identifier: Apache-2.0
// limits.ts: value ranges shared by the config schema and the CLI flags.

import { isPrime } from './maglev';

export { CONN_DEFAULT_MAX, MAX_REALS, MAX_SERVICES, MH_DEFAULT_SIZE } from './abi';

/** Small tables cannot express weights; beyond ~1M buckets a rebuild costs more than it buys. */
export function isPrimeSize(n: unknown): boolean {
  return typeof n === 'number' && n >= 251 && n <= 1048573 && isPrime(n);
}

/**
 * Largest config file (and YAML on stdin) read, checked before it is read whole. The daemon writes 14.1 MiB for
 * 10,000 services x 10 reals with an http check per service and thresholds on every real, 19.7 MiB with a check
 * override on every real too, 27.1 MiB at the count limits (16,384 services, 131,072 reals, all of that); YAML
 * parses at 0.5-1.6 s per MiB, so a file far beyond this stalled a reload (and the API with it) for most of a minute.
 */
export const MAX_CONFIG_BYTES = 32 << 20;

/**
 * YAML aliases in one document: each costs a scan of the document's anchors and aliases (quadratic) and every
 * consumer walks its expansion again. 10,000 services sharing a check anchor need 10,000; an alias bomb needs
 * millions of expansions (yaml's maxAliasCount, set to this too, bounds the expansion of each anchor).
 */
export const MAX_YAML_ALIASES = 50_000;

/**
 * Collections nested in a YAML document (a config needs 7: services, a service, its reals, a real, its check, a
 * status list). Composing a document recurses per level; see tooDeep() in config.ts for what a deeper one did.
 */
export const MAX_YAML_DEPTH = 64;

/** The largest 802.1Q VLAN id (4095 is reserved, 0 means untagged). */
export const VLAN_ID_MAX = 4094;
