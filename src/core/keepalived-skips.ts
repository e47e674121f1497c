// SPDX-License-Identifier: Apache-2.0
// keepalived-skips.ts: what the import lists instead of converting: the entry it lists, and the statements xlvs has no counterpart for, by block, each with its reason.

import type { KaNode } from './keepalived-parse';

/**
 * What became of a statement: dropped (keepalived acts on it, the xlvs config does not), approximated (converted, with
 * different semantics: `as` says into what), ignored (nothing is lost: not a load-balancing rule, or keepalived ignores
 * or refuses it too), note (converted as keepalived does; worth a look).
 */
export type Outcome = 'dropped' | 'ignored' | 'note' | { as: string } | 'service' | { services: number };

export interface Unmapped {
  /** The file the statement is in, when it is not the imported file itself (an include). */
  file?: string;
  line: number;
  endLine?: number;
  what: string;
  reason: string;
  kind: 'dropped' | 'approximated' | 'ignored' | 'note';
  /** For approximated: what the statement was converted into. */
  as?: string;
  /** A whole service (a virtual_server, or one member of a virtual_server_group) was dropped. */
  service?: boolean;
  /** For a service entry: how many services it stands for, when more than one (a whole virtual_server group). */
  services?: number;
}

/** Lists a statement; `what` defaults to the statement as written, the outcome to dropped. */
export type Note = (n: KaNode, reason: string, what?: string, outcome?: Outcome) => void;

/** An Unmapped entry's kind and `as` from an outcome ('service': a whole service dropped; `services`: that many). */
export function kindOf(outcome: Outcome = 'dropped'): Pick<Unmapped, 'kind' | 'as' | 'service' | 'services'> {
  if (outcome === 'service') return { kind: 'dropped', service: true };
  if (typeof outcome === 'string') return { kind: outcome };
  return 'as' in outcome ? { kind: 'approximated', as: outcome.as } : { kind: 'dropped', service: true, services: outcome.services };
}

/** Where a statement is, as an entry names it: its file (an included one), line and, for a block, last line. */
export function at(n: KaNode, block = true): Pick<Unmapped, 'file' | 'line' | 'endLine'> {
  return { ...(n.file !== undefined ? { file: n.file } : {}), line: n.line, ...(block && n.endLine !== n.line ? { endLine: n.endLine } : {}) };
}

/** The reason for a statement the import does not know at all. */
export function notDone(key: string): string {
  return `${key} is not something xlvs does`;
}

/** The reason for a top-level statement not in TOP_LEVEL_SKIPS. */
export function ownSetting(key: string): string {
  return `${key} is keepalived's own setting, not a load-balancing rule`;
}

/** The reason a table gives for a keyword; undefined for one it does not list (never a property every object has). */
export function skipReason(table: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

const NO_EMAIL = 'xlvs sends no e-mail; every change of state is a log event';

/** Top-level blocks besides virtual_server (vrrp_instance is read for its interface first; include and virtual_server_group are followed and expanded). */
export const TOP_LEVEL_SKIPS: Readonly<Record<string, string>> = {
  vrrp_instance: 'VRRP (moving the VIP between directors) stays with keepalived; run it alongside xlvs with manage_vips: false',
  SSL: "xlvs's https checks present no client certificate; like keepalived, which never verifies the server's certificate, they are converted with verify: false",
};

/** Statements of a virtual_server block. */
export const VIRTUAL_SERVER_SKIPS: Readonly<Record<string, string>> = {
  persistence_engine: 'persistence engines (SIP) are not in xlvs',
  nat_mask: 'nat_mask only applies to NAT; direct routing does not need it',
  ops: 'one-packet scheduling is not in xlvs yet',
  omega: 'xlvs runs no hooks when it stops',
  smtp_alert: NO_EMAIL,
  ha_suspend: 'xlvs does not suspend checks while the VIP is not on this director',
  hashed: 'hashed is a flag IPVS keeps for itself (setting it has no effect)',
};

/** Statements of a real_server block. */
export const REAL_SERVER_SKIPS: Readonly<Record<string, string>> = {
  notify_up: 'xlvs runs no per-real hooks; every change of state is a log event (real down, real up)',
  notify_down: 'xlvs runs no per-real hooks; every change of state is a log event (real down, real up)',
  smtp_alert: NO_EMAIL,
};

/** keepalived's checkers with no xlvs check type (CHECKERS maps them to null). */
export const NO_CHECKER: Readonly<Record<string, string>> = {
  SMTP_CHECK: 'there is no SMTP check in xlvs (an exec check can run one)',
  BFD_CHECK: 'there is no BFD in xlvs',
  PING_CHECK: 'there is no ICMP echo check in xlvs (a tcp check of the service port says more)',
  FILE_CHECK: 'xlvs has no checks or weights driven by a file',
};

/** Statements of a checker block, of any type. */
export const CHECKER_NOT_MAPPED: Readonly<Record<string, string>> = {
  bindto: "xlvs checks from the director's own address, with a source port the kernel picks",
  bind_if: "xlvs checks from the director's own address, with a source port the kernel picks",
  bind_port: "xlvs checks from the director's own address, with a source port the kernel picks",
  fwmark: 'xlvs does not mark its check packets',
  log_all_failures: 'xlvs logs each change of state with the failure that caused it, not every failed check',
  http_protocol: 'xlvs sends HTTP/1.1 requests with Connection: close',
  fast_recovery: 'xlvs checks one URL, once per interval',
  tls_compliant: 'sending close_notify is not an xlvs setting',
  misc_dynamic:
    'xlvs takes no weights from exit codes: exit 0 is up and anything else down, so a script that exits 2..255 for "up, weight N" keeps its real down; make it exit 0 when up',
  min_reply_length: 'xlvs does not check the length of the reply',
  max_reply_length: 'xlvs does not check the length of the reply',
};

/** CHECKER_NOT_MAPPED statements converted with other semantics, or with nothing lost; the rest are dropped. */
export const CHECKER_OUTCOMES: ReadonlyMap<string, Outcome> = new Map<string, Outcome>([
  ['bindto', { as: "checks from the director's own address" }],
  ['bind_if', { as: "checks from the director's own address" }],
  ['bind_port', { as: 'a source port the kernel picks' }],
  ['http_protocol', { as: 'HTTP/1.1 with Connection: close' }],
  ['misc_dynamic', { as: 'exit 0 up, any other exit down' }],
  ['log_all_failures', 'ignored'],
  ['tls_compliant', 'ignored'],
]);

const REGEX_TUNING = 'not in xlvs: body_regex is a JavaScript regular expression matched against the first 64 KiB of the body';

/** Statements of an HTTP_GET/SSL_GET url block. */
export const URL_SKIPS: Readonly<Record<string, string>> = {
  digest: 'xlvs does not compare an MD5 digest of the page; only the status (and body_regex) are checked',
  regex_options: REGEX_TUNING,
  regex_min_offset: REGEX_TUNING,
  regex_max_offset: REGEX_TUNING,
  regex_stack: REGEX_TUNING,
  tls_compliant: CHECKER_NOT_MAPPED.tls_compliant!,
};
