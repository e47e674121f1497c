// SPDX-License-Identifier: Apache-2.0
// privileged.ts: guards for suites that need root and BPF: they fail loudly instead of skipping.

import * as fs from 'node:fs';

export function requirePrivileges(suite: string): void {
  if (process.geteuid?.() !== 0) throw new Error(`${suite} must run as root (it loads BPF programs and builds namespaces); refusing to skip`);
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) throw new Error(`${suite} needs a kernel with BPF and BTF (/sys/kernel/btf/vmlinux missing)`);
}
