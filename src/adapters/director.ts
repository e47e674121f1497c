// SPDX-License-Identifier: Apache-2.0
// director.ts: the daemon's record of its host name and VRRP role (notify calls kept, VIPs read from the host), role changes logged.

import * as os from 'node:os';
import { DEFAULT_INSTANCE, type DirectorInfo, type NotifyRecord, type NotifyState, recordNotify, type VrrpStatus, vrrpStatus } from '../core/vrrp';

export interface DirectorStateOptions {
  /** The VIPs the running config's services name, and whether xlvs manages them itself. */
  vips(): string[];
  manageVips(): boolean;
  /** One log event per role change. */
  event(msg: string, f: Record<string, unknown>): void;
  /** The host's IPv4 addresses; default: every interface's (getifaddrs, no child process, cheap enough per scrape). */
  hostAddresses?: () => Set<string>;
  hostname?: () => string;
  now?: () => number;
}

export function localIPv4(): Set<string> {
  const out = new Set<string>();
  for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}

export class DirectorState {
  private notifies: NotifyRecord[] = [];
  private lastRole: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: DirectorStateOptions) {}

  /** keepalived's notify script: recorded per instance, then the role is re-read at once (the VIP moved just before). */
  notify(state: NotifyState, instance = DEFAULT_INSTANCE): DirectorInfo {
    this.notifies = recordNotify(this.notifies, { instance, state, at: (this.o.now ?? Date.now)() });
    this.o.event('keepalived notify', { instance: instance || undefined, state });
    return this.info();
  }

  vrrp(): VrrpStatus {
    const s = vrrpStatus({
      notifies: this.notifies,
      vips: this.o.vips(),
      hostAddresses: (this.o.hostAddresses ?? localIPv4)(),
      manageVips: this.o.manageVips(),
    });
    this.noteChange(s);
    return s;
  }

  info(): DirectorInfo {
    return { host: (this.o.hostname ?? os.hostname)(), vrrp: this.vrrp() };
  }

  /** The VIPs come and go without telling the daemon: a look every intervalMs puts each change in the log when it happens. */
  watch(intervalMs: number): void {
    this.stop();
    this.vrrp();
    this.timer = setInterval(() => this.vrrp(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private noteChange(s: VrrpStatus): void {
    const key = `${s.role}/${s.vipsPresent.join(',')}`;
    if (key === this.lastRole) return;
    const first = this.lastRole === undefined;
    this.lastRole = key;
    this.o.event(first ? 'vrrp role' : 'vrrp role changed', {
      role: s.role,
      source: s.source,
      vips_present: s.vipsPresent,
      notified: s.notified,
      note: s.note || undefined,
    });
  }
}
