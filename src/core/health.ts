// SPDX-License-Identifier: Apache-2.0
// health.ts: the health-check state machine and its schedule (rise/fall hysteresis, intervals, warm-up jitter), pure: the clock and the probe are injected.

import type { ResolvedCheck } from './config';

export type HealthState = 'up' | 'down';

export interface ProbeResult {
  ok: boolean;
  /** Why, in a few words: "SYN-ACK", "connect ECONNREFUSED", "status 503", "timeout after 500 ms". */
  detail: string;
  /**
   * The probe could not run (the real's MAC is not resolved yet, so a DR-path frame has nowhere to go): counts
   * neither way. Such a real is unschedulable anyway (no F_MAC), and it must not pay `rise` extra checks once ARP
   * resolves it.
   */
  inconclusive?: boolean;
}

/** One real of one service to check. */
export interface CheckTarget {
  /** healthKey(service, real address) (src/core/plan.ts). */
  key: string;
  service: string;
  real: string;
  check: ResolvedCheck;
}

export interface TargetStatus {
  key: string;
  service: string;
  real: string;
  type: string;
  mode: string;
  state: HealthState;
  /** Consecutive results that disagree with the state (counting towards rise or fall). */
  streak: number;
  /** ms since the epoch of the last state change (or of the start). */
  since: number;
  lastDetail: string;
  lastAt: number | null;
  checks: number;
  failures: number;
  /** Time the counted checks took (probe sent to verdict), in ms, summed; and the last one's. */
  durationMsSum: number;
  lastDurationMs: number | null;
}

export interface Transition {
  key: string;
  service: string;
  real: string;
  from: HealthState;
  to: HealthState;
  detail: string;
  at: number;
}

interface Entry extends TargetStatus {
  target: CheckTarget;
  sig: string;
  nextAt: number;
  inFlight: boolean;
}

/**
 * Keeps every target's state and when it is next due. The adapter calls due() when nextWake() says, runs the probes
 * it returns (each must settle within its timeout), and reports each result; a result turns into a Transition only
 * after `fall` consecutive failures of an up target or `rise` consecutive successes of a down one.
 */
export class HealthBook {
  private readonly entries = new Map<string, Entry>();

  /**
   * now() schedules (a monotonic clock: a stepped wall clock must neither stall checks for the size of the step nor
   * fire them all at once); wall() only stamps `since` and `lastAt` for people. rand() in [0, 1) spreads first checks
   * over jitter_ms so 2,000 reals are not probed in the same millisecond.
   */
  constructor(
    private readonly now: () => number,
    private readonly rand: () => number = Math.random,
    private readonly wall: () => number = Date.now,
  ) {}

  /** Adds new targets, drops removed ones, restarts targets whose check changed. Returns the keys dropped. */
  sync(targets: readonly CheckTarget[]): string[] {
    const t = this.now();
    const want = new Set<string>();
    for (const target of targets) {
      want.add(target.key);
      const sig = JSON.stringify(target.check);
      const e = this.entries.get(target.key);
      if (e && e.sig === sig) {
        e.target = target;
        continue;
      }
      // A changed check keeps the state it had (a reload must not flap a real), but starts a new streak.
      this.entries.set(target.key, {
        key: target.key,
        service: target.service,
        real: target.real,
        type: target.check.type,
        mode: target.check.mode,
        state: e?.state ?? target.check.initial,
        streak: 0,
        since: e?.since ?? this.wall(),
        lastDetail: e?.lastDetail ?? 'not checked yet',
        lastAt: e?.lastAt ?? null,
        checks: e?.checks ?? 0,
        failures: e?.failures ?? 0,
        durationMsSum: e?.durationMsSum ?? 0,
        lastDurationMs: e?.lastDurationMs ?? null,
        target,
        sig,
        nextAt: t + Math.floor(this.rand() * target.check.jitterMs),
        inFlight: e?.inFlight ?? false,
      });
    }
    const dropped: string[] = [];
    for (const k of this.entries.keys())
      if (!want.has(k)) {
        this.entries.delete(k);
        dropped.push(k);
      }
    return dropped;
  }

  /** Targets due now; they are marked in flight until their result comes back. */
  due(): CheckTarget[] {
    const t = this.now();
    const out: CheckTarget[] = [];
    for (const e of this.entries.values()) {
      if (e.inFlight || e.nextAt > t) continue;
      e.inFlight = true;
      out.push(e.target);
    }
    return out;
  }

  /** When the next target is due, on now()'s clock (Infinity with none). */
  nextWake(): number {
    let n = Infinity;
    for (const e of this.entries.values()) if (!e.inFlight && e.nextAt < n) n = e.nextAt;
    return n;
  }

  /** One probe's outcome; the next probe is due one interval after this one started (startedAt). */
  result(key: string, r: ProbeResult, startedAt: number): Transition | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined; // removed while in flight
    const t = this.now();
    e.inFlight = false;
    e.nextAt = Math.max(startedAt + e.target.check.intervalMs, t);
    e.lastDetail = r.detail;
    e.lastAt = this.wall();
    if (r.inconclusive) return undefined;
    e.checks++;
    if (!r.ok) e.failures++;
    e.lastDurationMs = Math.max(0, t - startedAt);
    e.durationMsSum += e.lastDurationMs;
    const agrees = (e.state === 'up') === r.ok;
    if (agrees) {
      e.streak = 0;
      return undefined;
    }
    e.streak++;
    const need = e.state === 'up' ? e.target.check.fall : e.target.check.rise;
    if (e.streak < need) return undefined;
    const from = e.state;
    e.state = r.ok ? 'up' : 'down';
    e.streak = 0;
    e.since = this.wall();
    return { key, service: e.service, real: e.real, from, to: e.state, detail: r.detail, at: e.since };
  }

  state(key: string): HealthState | undefined {
    return this.entries.get(key)?.state;
  }

  /** Keys of targets that are down. */
  downKeys(): Set<string> {
    const s = new Set<string>();
    for (const e of this.entries.values()) if (e.state === 'down') s.add(e.key);
    return s;
  }

  statusOf(key: string): TargetStatus | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const { target: _t, sig: _s, nextAt: _n, inFlight: _i, ...rest } = e;
    return { ...rest };
  }

  status(): TargetStatus[] {
    return [...this.entries.values()].map(({ target: _t, sig: _s, nextAt: _n, inFlight: _i, ...rest }) => ({ ...rest }));
  }
}

/** Per-service quorum with hysteresis: lost when fewer than `quorum` reals are up, regained at quorum + hysteresis. */
export function quorumState(prev: boolean, up: number, quorum: number, hysteresis: number): boolean {
  if (prev) return up >= quorum;
  return up >= quorum + hysteresis;
}
