// SPDX-License-Identifier: Apache-2.0
// ipvsadm-daemon.ts: ipvsadm's sync-daemon options (--start-daemon, --stop-daemon, --mcast-*, --syncid, --sync-maxlen) parsed into the config's sync settings.

import { SYNC_HLEN } from './ipvssync';
import { isMulticast, type SyncRole } from './syncconfig';

/** ipvsadm's DEF_MCAST_IFN: the interface --start-daemon uses when --mcast-interface is not given. */
export const DEF_MCAST_IFN = 'eth0';

/** Options taking a value, by their long names (ipvsadm has no short forms for these). */
export const DAEMON_OPTIONS: Record<string, string> = {
  '--mcast-interface': 'mcastIfn',
  '--syncid': 'syncid',
  '--sync-maxlen': 'maxlen',
  '--mcast-group': 'group',
  '--mcast-port': 'mcastPort',
  '--mcast-ttl': 'ttl',
};
export const DAEMON_OPTION_KEYS = Object.values(DAEMON_OPTIONS);

export type DaemonCommand =
  | {
      kind: 'start-daemon';
      role: SyncRole;
      daemon: { mcast_interface: string; syncid: number; maxlen?: number; group?: string; port?: number; ttl?: number };
    }
  | { kind: 'stop-daemon'; role: SyncRole };

function num(v: string | true | undefined, lo: number, hi: number): number | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return null;
  const n = Number(v);
  return n >= lo && n <= hi ? n : null;
}

/**
 * --start-daemon STATE [--mcast-interface IF] [--syncid ID] [--sync-maxlen N] [--mcast-group G] [--mcast-port P]
 * [--mcast-ttl T], or --stop-daemon STATE, with ipvsadm's messages; `fail` makes ipvsadm's exit-2 error.
 */
export function parseDaemonCommand(cmd: 'startd' | 'stopd', opt: Record<string, string | true>, fail: (msg: string) => Error): DaemonCommand {
  const state = opt.daemonState;
  if (state !== 'master' && state !== 'backup') throw fail(`illegal ${cmd === 'startd' ? 'start-daemon' : 'stop_daemon'} parameter specified`);
  if (cmd === 'stopd') return { kind: 'stop-daemon', role: state };
  const ifn = opt.mcastIfn;
  if (ifn !== undefined && (typeof ifn !== 'string' || !/^(?!\.\.?$)[^\s/:\0]{1,15}$/.test(ifn))) throw fail('illegal mcast-interface specified');
  const syncid = num(opt.syncid, 0, 255);
  if (syncid === null) throw fail('illegal syncid specified');
  const maxlen = num(opt.maxlen, 1, 65535 - SYNC_HLEN);
  if (maxlen === null) throw fail('illegal sync-maxlen specified');
  const port = num(opt.mcastPort, 1, 65535);
  if (port === null) throw fail('illegal mcast-port specified');
  const ttl = num(opt.ttl, 1, 255);
  if (ttl === null) throw fail('illegal mcast-ttl specified');
  const group = opt.group;
  if (group !== undefined && (typeof group !== 'string' || !isMulticast(group))) throw fail('illegal mcast-group specified');
  return {
    kind: 'start-daemon',
    role: state,
    daemon: {
      mcast_interface: typeof ifn === 'string' ? ifn : DEF_MCAST_IFN,
      syncid: syncid ?? 0,
      ...(maxlen !== undefined ? { maxlen } : {}),
      ...(group !== undefined ? { group } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(ttl !== undefined ? { ttl } : {}),
    },
  };
}
