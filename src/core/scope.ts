// SPDX-License-Identifier: Apache-2.0
// scope.ts: a change planned for the services it touched alone: which ones an edit or a health verdict touched, and the index of the rest.

import type { ServiceConfig } from './config';
import { spliceOf } from './configedit';
import { serviceTag } from './net/label';
import { type ObservedService, type PlanIds, svcKey } from './plan';

/** The services one change touched: their keys (svcKey), and the desired ones among them (absent: deleted). */
export interface ChangeScope {
  readonly keys: ReadonlySet<string>;
  readonly desired: readonly ServiceConfig[];
  /** A service was added or deleted (the set of VIPs may differ). */
  readonly membership: boolean;
  /** The down reals the services outside the scope were planned with (absent: the controller's current set). */
  readonly downBefore?: ReadonlySet<string>;
}

const keyOf = (s: ServiceConfig) => svcKey(s.vip, s.port, s.protocol);

/**
 * What an edit changed, by object identity: nothing writes into a validated service (edits copy the one they change,
 * and validation keeps the objects it parsed before), so the range where the lists differ (spliceOf) holds every
 * service added, changed or deleted (and maybe unchanged ones between them, planned to no ops).
 */
export function editScope(before: readonly ServiceConfig[], after: readonly ServiceConfig[]): ChangeScope {
  const sp = spliceOf(before, after);
  const desired = after.slice(sp.start, sp.endAfter);
  const gone = before.slice(sp.start, sp.endBefore);
  const keys = new Set(desired.map(keyOf));
  const goneKeys = gone.map(keyOf);
  for (const k of goneKeys) keys.add(k);
  const membership = desired.some((s) => !goneKeys.includes(keyOf(s))) || goneKeys.some((k) => !desired.some((s) => keyOf(s) === k));
  return { keys, desired, membership };
}

/** The services whose reals changed health between two sets of down reals (healthKey: "<serviceTag>/<address>"). */
export function healthScope(services: readonly ServiceConfig[], before: ReadonlySet<string>, after: ReadonlySet<string>): ChangeScope {
  const tags = new Set<string>();
  const tagOf = (k: string) => k.slice(0, k.lastIndexOf('/'));
  for (const k of before) if (!after.has(k)) tags.add(tagOf(k));
  for (const k of after) if (!before.has(k)) tags.add(tagOf(k));
  const desired = tags.size ? services.filter((s) => tags.has(serviceTag(s))) : [];
  return { keys: new Set(desired.map(keyOf)), desired, membership: false, downBefore: before };
}

/** The observed services by key, with the ids they hold: what a plan of a few services needs of all the others. */
export class ObservedIndex implements PlanIds {
  private list: readonly ObservedService[] = [];
  private readonly byKey = new Map<string, ObservedService>();
  private readonly pos = new Map<string, number>();
  readonly realIds = new Set<number>();
  readonly svcIds = new Set<number>();
  highestReal = -1;

  constructor(observed: readonly ObservedService[]) {
    this.reset(observed);
  }

  /** Every observed service (a new array after every change: callers may hold the old one). */
  all(): readonly ObservedService[] {
    return this.list;
  }

  get(key: string): ObservedService | undefined {
    return this.byKey.get(key);
  }

  /** The observed services among keys (those the datapath holds). */
  of(keys: ReadonlySet<string>): ObservedService[] {
    const out: ObservedService[] = [];
    for (const k of keys) {
      const o = this.byKey.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** After a plan of everything: the model is what it says. */
  reset(observed: readonly ObservedService[]): readonly ObservedService[] {
    this.byKey.clear();
    this.pos.clear();
    this.realIds.clear();
    this.svcIds.clear();
    this.highestReal = -1;
    this.list = [...observed];
    this.list.forEach((o, i) => this.add(o, i));
    return this.list;
  }

  /** After a plan of the services in keys: those of after replace them (in place), the rest are deleted, new ones go last. */
  update(keys: ReadonlySet<string>, after: readonly ObservedService[]): readonly ObservedService[] {
    const list = [...this.list];
    const next = new Map(after.map((o) => [svcKey(o.vip, o.port, o.proto), o]));
    let removed = false;
    for (const k of keys) {
      const old = this.byKey.get(k);
      if (!old) continue;
      this.drop(old);
      const i = this.pos.get(k)!;
      const o = next.get(k);
      if (o) {
        list[i] = o;
        this.add(o, i);
        next.delete(k);
      } else {
        // Marked, then compacted once below: several deletions in one change shift the positions once.
        (list as (ObservedService | undefined)[])[i] = undefined;
        this.byKey.delete(k);
        this.pos.delete(k);
        removed = true;
      }
    }
    for (const o of next.values()) {
      list.push(o);
      this.add(o, list.length - 1);
    }
    if (removed) {
      const kept = list.filter((o) => o !== undefined);
      this.pos.clear();
      kept.forEach((o, i) => this.pos.set(svcKey(o.vip, o.port, o.proto), i));
      this.list = kept;
    } else this.list = list;
    if (!this.realIds.has(this.highestReal)) {
      this.highestReal = -1;
      for (const id of this.realIds) if (id > this.highestReal) this.highestReal = id;
    }
    return this.list;
  }

  private add(o: ObservedService, i: number): void {
    const k = svcKey(o.vip, o.port, o.proto);
    this.byKey.set(k, o);
    this.pos.set(k, i);
    this.svcIds.add(o.id);
    for (const r of o.reals) {
      this.realIds.add(r.id);
      if (r.id > this.highestReal) this.highestReal = r.id;
    }
  }

  private drop(o: ObservedService): void {
    this.svcIds.delete(o.id);
    for (const r of o.reals) this.realIds.delete(r.id);
  }
}
