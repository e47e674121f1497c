// SPDX-License-Identifier: Apache-2.0
// director.ts: `xlvs director notify master|backup|fault [--instance NAME]`: keepalived's notify scripts telling the daemon the VRRP state it entered.

import type { Command } from 'commander';
import { UsageError } from '../../core/errors';
import { NOTIFY_STATES, type NotifyState, type VrrpStatus, vrrpSummary } from '../../core/vrrp';
import { api, withSocket } from '../socket';
import { registerDirectorDrain } from './director-drain';
import { registerDirectorUndrain } from './director-undrain';

/** keepalived's notify_* lines pass the state in lower case; its generic notify script passes it in capitals. */
export function notifyState(v: string): NotifyState {
  const s = v.toLowerCase();
  if (!(NOTIFY_STATES as readonly string[]).includes(s)) throw new UsageError(`STATE ${JSON.stringify(v)}: must be master, backup or fault`);
  return s as NotifyState;
}

export function registerDirector(program: Command): void {
  const cmd = program.command('director').description('this director among its peers: its VRRP role (notify), its BGP announcements (drain, undrain)');
  registerDirectorDrain(cmd);
  registerDirectorUndrain(cmd);
  withSocket(
    cmd
      .command('notify <state>')
      .description("for keepalived's notify_master/notify_backup/notify_fault: tell the daemon the VRRP state entered (master, backup or fault)")
      .option('--instance <name>', 'the vrrp_instance the call is for (each instance keeps its own state)'),
  ).action(async (state: string, o: { instance?: string; socket: string }) => {
    const body = { state: notifyState(state), ...(o.instance !== undefined ? { instance: o.instance } : {}) };
    const d = await api<{ host: string; vrrp: VrrpStatus }>(o, 'POST', '/v1/director/notify', body);
    process.stdout.write(`xlvs: ${d.host}: ${vrrpSummary(d.vrrp)}\n`);
  });
}
