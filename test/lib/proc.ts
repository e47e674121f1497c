// SPDX-License-Identifier: Apache-2.0
// proc.ts: test helpers about processes: waiting for one to be gone (killed with its process group).

import * as fs from 'node:fs';

/** True once pid is gone or a zombie waiting for its reaper (killed all the same); false if it still runs after ~1 s. */
export async function waitGone(pid: number, tries = 50): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    let state = 'gone';
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0]!;
    } catch {
      /* gone */
    }
    if (state === 'gone' || state === 'Z') return true;
    await new Promise((res) => setTimeout(res, 20));
  }
  return false;
}
