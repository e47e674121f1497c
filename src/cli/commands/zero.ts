// SPDX-License-Identifier: Apache-2.0
// zero.ts: `xlvs zero [VIP:PORT]`: reset the running daemon's counters (all services, or one) and its rate window.

import type { Command } from 'commander';
import { optionalServiceFrom, type ServiceOpts, withServiceAddress } from '../address';
import { api, withSocket } from '../socket';

export function registerZero(program: Command): void {
  withSocket(withServiceAddress(program.command('zero').description('zero the counters of every service, or of the one named VIP:PORT'))).action(
    async (pos: string | undefined, o: ServiceOpts & { socket: string }) => {
      // As ipvsadm -Z: no service zeroes them all; a VIP without its port is an error naming the port, not a guess.
      const service = optionalServiceFrom(pos, o);
      await api(o, 'POST', '/v1/zero', service ? { service } : {});
      process.stdout.write('xlvs: counters zeroed\n');
    },
  );
}
