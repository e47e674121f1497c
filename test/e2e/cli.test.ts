// SPDX-License-Identifier: Apache-2.0
// cli.test.ts: `xlvs up`/`status` as an operator meets them: exit codes, messages naming the field, nothing applied on failure, clean detach.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../../src/adapters/native';
import { requirePrivileges } from '../lib/privileged';

const tag = `xc${process.pid % 100000}`;
const NS = `${tag}d`; // the director
const PEER = `${tag}r`; // one real server, 10.0.0.11
const BPFFS = `/run/xlvs-test-bpf-${tag}`;
const root = repoRoot();
const xlvs = path.join(root, 'bin', 'xlvs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-cli-'));

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** argv run in the director namespace with the shared bpffs, as a real host would have it. */
function inDirector(argv: string[]): string[] {
  return ['ip', 'netns', 'exec', NS, 'sh', '-c', `mount --bind ${BPFFS} /sys/fs/bpf && exec "$@"`, 'sh', ...argv];
}

function run(argv: string[], opts: { uid?: number } = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function config(name: string, text: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  fs.chmodSync(tmp, 0o755);
  fs.chmodSync(f, 0o644);
  return f;
}

const GOOD = `interface: eth0
services:
  - vip: 10.0.0.100
    port: 80
    protocol: tcp
    reals:
      - { address: 10.0.0.11, weight: 1 }
`;

function xdpAttached(): boolean {
  return /prog\/xdp/.test(sh(['ip', '-n', NS, '-d', 'link', 'show', 'dev', 'eth0']));
}

function pins(): string[] {
  const d = path.join(BPFFS, 'xlvs', 'eth0');
  return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

function vipPresent(): boolean {
  return sh(['ip', '-n', NS, '-4', 'addr', 'show', 'dev', 'eth0']).includes('10.0.0.100/32');
}

function assertNothingApplied(what: string): void {
  assert.equal(xdpAttached(), false, `${what}: XDP left attached`);
  assert.deepEqual(pins(), [], `${what}: pins left behind`);
  assert.equal(vipPresent(), false, `${what}: VIP left on the interface`);
}

/** Starts `xlvs up` and resolves once it printed its ready line. */
function startUp(cfg: string): Promise<{ child: ReturnType<typeof spawn>; out: () => string }> {
  const child = spawn(inDirector([xlvs, 'up', '--config', cfg])[0]!, inDirector([xlvs, 'up', '--config', cfg]).slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`xlvs up not ready after 20 s:\n${out}`)), 20_000);
    child.stdout!.on('data', () => {
      if (out.includes('xlvs: ready')) {
        clearTimeout(t);
        resolve({ child, out: () => out });
      }
    });
    child.on('exit', (code) => reject(new Error(`xlvs up exited ${code}:\n${out}`)));
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(child.exitCode) : child.on('exit', (c) => r(c))));
}

