// SPDX-License-Identifier: Apache-2.0
// checkreport.ts: the text both `realserver check` and `doctor` print: one row per check with its result, then how to fix each failure.

import { table } from './texttable';

export { table };

export type Status = 'pass' | 'fail' | 'skip';

/** One row of a report: a check, the VIP it is about (if any), its result. */
export interface CheckResult {
  check: string;
  vip?: string;
  status: Status;
  detail: string;
  /** How to fix a failure. */
  hint?: string;
}

export const MARK: Record<Status, string> = { pass: 'ok', fail: 'FAIL', skip: 'skip' };

/** "to fix:" and the hint of each failure that has one; empty when there is none. */
export function hintsBlock(items: { label: string; hint?: string; status: Status }[]): string {
  const failed = items.filter((i) => i.status === 'fail' && i.hint);
  if (!failed.length) return '';
  return `\nto fix:\n${failed.map((f) => `  ${f.label}: ${f.hint}`).join('\n')}\n`;
}
