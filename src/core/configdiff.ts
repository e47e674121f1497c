// SPDX-License-Identifier: Apache-2.0
// configdiff.ts: what a new config changes, in an operator's terms (scheduler, reals, weights, timeouts, persistence...), for `xlvs apply --dry-run`.

import { type Config, type RealConfig, type ServiceConfig, schedFlags } from './config';
import { serviceId } from './net/label';

/** One setting that differs; `from`/`to` are null where the setting is absent (a real or service added or removed). */
export interface Change {
  field: string;
  from: unknown;
  to: unknown;
}

export interface ServiceDiff {
  /** "10.0.0.100:80/tcp", the way ipvsadm names it. */
  service: string;
  status: 'added' | 'removed' | 'changed';
  changes: Change[];
}

export interface ConfigDiff {
  /** Settings outside the services (timeouts, sweep interval, metrics...). */
  global: Change[];
  services: ServiceDiff[];
}

const svcName = (s: ServiceConfig) => serviceId(s);

/** Equal as JSON, with absent and undefined alike (a setting left out and one written as its default are not folded). */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function push(out: Change[], field: string, from: unknown, to: unknown): void {
  if (!same(from, to)) out.push({ field, from: from ?? null, to: to ?? null });
}

/** The settings of a service an operator asks about first, in the order the issue lists them. */
function serviceSettings(s: ServiceConfig): [string, unknown][] {
  return [
    ['scheduler', s.scheduler],
    ['sched_flags', schedFlags(s)],
    ['persistence', s.persistence],
    ['slow_start_s', s.slow_start_s],
    ['maglev_size', s.maglev_size],
    ['check', s.check],
    ['on_down', s.on_down],
    ['quorum', s.quorum],
    ['sorry_server', s.sorry_server],
  ];
}

function realSettings(r: RealConfig): [string, unknown][] {
  return [
    ['weight', r.weight],
    ['upper_threshold', r.upper_threshold],
    ['lower_threshold', r.lower_threshold],
    ['check', r.check],
  ];
}

function realsDiff(a: readonly RealConfig[], b: readonly RealConfig[], out: Change[]): void {
  const before = new Map(a.map((r) => [r.address, r]));
  const after = new Map(b.map((r) => [r.address, r]));
  for (const r of b) if (!before.has(r.address)) out.push({ field: `reals[${r.address}]`, from: null, to: { weight: r.weight } });
  for (const r of a) if (!after.has(r.address)) out.push({ field: `reals[${r.address}]`, from: { weight: r.weight }, to: null });
  for (const r of b) {
    const old = before.get(r.address);
    if (!old) continue;
    const prev = new Map(realSettings(old));
    for (const [k, v] of realSettings(r)) push(out, `reals[${r.address}].${k}`, prev.get(k), v);
  }
}

/** Every difference between the running config and a new one; pure, services in the new config's order then the removed. */
export function configDiff(from: Config, to: Config): ConfigDiff {
  const global: Change[] = [];
  for (const k of ['timeouts', 'sweep_interval_ms', 'arp_guard_interval_ms', 'xdp_mode', 'manage_vips', 'accept_macs', 'metrics'] as const) {
    const a = from[k];
    const b = to[k];
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
      for (const sub of new Set([...Object.keys(a), ...Object.keys(b)]))
        push(global, `${k}.${sub}`, (a as Record<string, unknown>)[sub], (b as Record<string, unknown>)[sub]);
    } else push(global, k, a, b);
  }
  const old = new Map(from.services.map((s) => [svcName(s), s]));
  const now = new Set(to.services.map(svcName));
  const services: ServiceDiff[] = [];
  for (const s of to.services) {
    const prev = old.get(svcName(s));
    const changes: Change[] = [];
    if (!prev) {
      for (const [k, v] of serviceSettings(s)) if (v !== undefined) changes.push({ field: k, from: null, to: v });
      realsDiff([], s.reals, changes);
      services.push({ service: svcName(s), status: 'added', changes });
      continue;
    }
    const before = new Map(serviceSettings(prev));
    for (const [k, v] of serviceSettings(s)) push(changes, k, before.get(k), v);
    realsDiff(prev.reals, s.reals, changes);
    if (changes.length) services.push({ service: svcName(s), status: 'changed', changes });
  }
  for (const s of from.services) {
    if (now.has(svcName(s))) continue;
    services.push({ service: svcName(s), status: 'removed', changes: [] });
  }
  return { global, services };
}

function show(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (Array.isArray(v)) return v.length ? v.join(',') : '[]';
  if (typeof v === 'object') return JSON.stringify(v).replace(/"/g, '');
  return String(v);
}

function changeLine(c: Change): string {
  const real = /^reals\[([^\]]+)\]$/.exec(c.field);
  if (real) {
    const w = (x: unknown) => (x as { weight: number }).weight;
    return c.from === null ? `real ${real[1]} added (weight ${w(c.to)})` : `real ${real[1]} removed (was weight ${w(c.from)})`;
  }
  const field = c.field.replace(/^reals\[([^\]]+)\]\./, 'real $1 ');
  return `${field}: ${show(c.from)} -> ${show(c.to)}`;
}

/** The diff as lines for people: one per service, its changes indented under it. */
export function diffText(d: ConfigDiff): string[] {
  const lines: string[] = [];
  for (const c of d.global) lines.push(changeLine(c));
  for (const s of d.services) {
    if (s.status === 'removed') {
      lines.push(`service ${s.service}: removed`);
      continue;
    }
    lines.push(`service ${s.service}: ${s.status}`);
    for (const c of s.changes) lines.push(`  ${changeLine(c)}`);
  }
  if (!lines.length) lines.push('no change to the config');
  return lines;
}