before(() => {
  requirePrivileges('CLI end-to-end tests');
  for (const ns of [NS, PEER]) spawnSync('ip', ['netns', 'del', ns]);
  sh(['ip', 'netns', 'add', NS]);
  sh(['ip', 'netns', 'add', PEER]);
  sh(['ip', 'link', 'add', 'eth0', 'netns', NS, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER]);
  sh(['ip', '-n', NS, 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0']);
  sh(['ip', '-n', PEER, 'addr', 'add', '10.0.0.11/24', 'dev', 'eth0']);
  for (const ns of [NS, PEER]) {
    sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  fs.mkdirSync(BPFFS, { recursive: true });
  sh(['mount', '-t', 'bpf', 'bpf', BPFFS]);
});

after(() => {
  for (const ns of [NS, PEER]) spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('umount', [BPFFS]);
  fs.rmSync(BPFFS, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('bad config: exit 2, the field and value named, nothing applied', () => {
  const cases: [string, RegExp][] = [
    [GOOD.replace('weight: 1', 'weight: 70000'), /services\[0\]\.reals\[0\]\.weight: 70000 is outside 0\.\.65535/],
    [GOOD.replace('10.0.0.100', '10.0.0.256'), /services\[0\]\.vip: "10\.0\.0\.256" is not an IPv4 address/],
    [GOOD.replace('protocol: tcp', 'protocol: tcp\n    colour: blue'), /services\[0\]\.colour: unknown key/],
    [GOOD.replace('eth0', 'nope0'), /interface: "nope0" does not exist/],
    [GOOD.replace('10.0.0.11', '192.0.2.7'), /services\[0\]\.reals\[0\]\.address: 192\.0\.2\.7 is not on-link on eth0/],
    [`${GOOD}  - vip: 10.0.0.100\n    port: 80\n    protocol: tcp\n`, /services\[1\]: duplicate service 10\.0\.0\.100:80\/tcp/],
  ];
  for (const [text, re] of cases) {
    const r = run(inDirector([xlvs, 'up', '--config', config('bad.yaml', text)]));
    assert.equal(r.code, 2, `${re}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assertNothingApplied(String(re));
  }
});

test('usage errors exit 2', () => {
  assert.equal(run([xlvs, 'up']).code, 2, 'missing --config');
  assert.equal(run([xlvs, 'frobnicate']).code, 2, 'unknown command');
  assert.equal(run([xlvs, 'status', '--interface', 'eth0', '--config', 'x']).code, 2, 'both --interface and --config');
  const missing = run([xlvs, 'up', '--config', path.join(tmp, 'absent.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--config ".*absent\.yaml": cannot read: ENOENT/);
});

test('not root: exit 1 with a clear message', () => {
  const r = run([xlvs, 'up', '--config', config('good.yaml', GOOD)], { uid: 65534 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /needs root/);
});

test('status with no director running: exit 1', () => {
  const r = run(inDirector([xlvs, 'status', '--interface', 'eth0']));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is "xlvs up" running on that interface\?/);
});

test('an interface that already has an XDP program: exit 1, the other program untouched, nothing left behind', () => {
  sh(['ip', '-n', NS, 'link', 'set', 'dev', 'eth0', 'xdpgeneric', 'obj', path.join(root, 'build/bpf/xdp_pass.o'), 'sec', 'xdp']);
  try {
    const r = run(inDirector([xlvs, 'up', '--config', config('good.yaml', GOOD)]));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /eth0 already has an XDP program attached/);
    assert.ok(xdpAttached(), 'the other program was removed');
    assert.deepEqual(pins(), []);
    assert.equal(vipPresent(), false);
  } finally {
    sh(['ip', '-n', NS, 'link', 'set', 'dev', 'eth0', 'xdpgeneric', 'off']);
  }
});

test('up: ready, status shows the real with its MAC; SIGTERM removes the attachment, pins and VIP', async () => {
  const cfg = config('good.yaml', GOOD);
  const { child } = await startUp(cfg);
  try {
    assert.ok(xdpAttached());
    assert.ok(vipPresent());
    assert.ok(pins().includes('conn'));
    const st = run(inDirector([xlvs, 'status', '--config', cfg, '--json']));
    assert.equal(st.code, 0, st.stderr);
    const j = JSON.parse(st.stdout);
    const peerMac = JSON.parse(sh(['ip', '-n', PEER, '-j', 'link', 'show', 'dev', 'eth0']))[0].address;
    assert.deepEqual(j.services[0].reals[0], { address: '10.0.0.11', mac: peerMac, weight: 1, schedulable: true, stats: { packets: 0, bytes: 0, conns: 0 } });
    const text = run(inDirector([xlvs, 'status', '--interface', 'eth0']));
    assert.match(text.stdout, /TCP {2}10\.0\.0\.100:80/);
    assert.match(text.stdout, new RegExp(`-> 10\\.0\\.0\\.11:80 +${peerMac}`));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited(child), 0);
  assertNothingApplied('after SIGTERM');
});

test('kill -9: the kernel detaches the program; the next up clears the stale pins and starts', async () => {
  const cfg = config('good.yaml', GOOD);
  const first = await startUp(cfg);
  first.child.kill('SIGKILL');
  await exited(first.child);
  // `ip netns exec` forks: the link dies with the xlvs process itself, which may outlive the wrapper by a moment.
  for (let i = 0; i < 50 && xdpAttached(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(xdpAttached(), false, 'XDP still attached after kill -9');
  assert.ok(pins().length > 0, 'expected stale pins after kill -9');
  spawnSync('ip', ['-n', NS, 'addr', 'del', '10.0.0.100/32', 'dev', 'eth0']); // a crash cannot clean up its VIP
  const second = await startUp(cfg);
  second.child.kill('SIGINT');
  assert.equal(await exited(second.child), 0);
  assertNothingApplied('after SIGINT');
});
