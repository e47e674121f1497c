// SPDX-License-Identifier: Apache-2.0
// xlvsadmapi.ts: xlvsadm driven end to end against a controller served on a temporary API socket, for the ipvsadm tests.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { routes, serve } from '../../src/adapters/api';
import { runXlvsadm } from '../../src/cli/xlvsadm';
import type { Controller } from '../../src/core/controller';

/** Serves `ctl` (synced first) on a fresh socket, runs `body` with an xlvsadm that returns what it printed, then closes and removes it all. */
export async function withXlvsadm(ctl: Controller, body: (run: (line: string) => Promise<string>) => Promise<void>): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvsadm-'));
  const sock = path.join(tmp, 'xlvs.sock');
  await ctl.sync();
  const server = await serve(
    sock,
    routes(ctl, async () => undefined),
    () => undefined,
  );
  const run = async (line: string) => {
    let out = '';
    await runXlvsadm(line.split(' '), sock, (s) => {
      out += s;
    });
    return out;
  };
  try {
    await body(run);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
