// SPDX-License-Identifier: Apache-2.0
// syncconfig.ts: the config's `sync` section (IPVS's sync daemons, master and backup), its defaults, and ipvsadm's -L --daemon lines.

import { z } from 'zod';
import { SYNC_GROUP, SYNC_HLEN, SYNC_PORT, SYNC_TTL } from './ipvssync';
import { ipToBytes, isIPv4 } from './net/addr';
import { IFNAME_PROBLEM, isIfName } from './net/ifname';

/** An IPv4 multicast group (224.0.0.0/4), dotted quad without leading zeros. */
export function isMulticast(s: string): boolean {
  if (!isIPv4(s)) return false;
  const first = ipToBytes(s)[0]!;
  return first >= 224 && first <= 239;
}

const int = (lo: number, hi: number) => z.number().int('must be an integer').min(lo, `is outside ${lo}..${hi}`).max(hi, `is outside ${lo}..${hi}`);

/** The fields both daemons take. */
function daemonFields() {
  return {
    /** The interface the multicast group is sent on (master) or joined on (backup): ipvsadm --mcast-interface. */
    mcast_interface: z.string().refine(isIfName, { message: IFNAME_PROBLEM }),
    /** 0..255; a backup with syncid 0 takes every master's messages (ipvsadm --syncid). */
    syncid: int(0, 255).default(0),
    group: z.string().refine(isMulticast, { message: 'is not an IPv4 multicast group (224.0.0.0/4)' }).default(SYNC_GROUP),
    port: int(1, 65535).default(SYNC_PORT),
    /** Largest datagram payload (ipvsadm --sync-maxlen); absent: IPVS's default for the interface's MTU. */
    maxlen: int(1, 65535 - SYNC_HLEN).optional(),
    /** Multicast TTL of what the master sends (ipvsadm --mcast-ttl; kept for a backup too, as IPVS keeps it). */
    ttl: int(1, 255).default(SYNC_TTL),
  };
}

export const syncSchema = z.strictObject({
  /** Sends this director's new and changed connections to the group (ipvsadm --start-daemon master). */
  master: z.strictObject(daemonFields()).optional(),
  /** Takes the group's connections into this director's table (ipvsadm --start-daemon backup). */
  backup: z.strictObject(daemonFields()).optional(),
});

export interface SyncDaemonConfig {
  mcast_interface: string;
  syncid: number;
  group: string;
  port: number;
  maxlen?: number | undefined;
  ttl: number;
}

export interface SyncConfig {
  master?: SyncDaemonConfig | undefined;
  backup?: SyncDaemonConfig | undefined;
}

export type SyncRole = 'master' | 'backup';

/**
 * ipvsadm -L --daemon: one line per running daemon, master first, as ipvsadm 1.31 prints them (maxlen, group, port
 * and ttl as the kernel reports them; here the configured ones, maxlen the effective one).
 */
export function formatDaemons(sync: SyncConfig | undefined, maxlenOf: (role: SyncRole, d: SyncDaemonConfig) => number): string {
  let s = '';
  for (const role of ['master', 'backup'] as const) {
    const d = sync?.[role];
    if (!d) continue;
    s += `${role} sync daemon (mcast=${d.mcast_interface}, syncid=${d.syncid}, maxlen=${maxlenOf(role, d)}, group=${d.group}, port=${d.port}, ttl=${d.ttl})\n`;
  }
  return s;
}
