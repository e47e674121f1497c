// SPDX-License-Identifier: Apache-2.0
// systemd.ts: reads the sandbox a systemd unit puts its service in (capabilities, NoNewPrivileges, address families) and builds a command prefix that puts a process in the same sandbox where no systemd runs.
import * as fs from 'node:fs';

export interface UnitSandbox {
  /** CapabilityBoundingSet (CAP_* names, upper case); null: not set, systemd leaves the full set. */
  boundingSet: string[] | null;
  /** AmbientCapabilities (CAP_* names); empty when not set. */
  ambient: string[];
  noNewPrivileges: boolean;
  /** RestrictAddressFamilies (AF_* names) as an allow-list; null: not set, every family allowed. */
  addressFamilies: string[] | null;
}

/** The [Service] settings of a unit file, each key's assignments in order (backslash continuations joined). */
export function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/**
 * The union of a list setting's assignments (systemd merges repeated allow-lists the same way). Deny-lists (`~`),
 * resets (an empty assignment) and `none` mean something else, which this emulation does not model: they throw
 * rather than yield a sandbox looser or tighter than the unit's.
 */
function allowList(settings: Map<string, string[]>, key: string, prefix: string): string[] | null {
  const values = settings.get(key);
  if (!values) return null;
  const out = new Set<string>();
  for (const v of values) {
    if (v === '' || v.startsWith('~') || v === 'none') throw new Error(`${key}=${v}: only allow-lists are emulated`);
    for (const name of v.split(/\s+/)) {
      if (!name.startsWith(prefix)) throw new Error(`${key}: ${JSON.stringify(name)} is not a ${prefix}* name`);
      out.add(name.toUpperCase());
    }
  }
  return [...out];
}

const YES = new Set(['1', 'yes', 'true', 'on']);

export function parseUnitSandbox(text: string): UnitSandbox {
  const s = serviceSettings(text);
  const nnp = s.get('NoNewPrivileges');
  return {
    boundingSet: allowList(s, 'CapabilityBoundingSet', 'CAP_'),
    ambient: allowList(s, 'AmbientCapabilities', 'CAP_') ?? [],
    noNewPrivileges: !!nnp && YES.has(nnp[nnp.length - 1]!.toLowerCase()),
    addressFamilies: allowList(s, 'RestrictAddressFamilies', 'AF_'),
  };
}

export function readUnitSandbox(file: string): UnitSandbox {
  return parseUnitSandbox(fs.readFileSync(file, 'utf8'));
}

/**
 * The filter systemd installs for RestrictAddressFamilies with an allow-list (seccomp_restrict_address_families() in
 * its seccomp-util.c), rule for rule through libseccomp (Debian's python3-seccomp): socket() fails with EAFNOSUPPORT
 * for a family below the lowest allowed, above the highest, or in a gap between; socketpair() is left alone, as
 * systemd leaves it. Family names resolve through Python's socket module, so no table of numbers is copied here.
 * Syscalls of other architectures stay allowed: systemd filters each one it supports separately, and the daemon
 * makes none. Then it execs the command after `--`; the filter holds for it and everything it starts.
 */
const SECCOMP_AF_SCRIPT = `
import errno, os, seccomp, socket, sys
i = sys.argv.index('--')
allowed = sorted({int(getattr(socket, n)) for n in sys.argv[1:i]})
f = seccomp.SyscallFilter(seccomp.ALLOW)
f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.ALLOW)
no = seccomp.ERRNO(errno.EAFNOSUPPORT)
f.add_rule_exactly(no, 'socket', seccomp.Arg(0, seccomp.LT, allowed[0]))
f.add_rule_exactly(no, 'socket', seccomp.Arg(0, seccomp.GT, allowed[-1]))
for af in range(1, allowed[-1]):
    if af not in allowed:
        f.add_rule_exactly(no, 'socket', seccomp.Arg(0, seccomp.EQ, af))
f.load()
os.execvp(sys.argv[i + 1], sys.argv[i + 1:])
`;

/** Debian's interpreter, which python3-seccomp is built for (a python3 earlier on PATH may not have the module). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

const capName = (c: string): string => c.replace(/^CAP_/, '').toLowerCase();

/**
 * argv to put before a command so it runs as root would under the unit: util-linux setpriv sets the bounding set
 * (for uid 0 the permitted and effective sets after exec are the bounding set, as under systemd), no inheritable
 * capabilities but the ambient ones, and no_new_privs; then the address-family filter, last, so that setpriv and
 * python are not confined by it. Loading it needs no_new_privs (or CAP_SYS_ADMIN, which the bounding set may have
 * dropped), so no_new_privs is set whenever there is a filter; for uid 0, whose capabilities the bounding set
 * already caps, it takes nothing more away.
 */
export function sandboxArgv(s: UnitSandbox): string[] {
  const caps = (names: string[]) => ['-all', ...names.map((c) => `+${capName(c)}`)].join(',');
  const argv = ['setpriv'];
  if (s.boundingSet) argv.push('--bounding-set', caps(s.boundingSet));
  argv.push('--inh-caps', caps(s.ambient));
  if (s.ambient.length) argv.push('--ambient-caps', caps(s.ambient));
  if (s.noNewPrivileges || s.addressFamilies) argv.push('--no-new-privs');
  argv.push('--');
  if (s.addressFamilies) {
    if (!s.addressFamilies.length) throw new Error('RestrictAddressFamilies: an empty allow-list');
    argv.push(SYSTEM_PYTHON, '-c', SECCOMP_AF_SCRIPT, ...s.addressFamilies, '--');
  }
  return argv;
}
