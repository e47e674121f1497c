// SPDX-License-Identifier: Apache-2.0
// health.ts: schedules the health checks (run on the prober thread), logs each change as one event, hands the down reals to the controller, runs quorum hooks.

import { spawn } from 'node:child_process';
import type { Config } from '../core/config';
import { effectiveCheck } from '../core/config';
import { type CheckTarget, HealthBook, quorumState, type TargetStatus, type Transition } from '../core/health';
import type { RealHealth } from '../core/listing';
import { serviceName } from '../core/net/label';
import { allDown, healthKey } from '../core/plan';
import type { DrContext, ProbeTarget, runProbe } from './checkers';
import { monotonicMs } from './clock';
import type { EventSink } from './event';
import { ipJson } from './host';
import { ProberThread } from './proberthread';
import { ProbeSocket } from './probesocket';

export interface HealthRunnerOptions {
  /** The director's NIC (DR-path probes leave through it); its ifindex and MAC. */
  ifname: string;
  ifindex: number;
  mac: string;
  /** The real's current MAC as the datapath has it (DR-path probes are addressed to it). */
  macOf(address: string): string | null;
  /** Called with the whole set of down reals (healthKey) after any of them changed. */
  onChange(down: Set<string>): void;
  event: EventSink;
  now?: () => number;
  /**
   * A probe run on this thread instead of the prober thread (unit tests' stubs, the benchmark's baseline). Its
   * timers share this loop with plan/apply work.
   */
  probe?: typeof runProbe;
  /** Rewrites a target before the prober thread probes it (the benchmark points the checks at local listeners). */
  redirect?: (t: ProbeTarget) => ProbeTarget;
  /** A quorum hook still running after this long is killed with its process group (default HOOK_TIMEOUT_MS). */
  hookTimeoutMs?: number;
}

/** Long enough for a hook that withdraws a route or pages someone; a hook that hangs must not hold the next one forever. */
export const HOOK_TIMEOUT_MS = 30_000;

/** The director's own address on the NIC (not a /32 VIP): DR-path probes come from it and their answers go to it. */
export function directorAddress(ifname: string, vips: Set<string>): string | null {
  const [link] = ipJson<any[]>(['-4', 'addr', 'show', 'dev', ifname]);
  const addrs = ((link?.addr_info ?? []) as any[]).map((a) => ({ local: String(a.local), prefixlen: Number(a.prefixlen) }));
  return (addrs.find((a) => !(vips.has(a.local) && a.prefixlen === 32)) ?? addrs[0])?.local ?? null;
}

const FLUSH_MS = 20;
export class HealthRunner {
  private readonly book: HealthBook;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private cfg: Config | undefined;
  private vipOf = new Map<string, string>();
  private kindOf = new Map<string, string>();
  /** In-thread probes only (the `probe` option): the raw socket of DR-path probes. */
  private ps: ProbeSocket | undefined;
  private readonly prober: ProberThread | undefined;
  private dirIp: string | null = null;
  private stopped = false;
  private wakeAt = Infinity;
  private allDownNow = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Per service name: whether it has quorum (absent: not evaluated yet, counts as having it). */
  private quorum = new Map<string, boolean>();
  /** Per service name: the last hook started, so a service's hooks run one at a time in the order of its transitions. */
  private hooks = new Map<string, Promise<void>>();

  constructor(private readonly o: HealthRunnerOptions) {
    this.now = o.now ?? monotonicMs;
    this.book = new HealthBook(this.now);
    if (!o.probe) this.prober = new ProberThread(o.event);
  }

  /** The targets of a config: each checked service's reals (a real in two services is checked once per service). */
  static targets(cfg: Config): (CheckTarget & { vip: string })[] {
    const out: (CheckTarget & { vip: string })[] = [];
    for (const s of cfg.services) {
      if (!s.check) continue;
      for (const r of s.reals) out.push({ key: healthKey(s, r.address), service: serviceName(s), real: r.address, vip: s.vip, check: effectiveCheck(s, r) });
    }
    return out;
  }

