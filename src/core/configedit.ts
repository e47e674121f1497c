// SPDX-License-Identifier: Apache-2.0
// configedit.ts: validating an edit of a validated config by the services it replaced, not all of them (an API change at 10,000 services).

import { type Config, parseService, type ServiceConfig, serviceKeyOf, serviceProblems, validateConfig } from './config';
import { MAX_REALS, MAX_SERVICES } from './limits';

/** Where two service lists differ: before[start, endBefore) became after[start, endAfter), the rest is the same objects. */
export interface Splice {
  start: number;
  endBefore: number;
  endAfter: number;
}

/** The one contiguous range two lists differ in (an edit changes, adds or deletes one service): pointer compares only. */
export function spliceOf(before: readonly unknown[], after: readonly unknown[]): Splice {
  const n = Math.min(before.length, after.length);
  let start = 0;
  while (start < n && before[start] === after[start]) start++;
  let eb = before.length,
    ea = after.length;
  while (eb > start && ea > start && before[eb - 1] === after[ea - 1]) eb--, ea--;
  return { start, endBefore: eb, endAfter: ea };
}

/** The keys and real count of a validated service list, moved from list to list as edits replace it. */
interface ListIndex {
  keys: Map<string, ServiceConfig>;
  reals: number;
}
const indexes = new WeakMap<readonly ServiceConfig[], ListIndex>();

function indexOf(services: readonly ServiceConfig[]): ListIndex {
  let ix = indexes.get(services);
  if (!ix) {
    ix = { keys: new Map(services.map((s) => [serviceKeyOf(s), s])), reals: services.reduce((n, s) => n + s.reals.length, 0) };
    indexes.set(services, ix);
  }
  return ix;
}

/**
 * Builds a running list's index ahead of its first edit (a full apply, a start): built by that edit instead, it cost the
 * first API change at 10,000 services 6 ms of its ~12.
 */
export function indexServices(services: readonly ServiceConfig[]): void {
  indexOf(services);
}

/**
 * validateConfig({ ...prev, services }) for services that differ from prev's (a validated config) in one range:
 * the services in it are parsed and checked, and the cross-service checks (duplicates, total reals) use an index of
 * prev's list instead of walking it. Anything wrong goes to validateConfig, so every problem reads as it would there.
 */
export function validateEdit(prev: Config, services: readonly unknown[]): Config {
  const full = () => validateConfig({ ...prev, services });
  if (services.length > MAX_SERVICES) return full();
  const sp = spliceOf(prev.services, services);
  const removed = prev.services.slice(sp.start, sp.endBefore);
  const added: ServiceConfig[] = [];
  for (let i = sp.start; i < sp.endAfter; i++) {
    const s = parseService(services[i]);
    if (!s || serviceProblems(s, i).length) return full();
    added.push(s);
  }
  const ix = indexOf(prev.services);
  const gone = new Set(removed);
  const seen = new Set<string>();
  for (const s of added) {
    const k = serviceKeyOf(s);
    const other = ix.keys.get(k);
    if (seen.has(k) || (other && !gone.has(other))) return full();
    seen.add(k);
  }
  const reals = ix.reals - removed.reduce((n, s) => n + s.reals.length, 0) + added.reduce((n, s) => n + s.reals.length, 0);
  if (reals > MAX_REALS) return full();
  const next = [...prev.services.slice(0, sp.start), ...added, ...prev.services.slice(sp.endBefore)];
  // The index moves to the new list: prev's is rebuilt (once) if a failed change leaves prev running.
  indexes.delete(prev.services);
  for (const s of removed) ix.keys.delete(serviceKeyOf(s));
  for (const s of added) ix.keys.set(serviceKeyOf(s), s);
  ix.reals = reals;
  indexes.set(next, ix);
  return { ...prev, services: next };
}
