// SPDX-License-Identifier: Apache-2.0
// clock.ts: the daemon's clock for durations and schedules: monotonic, so stepping the wall clock (NTP, an operator's `date -s`) moves no timer, ramp or rate.

import { performance } from 'node:perf_hooks';

/** Milliseconds on a monotonic clock (performance.now: since this process started); only differences mean anything. */
export function monotonicMs(): number {
  return performance.now();
}
