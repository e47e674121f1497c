// SPDX-License-Identifier: Apache-2.0
// director-undrain.ts: `xlvs director undrain`: ends a drain; every VIP the director can serve is announced again.

import type { Command } from 'commander';
import type { BgpStatus } from '../../adapters/announce';
import { api, withSocket } from '../socket';
import { announcementLines } from './director-drain';

export function registerDirectorUndrain(director: Command): void {
  withSocket(director.command('undrain').description('end a drain: announce again every VIP this director can serve')).action(async (o: { socket: string }) => {
    const st = await api<BgpStatus>(o, 'POST', '/v1/director/undrain', {});
    process.stdout.write(`xlvs: undrained\n${announcementLines(st)}`);
  });
}