  /** A new or changed config; cheap when it is the same object as last time (the periodic MAC refresh). */
  setConfig(cfg: Config): void {
    if (cfg === this.cfg) return;
    this.cfg = cfg;
    const targets = HealthRunner.targets(cfg);
    this.vipOf = new Map(targets.map((t) => [t.key, t.vip]));
    this.kindOf = new Map(targets.map((t) => [t.key, `${t.check.type}/${t.check.mode}`]));
    const before = this.book.downKeys();
    this.book.sync(targets);
    if (targets.some((t) => t.check.mode === 'dr')) {
      const dir = directorAddress(this.o.ifname, new Set(cfg.services.map((s) => s.vip)));
      if (dir !== this.dirIp) {
        // The prober thread replaces its socket when the address it is sent changes.
        void this.ps?.close();
        this.ps = undefined;
        this.dirIp = dir;
      }
      if (!dir) this.o.event('error', 'health check target unresolvable', { reason: `no IPv4 address on ${this.o.ifname} for DR-path probes` });
    }
    const after = this.book.downKeys();
    if ([...after].join() !== [...before].join()) this.o.onChange(after);
    // A reload can change min or the reals, and reals that start down (initial: down) make no transition.
    this.checkQuorum(after);
    this.schedule();
  }

  private drContext(): DrContext | undefined {
    if (!this.dirIp) return undefined;
    const ip = this.dirIp;
    return {
      socket: () => (this.ps ??= new ProbeSocket(this.o.ifindex, [ip])),
      director: { mac: this.o.mac.toLowerCase(), ip },
      macOf: this.o.macOf,
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    const next = this.book.nextWake();
    if (next === Infinity) return;
    if (this.timer && next >= this.wakeAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.wakeAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.wakeAt = Infinity;
        this.fire();
      },
      Math.max(0, next - this.now()),
    );
  }

  private fire(): void {
    const inThread = this.o.probe;
    const dr = inThread ? this.drContext() : undefined;
    for (const t of this.book.due()) {
      const started = this.now();
      const target = { check: t.check, real: t.real, vip: this.vipOf.get(t.key) ?? '' };
      const run = inThread
        ? inThread(target, dr)
        : this.prober!.probe(this.o.redirect?.(target) ?? target, t.check.mode === 'dr' ? this.o.macOf(t.real) : null);
      void run.then((r) => {
        if (this.stopped) return;
        const tr = this.book.result(t.key, r, started);
        if (tr) this.changed(tr);
        this.schedule();
      });
    }
    this.prober?.send(this.dirIp ? { ifindex: this.o.ifindex, mac: this.o.mac.toLowerCase(), ip: this.dirIp } : null);
    this.schedule();
  }

