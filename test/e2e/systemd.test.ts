// SPDX-License-Identifier: Apache-2.0
// systemd.test.ts: the daemon in the namespace lab under contrib/xlvs.service's sandbox (its capability bounding set, NoNewPrivileges, RestrictAddressFamilies) brings DR-checked reals up, forwards traffic and runs the ARP guard without a refused socket.
//
// XLVS_UNIT_FILE=PATH runs the same test against another unit (an older one, say, which must fail it).
//
// RestrictAddressFamilies is emulated by the seccomp filter systemd itself would install (src/lab/systemd.ts, through
// Debian's python3-seccomp), not by tracing the daemon's socket() calls under strace and comparing families: the
// filter makes the daemon meet the refusal it would meet under systemd (EAFNOSUPPORT, before any capability check),
// so the test asserts what an operator sees (reals up, traffic through, no errors) rather than a list of families,
// and a path strace never saw, or one that copes with a refusal, is judged by its effect.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ADDR, type DirectorProcess, realAddress } from '../../src/lab/drnet';
import { readUnitSandbox, SYSTEM_PYTHON, sandboxArgv, type UnitSandbox } from '../../src/lab/systemd';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LogLine {
  level?: number;
  msg?: string;
  mac?: string;
  real?: string | null;
  vip?: string;
  err?: string;
}

