// SPDX-License-Identifier: Apache-2.0
// verifier.test.ts: every BPF program stays within its verifier budget on this kernel and on Debian 12's 6.1, and a program that does not load is explained.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { builtObjects, probeKernel, verifierCosts } from '../../src/adapters/kernelprobe';
import { repoRoot } from '../../src/adapters/native';
import { VERIFIER_BUDGET } from '../../src/core/kernel';
import { requirePrivileges } from '../lib/privileged';

/** XLVS_VERIFIER_BUDGET lowers the budget for one run, to see this test fail. */
const budget = Number(process.env.XLVS_VERIFIER_BUDGET ?? VERIFIER_BUDGET);

function overBudget(costs: { object: string; program: string; verifiedInsns: number | null }[]): string[] {
  return costs
    .filter((c) => c.verifiedInsns === null || c.verifiedInsns > budget)
    .map((c) => `${c.object} ${c.program}: ${c.verifiedInsns ?? 'unknown'} processed instructions`);
}

test(`every program of every built object verifies within ${budget.toLocaleString('en')} processed instructions on this kernel (${os.release()})`, async () => {
  requirePrivileges('verifier budget');
  const objects = builtObjects();
  assert.ok(
    objects.some((o) => o.endsWith('/xlvs.o')),
    'build/bpf/xlvs.o is built',
  );
  const costs = await verifierCosts(objects);
  for (const prog of ['xlvs_xdp', 'xlvs_sweep', 'xlvs_syncin'])
    assert.ok(
      costs.some((c) => c.object === 'xlvs.o' && c.program === prog),
      `xlvs.o holds ${prog}`,
    );
  assert.deepEqual(overBudget(costs), [], `over the budget of ${budget}`);
});

test("every program verifies within the budget on Debian 12's stock kernel (6.1, booted under qemu by scripts/kernels.sh)", { timeout: 1_200_000 }, () => {
  requirePrivileges('kernel matrix');
  const r = spawnSync('bash', [path.join(repoRoot(), 'scripts', 'kernels.sh')], { encoding: 'utf8', timeout: 1_100_000 });
  const json = r.stdout.split('\n').find((l) => l.startsWith('{'));
  assert.ok(json, `kernels.sh printed no result (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(json) as { kernel: string; results: { object: string; program: string; loaded: boolean; insns: number | null; error?: string }[] };
  assert.match(res.kernel, /^6\.1\./, 'the VM ran a 6.1 kernel');
  const failed = res.results.filter((x) => !x.loaded).map((x) => `${x.object} ${x.program}: ${x.error}`);
  assert.deepEqual(failed, [], `programs that do not load on ${res.kernel}`);
  assert.deepEqual(
    overBudget(res.results.map((x) => ({ object: x.object, program: x.program, verifiedInsns: x.insns }))),
    [],
    `over the budget on ${res.kernel}`,
  );
  assert.equal(r.status, 0);
});

test('every kernel feature xlvs requires is found on this kernel', async () => {
  requirePrivileges('kernel probes');
  const missing = (await probeKernel()).filter((r) => !r.present).map((r) => `${r.feature.name}${r.error ? ` (${r.error})` : ''}`);
  assert.deepEqual(missing, []);
});

/** Compiles one small XDP program into a temporary object. */
function compile(dir: string, name: string, body: string): string {
  const src = path.join(dir, `${name}.bpf.c`);
  const obj = path.join(dir, `${name}.o`);
  fs.writeFileSync(src, `#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n${body}\nchar LICENSE[] SEC("license") = "GPL";\n`);
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${execFileSync('uname', ['-m']).toString().trim()}-linux-gnu`, '-c', src, '-o', obj]);
  return obj;
}

test("a program the verifier rejects is named, with the reason, the log's last lines, the kernel and what to do", async () => {
  requirePrivileges('load failures');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-verifier-'));
  try {
    const helper = compile(dir, 'badhelper', 'SEC("xdp") int bad_helper(struct xdp_md *ctx) { return ((long (*)(void))999)(); }');
    await assert.rejects(verifierCosts([helper]), (e: Error) => {
      assert.match(e.message, /program 'bad_helper' of badhelper\.o/);
      assert.match(e.message, /unknown helper/);
      assert.match(e.message, new RegExp(`Linux ${os.release().replace(/[.+]/g, '\\$&')}`));
      assert.match(e.message, /last lines of the verifier log:\n {4}\S/);
      assert.match(e.message, /what to do: upgrade the kernel/);
      assert.doesNotMatch(e.message, /is BPF available/);
      return true;
    });
    const oob = compile(dir, 'oob', 'SEC("xdp") int out_of_bounds(struct xdp_md *ctx) { unsigned char *d = (unsigned char *)(long)ctx->data; return d[64]; }');
    await assert.rejects(verifierCosts([oob]), (e: Error) => {
      assert.match(e.message, /program 'out_of_bounds' of oob\.o/);
      assert.match(e.message, /invalid access: .*invalid access to packet/);
      assert.match(e.message, /what to do: this is a bug in xlvs/);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
