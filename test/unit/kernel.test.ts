// SPDX-License-Identifier: Apache-2.0
// kernel.test.ts: the kernel feature table, the refusal for missing features, and the diagnosis of load failures from verifier logs.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fallbacks, featureReport, KERNEL_FEATURES, missingRequired, type ProbeOutcome } from '../../src/core/kernel';
import { diagnoseLoad, loadFailureMessage } from '../../src/core/loadfailure';

const all = (v: ProbeOutcome) => new Map(KERNEL_FEATURES.map((f) => [f.name, v] as [string, ProbeOutcome]));

test('a kernel with every feature: no refusal, no fallback', () => {
  const r = featureReport(all(true));
  assert.equal(missingRequired(r, '6.18.0'), null);
  assert.deepEqual(fallbacks(r), []);
});

test('a missing required feature is refused by name with the version it needs; a probe error counts as missing', () => {
  const o = all(true);
  o.set('bpf_loop', false);
  o.set('bpf_for_each_map_elem', { error: 'bpf_prog_load: Bad address (EFAULT)' });
  const msg = missingRequired(featureReport(o), '5.15.0-91-generic');
  assert.ok(msg);
  assert.match(msg, /this kernel \(5\.15\.0-91-generic\) lacks/);
  assert.match(msg, /bpf_loop: needs Linux 5\.17 or later/);
  assert.match(msg, /bpf_for_each_map_elem: needs Linux 5\.13 or later .*the probe failed: bpf_prog_load: Bad address/);
  // the XDP link has no probe of its own: it goes with bpf_loop
  assert.match(msg, /XDP bpf_link .*needs Linux 5\.9/);
  assert.match(msg, /supports Linux 6\.1 and later/);
});

test('probes that were not allowed to run blame the permissions, not the kernel', () => {
  const msg = missingRequired(featureReport(all({ error: 'libbpf_probe_bpf_prog_type: Operation not permitted (EPERM)' })), '6.1.0');
  assert.ok(msg);
  assert.match(msg, /cannot probe this kernel's \(6\.1\.0\) BPF features: permission denied/);
  assert.match(msg, /CAP_BPF/);
  assert.doesNotMatch(msg, /lacks/);
});

test('a missing optional feature falls back and says how', () => {
  const o = all(true);
  o.set('live frames (BPF_F_TEST_XDP_LIVE_FRAMES)', false);
  const r = featureReport(o);
  assert.equal(missingRequired(r, '5.17.0'), null);
  assert.deepEqual(fallbacks(r), ["live frames (BPF_F_TEST_XDP_LIVE_FRAMES) (Linux 5.18) is missing: the benchmark's live-frame sections are skipped"]);
});

test('every feature has a version, a use and a probe; optional ones say what happens without them', () => {
  for (const f of KERNEL_FEATURES) {
    assert.match(f.since, /^\d+\.\d+$/, f.name);
    assert.ok(f.usedFor.length > 0, f.name);
    assert.equal(f.required, !f.fallback, `${f.name}: a fallback exactly when optional`);
  }
  assert.equal(new Set(KERNEL_FEATURES.map((f) => f.name)).size, KERNEL_FEATURES.length, 'names are unique');
});

test('the README lists every kernel feature with its version', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  for (const f of KERNEL_FEATURES) {
    const row = readme.split('\n').find((l) => l.startsWith(`| ${f.name} |`));
    assert.ok(row, `README has a row for ${f.name}`);
    assert.ok(row.includes(`| ${f.since} |`), `README gives ${f.since} for ${f.name}: ${row}`);
  }
});

const tooLarge = [
  '2015: (85) call bpf_loop#181',
  'BPF program is too large. Processed 1000001 insn',
  'processed 1000001 insns (limit 1000000) max_states_per_insn 35 total_states 31824 peak_states 98287 mark_read 0',
].join('\n');

test('diagnosis: each verifier reason is recognised', () => {
  const fail = (log: string, code = 'EACCES') => ({
    code,
    syscall: 'bpf_object__load',
    message: `bpf_object__load: Permission denied (${code}), build/bpf/xlvs.o, program 'xlvs_sweep'`,
    log,
  });
  let d = diagnoseLoad({ ...fail(tooLarge, 'E2BIG') });
  assert.equal(d.reason, 'complexity limit');
  assert.equal(d.program, 'xlvs_sweep');
  assert.match(d.detail, /after 1000001 instructions/);
  d = diagnoseLoad(fail('0: (85) call unknown#181\ninvalid func unknown#181\nprocessed 1 insns', 'EINVAL'));
  assert.equal(d.reason, 'unknown helper');
  assert.match(d.detail, /helper #181/);
  d = diagnoseLoad(fail('12: (85) call bpf_loop#181\nunknown func bpf_loop#181\n', 'EINVAL'));
  assert.equal(d.reason, 'unknown helper');
  assert.match(d.detail, /bpf_loop is not available to this program \(it needs Linux 5\.17\)/);
  d = diagnoseLoad(fail('48: (0f) r4 += r3\nmath between pkt pointer and register with unbounded min value is not allowed\n'));
  assert.equal(d.reason, 'invalid access');
  d = diagnoseLoad(fail('5: (95) exit\nsomething new the verifier says\n'));
  assert.equal(d.reason, 'rejected');
  assert.equal(d.detail, 'something new the verifier says');
  d = diagnoseLoad(fail("809: (63) *(u32 *)(r5 +28) = r1\nR5 invalid mem access 'scalar'\n"));
  assert.equal(d.reason, 'invalid access');
  assert.match(d.detail, /R5 invalid mem access/);
  d = diagnoseLoad({
    code: 'EINVAL',
    syscall: 'bpf_object__load',
    message: 'bpf_object__load: Invalid argument (EINVAL), xlvs.o',
    log: 'libbpf: Error loading BTF: Invalid argument(22)\nInvalid BTF total size\n',
  });
  assert.equal(d.reason, 'missing BTF');
  d = diagnoseLoad({ code: 'EPERM', syscall: 'bpf_object__load', message: 'bpf_object__load: Operation not permitted (EPERM), xlvs.o' });
  assert.equal(d.reason, 'permission denied');
  assert.match(d.advice, /CAP_BPF/);
  d = diagnoseLoad({
    code: 'ENOENT',
    syscall: 'bpf_object__open_file',
    message: 'bpf_object__open_file: No such file or directory (ENOENT), build/bpf/xlvs.o',
  });
  assert.equal(d.reason, 'object missing');
  assert.match(d.advice, /npm run setup/);
});

test("the message names the program, the reason, the kernel, the log's last lines and what to do", () => {
  const msg = loadFailureMessage(
    {
      code: 'E2BIG',
      syscall: 'bpf_object__load',
      message: "bpf_object__load: Argument list too long (E2BIG), build/bpf/xlvs.o, program 'xlvs_sweep'",
      log: tooLarge,
    },
    '6.18.44',
    'xlvs.o',
  );
  assert.match(
    msg,
    /^cannot load the XDP datapath: program 'xlvs_sweep' of xlvs\.o on Linux 6\.18\.44: complexity limit: the verifier gave up after 1000001 instructions/,
  );
  assert.match(msg, /last lines of the verifier log:\n {4}2015: \(85\) call bpf_loop#181\n {4}BPF program is too large/);
  assert.match(msg, /what to do: this is a bug in xlvs for this kernel/);
  assert.doesNotMatch(msg, /is BPF available/);
});