describe("xlvs daemon under the systemd unit's sandbox (namespace lab)", { timeout: 180_000 }, () => {
  let unitFile = '';
  let sandbox: UnitSandbox | undefined;
  let daemon: DirectorProcess | undefined;
  const L = useLab({ reals: 2, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    unitFile = process.env.XLVS_UNIT_FILE ?? path.join(l.repoRoot, 'contrib', 'xlvs.service');
    sandbox = readUnitSandbox(unitFile);
    // A missing tool is a failure, not a skip: without it the daemon would run unconfined and prove nothing.
    const py = spawnSync(SYSTEM_PYTHON, ['-c', 'import seccomp'], { encoding: 'utf8' });
    assert.equal(py.status, 0, `${SYSTEM_PYTHON} cannot import seccomp (scripts/setup.sh installs python3-seccomp): ${py.error ?? py.stderr}`);
    // Reals start down: each must pass two DR-path probes (packet socket) before it takes a connection, so "up"
    // cannot be the initial state surviving probes that never ran. The ARP guard asks every 500 ms.
    const text = l
      .directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1] }])
      .replace('services:\n', 'arp_guard_interval_ms: 500\nservices:\n')
      .replace('    reals:\n', '    check: { type: tcp, mode: dr, interval_ms: 300, timeout_ms: 200, rise: 2, fall: 2, initial: down }\n    reals:\n');
    const file = path.join(l.workDir, 'systemd.yaml');
    fs.writeFileSync(file, text);
    daemon = await l.startDaemon(file, [], 30_000, { wrap: sandboxArgv(sandbox) });
  });
  const logLines = (): LogLine[] =>
    daemon!
      .output()
      .split('\n')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      });
  /** The daemon's log for a failure message, a run of lines that differ only in time shown once with its count. */
  const tail = () => {
    const out: { key: string; line: string; n: number }[] = [];
    for (const line of (daemon?.output() ?? '').split('\n').filter(Boolean)) {
      const key = line.replace(/"time":"[^"]*",?/, '');
      const last = out[out.length - 1];
      if (last?.key === key) last.n++;
      else out.push({ key, line, n: 1 });
    }
    const log = out.map((o) => (o.n > 1 ? `${o.line} (x${o.n})` : o.line)).join('\n');
    return `\nunit: ${unitFile}\ndaemon log:\n${log.slice(-6000)}`;
  };
  const listJson = async () => {
    const l = L();
    return JSON.parse((await l.xlvs(['list', '--json', '--socket', l.daemonSocket()], { timeoutMs: 20_000 })).stdout) as any[];
  };
  const waitFor = async (what: string, ms: number, pred: () => Promise<boolean> | boolean, state: () => string = () => ''): Promise<void> => {
    for (const end = Date.now() + ms; !(await pred()); await sleep(100)) {
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${state()}${tail()}`);
    }
  };

  test("the daemon runs with exactly the unit's bounding set, no_new_privs and a seccomp filter", (t) => {
    L();
    const s = sandbox!;
    // ip netns exec, sh, setpriv and python all exec in place, so the lab's pid is the daemon's.
    const status = fs.readFileSync(`/proc/${daemon!.pid}/status`, 'utf8');
    const field = (k: string, text = status) => new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(text)?.[1];
    assert.equal(field('Name'), 'node', status);
    // Capability numbers from the kernel's own header (linux-libc-dev), not a table copied here.
    const capNum = new Map(
      [...fs.readFileSync('/usr/include/linux/capability.h', 'utf8').matchAll(/^#define (CAP_[A-Z_]+)\s+(\d+)\s*$/gm)].map((m) => [m[1]!, BigInt(m[2]!)]),
    );
    // A bounding set only ever shrinks: what this test runner lacks (CAP_SYS_RESOURCE in some containers) neither
    // setpriv nor systemd could give.
    const ours = BigInt(`0x${field('CapBnd', fs.readFileSync('/proc/self/status', 'utf8'))}`);
    const want = s.boundingSet!.reduce((m, c) => {
      const n = capNum.get(c);
      assert.ok(n !== undefined, `${c} (in ${unitFile}) is not in linux/capability.h`);
      return m | (1n << n);
    }, 0n);
    const lacking = s.boundingSet!.filter((c) => !((ours >> capNum.get(c)!) & 1n));
    if (lacking.length) t.diagnostic(`this host's bounding set lacks ${lacking.join(' ')}, so the daemon runs without ${lacking.length > 1 ? 'them' : 'it'}`);
    assert.equal(BigInt(`0x${field('CapBnd')}`), want & ours, `CapBnd ${field('CapBnd')} vs ${s.boundingSet!.join(' ')}`);
    // Root's permitted and effective sets after exec are the bounding set: what systemd gives the service too.
    assert.equal(field('CapEff'), field('CapBnd'));
    assert.equal(field('CapPrm'), field('CapBnd'));
    if (s.noNewPrivileges) assert.equal(field('NoNewPrivs'), '1');
    assert.equal(field('Seccomp'), s.addressFamilies ? '2' : '0', 'seccomp filter mode');
  });

  test('DR-path health checks bring both reals up and the director forwards to both', async () => {
    const l = L();
    let reals: any[] = [];
    await waitFor(
      'both reals up through DR-path probes',
      10_000,
      async () => {
        reals = (await listJson())[0].reals;
        return reals.every((r) => r.health === 'up' && r.schedulable && /SYN-ACK from 10\.0\.0\.100:80/.test(r.healthDetail?.detail ?? ''));
      },
      () => `\n${reals.map((r) => `${r.address}: ${r.health}, ${r.healthDetail?.detail}`).join('\n')}`,
    );
    const before = await l.directorStatus();
    const r = await l.runClient('tcp', { port: 80, count: 40, timeoutMs: 3000 });
    const after = await l.directorStatus();
    assert.equal(r.failures, 0, `${JSON.stringify(r.errors)}${tail()}`);
    assert.deepEqual(Object.keys(r.counts).sort(), ['rs1', 'rs2'], JSON.stringify(r.counts));
    assert.ok(after.verdicts.tx_new - before.verdicts.tx_new >= 40, `XDP scheduled ${after.verdicts.tx_new - before.verdicts.tx_new} new connections`);
  });

  test('the ARP guard asks and hears: a real answering for the VIP is reported', async () => {
    const l = L();
    // rs1 starts answering ARP for the VIP it holds on lo: only the guard's own "who has" rounds ask for it from the
    // director, so a claim proves the packet socket both sent and received.
    await l.exec('rs1', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.eth0.arp_ignore=0']);
    await waitFor('the claim of rs1', 5000, () =>
      logLines().some((e) => e.msg === 'VIP claimed by another MAC' && e.mac === l.macs.rs1!.toLowerCase() && e.real === realAddress(1) && e.vip === ADDR.vip),
    );
  });

  test('nothing was refused: no EPERM or EAFNOSUPPORT, no failed guard round, never all reals down', () => {
    L();
    const unique = (lines: string[]) => [...new Set(lines.map((l) => l.replace(/"time":"[^"]*",?/, '')))];
    const lines = daemon!.output().split('\n');
    assert.deepEqual(unique(lines.filter((l) => /EPERM|EAFNOSUPPORT|EACCES|not permitted|not supported/i.test(l))), [], 'refused');
    assert.deepEqual(unique(lines.filter((l) => /all reals down/.test(l))), [], 'all reals down');
    assert.deepEqual(
      unique(
        logLines()
          .filter((e) => (e.level ?? 0) >= 40 && e.msg !== 'VIP claimed by another MAC')
          .map((e) => JSON.stringify(e)),
      ),
      [],
      'warnings or errors besides the claim',
    );
  });
});
