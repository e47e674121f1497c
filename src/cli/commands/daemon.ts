// SPDX-License-Identifier: Apache-2.0
// daemon.ts: `xlvs daemon --config FILE`: the long-running director (systemd Type=simple), JSON-lines logs on stdout; SIGHUP reloads, SIGTERM leaves flows running.

import type { Command } from 'commander';
import { Daemon } from '../../adapters/daemon';
import { withSocket } from '../socket';

export function registerDaemon(program: Command): void {
  withSocket(
    program
      .command('daemon')
      .description('run the director in the foreground with a runtime API; exiting (or crashing) leaves the datapath attached, "xlvs down" removes it')
      .requiredOption('-c, --config <file>', 'YAML config file; every accepted runtime change is written back to it')
      .option('--object <file>', "BPF object to load (default: the build's xlvs.o)"),
  ).action(async (opts: { config: string; socket: string; object?: string }) => {
    const d = new Daemon({ configFile: opts.config, socket: opts.socket, ...(opts.object ? { objPath: opts.object } : {}) });
    // SIGHUP's default action is to terminate: an early `systemctl reload` must not kill a daemon still starting,
    // so the handler is in place first and a reload asked for meanwhile runs once start-up is done.
    let started = false;
    let hupPending = false;
    const reload = (): void => {
      d.reload().catch((e: Error) => d.log.error({ err: e.message }, 'reload refused; still running the previous config'));
    };
    const onHup = (): void => {
      if (started) reload();
      else hupPending = true;
    };
    process.on('SIGHUP', onHup);
    try {
      await d.start();
    } catch (e) {
      process.off('SIGHUP', onHup);
      await d.stop().catch(() => undefined);
      throw e;
    }
    started = true;
    if (hupPending) reload();
    await new Promise<void>((resolve) => {
      const done = (sig: string): void => {
        d.log.info({ signal: sig }, 'exiting; the datapath stays attached');
        process.off('SIGHUP', onHup);
        void d.stop().finally(resolve);
      };
      process.once('SIGINT', () => done('SIGINT'));
      process.once('SIGTERM', () => done('SIGTERM'));
      // Only once the handlers are in place: whoever waits for "ready" may signal at once.
      d.logReady();
    });
  });
}