  private changed(tr: Transition): void {
    this.o.event(tr.to === 'down' ? 'warn' : 'info', tr.to === 'down' ? 'real down' : 'real up', {
      event: 'health',
      service: tr.service,
      real: tr.real,
      from: tr.from,
      to: tr.to,
      detail: tr.detail,
      check: this.kindOf.get(tr.key),
    });
    const down = this.book.downKeys();
    // All reals down is loud: with a sorry server it takes over, without one new connections are dropped.
    for (const s of this.cfg?.services ?? []) {
      if (!s.check || !s.reals.length) continue;
      const name = serviceName(s);
      const all = allDown(s, down);
      if (all && !this.allDownNow.has(name)) {
        this.allDownNow.add(name);
        this.o.event('error', 'all reals down', {
          event: 'health',
          service: name,
          sorry_server: s.sorry_server ?? null,
          effect: s.sorry_server ? 'sorry server takes new connections' : 'new connections are dropped',
        });
      } else if (!all && this.allDownNow.has(name)) {
        this.allDownNow.delete(name);
        this.o.event('info', 'service has a real up again', { event: 'health', service: name });
      }
    }
    this.checkQuorum(down);
    // Transitions within FLUSH_MS go to the controller as one down set: each table swap costs a map creation (about
    // 10 ms), so a rack of reals dying together must not queue one plan per real.
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      if (!this.stopped) this.o.onChange(this.book.downKeys());
    }, FLUSH_MS);
  }

  /** Each service's quorum against the down set; a change is an event and runs its hook. */
  private checkQuorum(down: Set<string>): void {
    const names = new Set<string>();
    for (const s of this.cfg?.services ?? []) {
      if (!s.quorum || !s.check) continue;
      const name = serviceName(s);
      names.add(name);
      const up = s.reals.filter((r) => !down.has(healthKey(s, r.address))).length;
      const prev = this.quorum.get(name) ?? true;
      const now = quorumState(prev, up, s.quorum.min, s.quorum.hysteresis);
      if (now === prev) continue;
      this.quorum.set(name, now);
      const hook = now ? s.quorum.up : s.quorum.down;
      this.o.event(now ? 'info' : 'error', now ? 'quorum regained' : 'quorum lost', {
        event: 'health',
        service: name,
        up,
        min: s.quorum.min,
        hysteresis: s.quorum.hysteresis,
        hook: hook ?? null,
      });
      if (hook) this.queueHook(name, hook, now, up, s.quorum.min);
    }
    // A service removed (or its quorum dropped) starts afresh if it comes back.
    for (const k of [...this.quorum.keys()]) if (!names.has(k)) this.quorum.delete(k);
  }

  /**
   * Quorum hooks run one at a time per service, in order: an `up` hook never overtakes the `down` hook before it
   * (say, one withdrawing a route and the next announcing it).
   */
  private queueHook(service: string, argv: string[], up: boolean, count: number, min: number): void {
    const prev = this.hooks.get(service) ?? Promise.resolve();
    const next = prev.then(() => this.runHook(service, argv, up, count, min));
    this.hooks.set(service, next);
    void next.then(() => {
      if (this.hooks.get(service) === next) this.hooks.delete(service);
    });
  }

  /**
   * One quorum hook: argv, never a shell, in its own process group so a timeout kills whatever it started too.
   * Whatever happens to it (exit, failure to start, timeout) is one event; it never throws.
   */
  private runHook(service: string, argv: string[], up: boolean, count: number, min: number): Promise<void> {
    const hook = up ? 'up' : 'down';
    const started = this.now();
    return new Promise((resolve) => {
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(argv[0]!, argv.slice(1), {
          detached: true,
          stdio: 'ignore',
          env: { ...process.env, XLVS_SERVICE: service, XLVS_QUORUM: hook, XLVS_UP: String(count), XLVS_MIN: String(min) },
        });
      } catch (e) {
        this.o.event('error', 'quorum hook failed', { event: 'health', service, hook, argv, err: (e as Error).message });
        resolve();
        return;
      }
      let timedOut = false;
      let settled = false;
      const timeoutMs = this.o.hookTimeoutMs ?? HOOK_TIMEOUT_MS;
      const settle: EventSink = (level, msg, fields) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.o.event(level, msg, { event: 'health', service, hook, argv, ...fields });
        resolve();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* exited meanwhile */
          }
        }
      }, timeoutMs);
      child.on('error', (e) => settle('error', 'quorum hook failed', { err: e.message }));
      child.on('exit', (code, signal) => {
        const ms = this.now() - started;
        if (timedOut) settle('error', 'quorum hook timed out', { code, signal, ms, timeout_ms: timeoutMs });
        else settle(code === 0 ? 'info' : 'warn', 'quorum hook exited', { code, signal, ms });
      });
    });
  }

  /** Services that lost quorum (metrics, status). */
  quorumLost(): string[] {
    return [...this.quorum].filter(([, v]) => !v).map(([k]) => k);
  }

  /** Every checked real's state, for the API, `xlvs list`/`status` and metrics. */
  status(): TargetStatus[] {
    return this.book.status();
  }

  /** One real's health as the controller lists it. */
  get(key: string): RealHealth | undefined {
    const st = this.book.statusOf(key);
    return st
      ? {
          state: st.state,
          detail: st.lastDetail,
          since: st.since,
          check: `${st.type}/${st.mode}`,
          checks: st.checks,
          failures: st.failures,
          lastAt: st.lastAt,
          durationMsSum: st.durationMsSum,
          lastDurationMs: st.lastDurationMs,
        }
      : undefined;
  }

  downKeys(): Set<string> {
    return this.book.downKeys();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.prober?.stop();
    await this.ps?.close();
    this.ps = undefined;
  }
}
