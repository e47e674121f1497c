// SPDX-License-Identifier: Apache-2.0
// labfixture.ts: one namespace lab per test file: built in before(), torn down in after(), and a setup failure rethrown by every test.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { DrLab, type LabOptions } from '../../src/lab/drnet';

/**
 * A setup failure (not root, no xlvs, director never ready) is kept and rethrown by every test,
 * so the run reports failed tests rather than cancelled or skipped ones.
 */
export function useLab(opts: LabOptions, prepare: (lab: DrLab) => Promise<void> = async () => {}): () => DrLab {
  let lab: DrLab | undefined;
  let setupError: unknown;
  before(async () => {
    try {
      assert.equal(process.getuid?.(), 0, 'the e2e tests must run as root');
      lab = await DrLab.create(opts);
      await prepare(lab);
    } catch (e) {
      setupError = e;
    }
  });
  after(async () => {
    await lab?.teardown();
  });
  return () => {
    if (setupError) throw setupError;
    assert.ok(lab, 'lab was not built');
    return lab;
  };
}
