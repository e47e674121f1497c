// SPDX-License-Identifier: Apache-2.0
// loadfailure.ts: turns a failed BPF object load (errno, failing program, verifier log) into what failed, why, and what to do.

import { KERNEL_FEATURES, MIN_KERNEL, VERIFIER_LIMIT } from './kernel';

/** What the native layer reports of a failed load (the NativeError shape, without depending on the adapter). */
export interface LoadError {
  code: string;
  syscall: string;
  message: string;
  log?: string;
}

export type LoadReason =
  | 'complexity limit'
  | 'invalid access'
  | 'unknown helper'
  | 'missing BTF'
  | 'permission denied'
  | 'out of memory'
  | 'object missing'
  | 'pinned map mismatch'
  | 'rejected';

export interface LoadDiagnosis {
  reason: LoadReason;
  /** The program the verifier rejected, when it was one. */
  program: string | null;
  /** One sentence of detail taken from the log or the errno. */
  detail: string;
  /** The last lines of the verifier log (at most 12). */
  logTail: string[];
  advice: string;
}

const TAIL_LINES = 12;

/** libbpf names the program it was loading when the kernel said no. */
function failedProgram(e: LoadError): string | null {
  const m = /program '([^']+)'/.exec(e.message);
  return m ? m[1]! : null;
}

/** Helper ids the verifier names in "unknown func bpf_loop#181" (or "invalid func unknown#181"). */
function helperFromLog(log: string): string | null {
  const m = /(?:unknown|invalid) func ([a-z_0-9]+)?#(\d+)/.exec(log);
  if (!m) return null;
  return m[1] && m[1] !== 'unknown' ? m[1] : `helper #${m[2]}`;
}

export function diagnoseLoad(e: LoadError): LoadDiagnosis {
  const log = e.log ?? '';
  const lines = log
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  const logTail = lines.slice(-TAIL_LINES);
  const program = failedProgram(e);
  const found = (re: RegExp) => lines.find((l) => re.test(l));
  const bug = 'this is a bug in xlvs for this kernel: keep the log, report it with `uname -r`, and run the last xlvs release that loaded here';

  if (e.syscall === 'bpf_object__open_file' && e.code === 'ENOENT') {
    return {
      reason: 'object missing',
      program: null,
      detail: 'the compiled BPF object is not there',
      logTail: [],
      advice: 'build it: `npm run setup` (or `npm run build`)',
    };
  }
  if (e.syscall === 'bpf_map__reuse_fd') {
    return {
      reason: 'pinned map mismatch',
      program: null,
      detail: e.message,
      logTail: [],
      advice: 'the pinned maps come from another build or size: `xlvs down` the old director first (its flows are lost), or keep the old conn_table_size',
    };
  }
  const processed = /processed (\d+) insns/.exec(log);
  if (
    found(/BPF program is too large|too many states|is too complex|jumps is too complex/) ||
    (processed && Number(processed[1]) > VERIFIER_LIMIT) ||
    e.code === 'E2BIG'
  ) {
    return {
      reason: 'complexity limit',
      program,
      detail: `the verifier gave up${processed ? ` after ${processed[1]} instructions` : ''} (its limit is ${VERIFIER_LIMIT.toLocaleString('en')})`,
      logTail,
      advice: bug,
    };
  }
  const helper = found(/(?:unknown|invalid) func|cannot (?:call|use) helper|helper call is not allowed/);
  if (helper) {
    const name = helperFromLog(log);
    const feature = name ? KERNEL_FEATURES.find((f) => f.name === name) : undefined;
    return {
      reason: 'unknown helper',
      program,
      detail: `${name ?? 'a helper'} is not available to this program${feature ? ` (it needs Linux ${feature.since})` : ''}`,
      logTail,
      advice: `upgrade the kernel: xlvs supports Linux ${MIN_KERNEL} and later`,
    };
  }
  const btf = found(/BTF|btf/);
  if (btf || e.syscall.includes('btf')) {
    return {
      reason: 'missing BTF',
      program,
      detail: btf ?? e.message,
      logTail,
      advice: 'the kernel must support BTF (CONFIG_DEBUG_INFO_BTF=y, as Debian and Ubuntu kernels are built); with a custom kernel, enable it',
    };
  }
  const access = found(
    /invalid (?:mem )?access|invalid read|invalid write|out of bounds|min value is|max value is|R\d+ invalid|R\d+ !read_ok|unbounded memory access|pointer arithmetic/,
  );
  if (access) return { reason: 'invalid access', program, detail: access, logTail, advice: bug };
  // EACCES is also how the verifier says no: with a log it is a rejection, not a permission.
  if (e.code === 'EPERM' || (e.code === 'EACCES' && !lines.length)) {
    return {
      reason: 'permission denied',
      program,
      detail: e.message,
      logTail,
      advice:
        'run as root, or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW (contrib/xlvs.service); before 5.11 also raise the memlock limit (LimitMEMLOCK=infinity)',
    };
  }
  if (e.code === 'ENOMEM') {
    return { reason: 'out of memory', program, detail: e.message, logTail, advice: 'the maps do not fit: lower conn_table_size, or free memory' };
  }
  return { reason: 'rejected', program, detail: lines.length ? lines[lines.length - 1]! : e.message, logTail, advice: bug };
}

/** The operator's message: what failed, why, where, and what to do. */
export function loadFailureMessage(e: LoadError, kernel: string, object: string): string {
  const d = diagnoseLoad(e);
  const what = d.program ? `program '${d.program}' of ${object}` : object;
  const tail = d.logTail.length ? `\n  last lines of the verifier log:\n    ${d.logTail.join('\n    ')}` : '';
  return `cannot load the XDP datapath: ${what} on Linux ${kernel}: ${d.reason}: ${d.detail}${tail}\n  what to do: ${d.advice}`;
}
