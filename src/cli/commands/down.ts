// SPDX-License-Identifier: Apache-2.0
// down.ts: `xlvs down`: detach the datapath a daemon left running, remove its VIPs and pins (drops every tracked connection).

import * as fs from 'node:fs';
import type { Command } from 'commander';
import { drainFile } from '../../adapters/announce';
import { socketLive } from '../../adapters/api';
import { down } from '../../adapters/daemon';
import { RuntimeError } from '../../core/errors';
import { interfaceFrom, loadConfigFile } from '../options';
import { withSocket } from '../socket';

export function registerDown(program: Command): void {
  withSocket(
    program
      .command('down')
      .description('detach and unpin the datapath left by "xlvs daemon" (stop the daemon first); with --config also removes its VIPs')
      .option('-c, --config <file>', "the daemon's config (for its interface and VIPs)")
      .option('-i, --interface <name>', 'the interface (VIPs are then left alone)'),
  ).action(async (opts: { config?: string; interface?: string; socket: string }) => {
    if (await socketLive(opts.socket)) throw new RuntimeError(`a daemon is still running on ${opts.socket}: stop it first (systemctl stop xlvs)`);
    const target = opts.config && !opts.interface ? loadConfigFile(opts.config) : { interface: interfaceFrom(opts) };
    const done = down(target);
    // The next daemon starts afresh: a drain belonged to the datapath just taken down.
    if (fs.existsSync(drainFile(opts.socket))) {
      fs.rmSync(drainFile(opts.socket));
      done.push('ended the drain');
    }
    process.stdout.write(done.length ? done.map((l) => `xlvs: ${l}\n`).join('') : 'xlvs: nothing attached or pinned\n');
  });
}
