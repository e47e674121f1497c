// SPDX-License-Identifier: Apache-2.0
// config-checks.ts: a real's health check with every field settled (service check, real overrides, defaults) and the problems of one.

import type { RealConfig, ServiceConfig } from './config-schema';

/** The codes a check's `status` list accepts, ranges expanded. */
export function statusCodes(list: readonly (number | string)[]): number[] {
  const out = new Set<number>();
  for (const x of list) {
    if (typeof x === 'number') out.add(x);
    else {
      const [lo, hi] = x.split('-').map(Number) as [number, number];
      for (let c = lo; c <= hi; c++) out.add(c);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** A check with every field settled: service check, then the real's overrides, then the defaults. */
export interface ResolvedCheck {
  type: 'tcp' | 'http' | 'https' | 'udp' | 'dns' | 'exec';
  mode: 'dr' | 'direct';
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  jitterMs: number;
  initial: 'up' | 'down';
  address: string;
  port: number;
  path: string;
  status: number[];
  bodyRegex?: string;
  host?: string;
  sni?: string;
  verify: boolean;
  payload: string;
  expect?: string;
  queryName: string;
  queryType: string;
  argv: string[];
}

/**
 * Defaults far faster than keepalived's (delay_loop 60 s): a dead real leaves after fall x interval + timeout = 2.5 s.
 * The DR-path mode is the default where it can run (a TCP check of a TCP service with no address override): it is
 * the only check that sees a real which lost the VIP on lo while its own address still answers.
 */
export function effectiveCheck(s: ServiceConfig, r: RealConfig): ResolvedCheck {
  const c = { ...s.check, ...r.check };
  const type = c.type ?? 'tcp';
  const drPossible = type === 'tcp' && s.protocol === 'tcp' && c.address === undefined;
  return {
    type,
    mode: c.mode ?? (drPossible ? 'dr' : 'direct'),
    intervalMs: c.interval_ms ?? 1000,
    timeoutMs: c.timeout_ms ?? 500,
    rise: c.rise ?? 2,
    fall: c.fall ?? 2,
    jitterMs: c.jitter_ms ?? 0,
    initial: c.initial ?? 'up',
    address: c.address ?? r.address,
    port: c.port ?? s.port,
    path: c.path ?? '/',
    status: statusCodes(c.status ?? [200]),
    ...(c.body_regex !== undefined ? { bodyRegex: c.body_regex } : {}),
    ...(c.host !== undefined ? { host: c.host } : {}),
    ...(c.sni !== undefined ? { sni: c.sni } : {}),
    verify: c.verify ?? true,
    payload: c.payload ?? '',
    ...(c.expect !== undefined ? { expect: c.expect } : {}),
    queryName: c.query_name ?? '.',
    queryType: c.query_type ?? 'A',
    argv: c.argv ?? [],
  };
}

export function checkProblems(c: ResolvedCheck, s: ServiceConfig, where: string): string[] {
  const p: string[] = [];
  if (c.timeoutMs >= c.intervalMs) p.push(`${where}.timeout_ms: ${c.timeoutMs} must be less than interval_ms (${c.intervalMs})`);
  if (c.port === 0 && c.type !== 'exec') p.push(`${where}.port: is required for a check of a port-0 (all ports) service`);
  if (c.type === 'exec' && !c.argv.length) p.push(`${where}.argv: is required for an exec check`);
  if (c.mode === 'dr' && !(c.type === 'tcp' && s.protocol === 'tcp'))
    p.push(`${where}.mode: "dr" needs a tcp check of a tcp service (got ${c.type} on ${s.protocol})`);
  return p;
}
