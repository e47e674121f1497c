// SPDX-License-Identifier: Apache-2.0
// top.ts: `xlvs top`: a live view of services, reals, weights, health and rates from the daemon, redrawn every interval.

import type { Command } from 'commander';
import type { ServiceListing } from '../../core/listing';
import { frame, type History, record } from '../../core/topview';
import { api, intFlag, withSocket } from '../socket';

export function registerTop(program: Command): void {
  withSocket(
    program
      .command('top')
      .description('live view of services and reals with rates and a packets/s sparkline (q or Ctrl-C quits)')
      .option('-d, --delay <seconds>', 'seconds between refreshes', '1')
      .option('-n, --iterations <n>', 'frames to draw before exiting (default: forever on a terminal, 1 otherwise)')
      .option('--json', 'each frame as one line of JSON (the listing xlvs list --json prints), no screen handling; -n1 for a single snapshot'),
  ).action(async (o: { delay: string; iterations?: string; json?: boolean; socket: string }) => {
    const delay = intFlag('--delay', o.delay, 1, 3600)!;
    // A JSON reader is a program, not a terminal: no alternate screen, no raw keyboard, one frame unless -n says more.
    const tty = !!process.stdout.isTTY && !o.json;
    const iterations = intFlag('--iterations', o.iterations, 1, 1_000_000) ?? (tty ? Infinity : 1);
    // NO_COLOR (no-color.org): any non-empty value turns colour off; plain output when not a terminal.
    const color = tty && !process.env.NO_COLOR;
    const h: History = new Map();
    let stop = false;
    let wake: (() => void) | undefined;
    const quit = () => {
      stop = true;
      wake?.();
    };
    if (tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (d: Buffer) => {
        if (d.includes(0x71) || d.includes(0x03)) quit(); // q or Ctrl-C (raw mode delivers it as a byte)
      });
    }
    process.once('SIGINT', quit);
    if (tty) process.stdout.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden: the shell's screen comes back on exit
    try {
      for (let i = 0; i < iterations && !stop; i++) {
        const l = await api<ServiceListing[]>(o, 'GET', '/v1/services');
        if (o.json) {
          process.stdout.write(`${JSON.stringify(l)}\n`);
        } else {
          record(h, l);
          const text = frame(l, h, { color, now: new Date(), source: o.socket, ascii: !tty });
          process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
        }
        if (i + 1 < iterations)
          await new Promise<void>((r) => {
            const t = setTimeout(r, delay * 1000);
            wake = () => {
              clearTimeout(t);
              r();
            };
          });
      }
    } finally {
      if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
      if (tty && process.stdin.isTTY) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      process.removeListener('SIGINT', quit);
    }
  });
}
