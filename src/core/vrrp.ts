// SPDX-License-Identifier: Apache-2.0
// vrrp.ts: the director's VRRP role from keepalived's notify calls and the VIPs' presence, and the `director` object status shows.

/** What keepalived's notify scripts report (`xlvs director notify STATE`). */
export type NotifyState = 'master' | 'backup' | 'fault';
export const NOTIFY_STATES: readonly NotifyState[] = ['master', 'backup', 'fault'];

/** The role shown: unknown until some signal says otherwise. */
export type VrrpRole = NotifyState | 'unknown';
export const VRRP_ROLES: readonly VrrpRole[] = ['master', 'backup', 'fault', 'unknown'];

/** keepalived's instance name given with --instance; one name stands for every call made without it. */
export const DEFAULT_INSTANCE = '';

/** The last notify call per instance, with the wall-clock time it arrived (for people; nothing is timed by it). */
export interface NotifyRecord {
  instance: string;
  state: NotifyState;
  at: number;
}

export interface VrrpInput {
  /** The last notify call of each instance (none before keepalived has called). */
  notifies: readonly NotifyRecord[];
  /** The VIPs the services name. */
  vips: readonly string[];
  /** The IPv4 addresses the host holds now, on any interface (keepalived's use_vmac puts them on a macvlan). */
  hostAddresses: ReadonlySet<string>;
  /** With manage_vips xlvs adds the VIPs itself, so their presence says nothing of keepalived's decision. */
  manageVips: boolean;
}

export interface VrrpStatus {
  role: VrrpRole;
  /** What decided the role: the VIPs' presence, keepalived's notify calls, or nothing yet. */
  source: 'vips' | 'notify' | 'none';
  /** The notify calls' combined state (null before the first call). */
  notified: NotifyState | null;
  instances: NotifyRecord[];
  /** The VIPs held and not held (empty with manage_vips: not a VRRP signal then). */
  vipsPresent: string[];
  vipsMissing: string[];
  /** Whether the notify calls and the VIPs say the same (true when only one of them speaks). */
  agree: boolean;
  /** One line for people when something needs explaining (a disagreement, a partial set of VIPs); empty otherwise. */
  note: string;
}

/**
 * Every instance's last call taken together: fault when any instance is in fault (its VIPs are gone or going),
 * master when every instance is master, backup otherwise.
 */
export function combinedNotify(notifies: readonly NotifyRecord[]): NotifyState | null {
  if (!notifies.length) return null;
  if (notifies.some((n) => n.state === 'fault')) return 'fault';
  return notifies.every((n) => n.state === 'master') ? 'master' : 'backup';
}

/**
 * The role. With manage_vips off the VIPs' presence wins over the notify calls when they disagree: the kernel
 * answers ARP only for addresses it holds and keepalived announces the VIP (gratuitous ARP) when it adds it, so the
 * VIP is what brings traffic to this NIC; keepalived adds the VIPs before it runs notify_master and removes them
 * before notify_backup, so the two differ for a moment at a transition, and for good when a call was lost (a
 * script that failed, a daemon restarted while keepalived stayed in its state: keepalived calls only on changes).
 * Without any VIP the notify calls tell backup from fault; with neither signal the role is unknown (a VIP-less host
 * may be a backup or have no keepalived at all). With manage_vips on only the notify calls count.
 */
export function vrrpStatus(i: VrrpInput): VrrpStatus {
  const instances = [...i.notifies].sort((a, b) => a.instance.localeCompare(b.instance));
  const notified = combinedNotify(instances);
  const vips = [...new Set(i.vips)].sort();
  if (i.manageVips || !vips.length) {
    return {
      role: notified ?? 'unknown',
      source: notified ? 'notify' : 'none',
      notified,
      instances,
      vipsPresent: [],
      vipsMissing: [],
      agree: true,
      note: i.manageVips ? 'manage_vips is on: xlvs adds the VIPs itself, so only notify calls set the role' : '',
    };
  }
  const vipsPresent = vips.filter((v) => i.hostAddresses.has(v));
  const vipsMissing = vips.filter((v) => !i.hostAddresses.has(v));
  const base = { notified, instances, vipsPresent, vipsMissing };
  if (vipsPresent.length) {
    const partial = vipsMissing.length ? `holds ${vipsPresent.length} of ${vips.length} VIPs (missing ${vipsMissing.join(', ')})` : '';
    const agree = notified === null || notified === 'master';
    const why = agree ? '' : `keepalived last notified ${notified} but the host holds ${vipsPresent.join(', ')}: traffic for it comes here`;
    return { role: 'master', source: 'vips', ...base, agree, note: [why, partial].filter(Boolean).join('; ') };
  }
  if (notified === null) return { role: 'unknown', source: 'none', ...base, agree: true, note: 'no VIP held and no notify call yet' };
  if (notified === 'master') {
    return {
      role: 'backup',
      source: 'vips',
      ...base,
      agree: false,
      note: `keepalived last notified master but the host holds none of ${vips.join(', ')}: no traffic comes here`,
    };
  }
  return { role: notified, source: 'notify', ...base, agree: true, note: '' };
}

/** A notify call recorded: the instance's previous state is replaced. */
export function recordNotify(notifies: readonly NotifyRecord[], n: NotifyRecord): NotifyRecord[] {
  return [...notifies.filter((x) => x.instance !== n.instance), n];
}

/** The director as status, metrics and the status page show it; other subsystems (BGP, sync) add their fields. */
export interface DirectorInfo {
  host: string;
  vrrp: VrrpStatus;
}

/** One line for `xlvs status` and logs. */
export function vrrpSummary(v: VrrpStatus): string {
  const parts = [`vrrp ${v.role.toUpperCase()}`];
  if (v.source !== 'none') parts.push(`from ${v.source === 'vips' ? 'the VIPs' : 'notify'}`);
  if (v.vipsPresent.length || v.vipsMissing.length) parts.push(`VIPs held ${v.vipsPresent.length}/${v.vipsPresent.length + v.vipsMissing.length}`);
  if (v.instances.length) parts.push(`notify ${v.instances.map((n) => `${n.instance || '-'}=${n.state}`).join(',')}`);
  return `${parts.join(', ')}${v.note ? ` (${v.note})` : ''}`;
}
