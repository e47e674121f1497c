// SPDX-License-Identifier: Apache-2.0
// pinguard.ts: keeps a running daemon's pins in place (bpffs remounted and objects re-pinned if they vanish under it).

import type { Datapath } from './datapath';
import type { EventSink } from './event';
import { ensureBpffs } from './host';

/**
 * The pins are what outlives this process: bpffs unmounted or the pins removed under a running daemon would leave
 * the next one nothing to adopt (its start would detach and reload, dropping every tracked connection). This
 * process still holds every object, so it mounts bpffs again if it must and re-pins them.
 */
export class PinGuard {
  /** The last re-pin failure, logged once rather than at every check. */
  private lastError: string | undefined;

  constructor(private readonly event: EventSink) {}

  check(dp: Datapath, pins: string): void {
    try {
      const mounted = ensureBpffs();
      const remade = dp.repin(pins);
      if (remade.length) this.event('warn', 'pins were gone (bpffs unmounted or pins removed): pinned again', { pins, remade, mounted_bpffs: mounted });
      this.lastError = undefined;
    } catch (e) {
      const err = (e as Error).message;
      if (err !== this.lastError) this.event('error', 'cannot re-pin the datapath: it forwards, but a restart would not find it', { pins, err });
      this.lastError = err;
    }
  }
}
