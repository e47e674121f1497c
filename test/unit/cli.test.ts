// SPDX-License-Identifier: Apache-2.0
// cli.test.ts: the xlvs command line against a controller over the API socket: one address syntax, service settings, validate, --json.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { routes, serve } from '../../src/adapters/api';
import { traceInterface } from '../../src/cli/commands/trace';
import { buildProgram, exitCodeOf } from '../../src/cli/main';
import { type Config, parseConfig } from '../../src/core/config';
import { Controller } from '../../src/core/controller';
import { FakeDatapath } from '../lib/fakedatapath';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-cli-'));
const sock = path.join(tmp, 'xlvs.sock');
const BASE = `interface: eth0
services:
  - vip: 10.0.0.100
    port: 80
    scheduler: wrr
    reals:
      - { address: 10.0.0.11, weight: 1 }
      - { address: 10.0.0.12, weight: 1 }
`;

let ctl: Controller;
let server: http.Server;

before(async () => {
  ctl = new Controller(parseConfig(BASE), [], {
    datapath: new FakeDatapath(),
    resolve: (a) => new Map(a.map((x) => [x, `02:00:00:00:00:${x.split('.')[3]!.padStart(2, '0')}`])),
    check: () => undefined,
    persist: () => undefined,
    log: () => undefined,
    now: () => 0,
  });
  await ctl.sync();
  server = await serve(
    sock,
    routes(ctl, async () => ctl.sync()),
    () => undefined,
  );
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const BIN = path.join(__dirname, '..', '..', '..', 'bin');

/**
 * One run of the command as an operator types it, in a child process: exit code, stdout, and the message on stderr.
 * (Not in this process: node:test's reporter writes to this process's stdout, which a capture would swallow.)
 */
function run(cmd: 'xlvs' | 'xlvsadm', args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(BIN, cmd), ...args], { timeout: 30_000 }, (e, out, err) =>
      resolve({ code: e ? Number((e as { code?: unknown }).code ?? 1) : 0, out, err: err.replace(/^xlvs: /, '').trimEnd() }),
    );
  });
}
const xlvs = (...args: string[]) => run('xlvs', args);

/** A run expected to be refused before any output: in this process (a spawn costs a second on a busy machine). */
async function refused(...args: string[]): Promise<{ code: number; err: string }> {
  try {
    await buildProgram().parseAsync(['node', 'xlvs', ...args]);
  } catch (e) {
    return { code: exitCodeOf(e), err: e instanceof Error ? e.message : String(e) };
  }
  assert.fail(`${args.join(' ')}: not refused`);
}
const daemon = (...args: string[]) => xlvs(...args, '--socket', sock);
const svcOf = (vip: string, port: number, protocol = 'tcp') => ctl.config().services.find((s) => s.vip === vip && s.port === port && s.protocol === protocol);
/** A service's settings without its key, to compare two services made by two spellings of one command. */
const settings = (s: Config['services'][number] | undefined) => {
  assert.ok(s, 'the service exists');
  const { vip: _v, port: _p, ...rest } = s;
  return rest;
};

test('service add VIP:PORT and the deprecated --vip/--port make the same service; -u names a UDP one', async () => {
  assert.equal((await daemon('service', 'add', '10.0.0.101:443', '-s', 'wrr')).code, 0);
  assert.equal((await daemon('service', 'add', '--vip', '10.0.0.102', '--port', '443', '--scheduler', 'wrr')).code, 0);
  assert.equal((await daemon('service', 'add', '-t', '10.0.0.103:443', '--scheduler', 'wrr')).code, 0);
  assert.deepEqual(settings(svcOf('10.0.0.101', 443)), settings(svcOf('10.0.0.102', 443)));
  assert.deepEqual(settings(svcOf('10.0.0.101', 443)), settings(svcOf('10.0.0.103', 443)));
  assert.equal((await daemon('service', 'add', '-u', '10.0.0.101:53')).code, 0);
  assert.ok(svcOf('10.0.0.101', 53, 'udp'));
  for (const vip of ['10.0.0.101', '10.0.0.102', '10.0.0.103']) assert.equal((await daemon('service', 'delete', `${vip}:443`)).code, 0);
  assert.equal((await daemon('service', 'delete', '-u', '10.0.0.101:53')).code, 0);
  assert.equal(ctl.config().services.length, 1);
});

test('service add/edit: persistence, netmask, flags, slow start and a check; edit keeps what it is not given', async () => {
  const add = await daemon('service', 'add', '10.0.0.104:80', '-s', 'mh', '-b', 'mh-fallback', '-p', '600', '-M', '255.255.255.0', '--slow-start', '20');
  assert.equal(add.code, 0, add.err);
  assert.deepEqual(
    { ...settings(svcOf('10.0.0.104', 80)), reals: undefined },
    {
      protocol: 'tcp',
      scheduler: 'mh',
      sched_flags: ['mh-fallback'],
      persistence: { timeout: 600, netmask: '255.255.255.0' },
      slow_start_s: 20,
      maglev_size: 65537,
      reals: undefined,
    },
  );
  const edit = await daemon('service', 'edit', '10.0.0.104:80', '--check', 'http', '--check-path', '/health', '--check-interval', '2000');
  assert.equal(edit.code, 0, edit.err);
  const s = svcOf('10.0.0.104', 80)!;
  assert.deepEqual(s.check, { type: 'http', path: '/health', interval_ms: 2000 });
  assert.equal(s.persistence?.timeout, 600, 'edit left persistence alone');
  assert.equal((await daemon('service', 'edit', '10.0.0.104:80', '--no-persistent', '--check', 'none')).code, 0);
  assert.equal(svcOf('10.0.0.104', 80)!.persistence, undefined);
  assert.equal(svcOf('10.0.0.104', 80)!.check, undefined);
  assert.equal((await daemon('service', 'delete', '10.0.0.104:80')).code, 0);
});

test('service flags: bad values are refused naming the flag and value, before the daemon is called', async () => {
  const cases: [string[], RegExp][] = [
    [['service', 'add', '10.0.0.105:80', '--netmask', '255.255.255.0'], /--netmask "255\.255\.255\.0": only with --persistent/],
    [['service', 'add', '10.0.0.105:80', '-b', 'mh-port,sticky'], /--sched-flags "mh-port,sticky": "sticky" is not a scheduler flag/],
    [['service', 'add', '10.0.0.105:80', '--check-port', '81'], /--check-port "81": only with --check/],
    [['service', 'add', '10.0.0.105:80', '--check', 'tcp', '--check-path', '/'], /--check-path "\/": only with --check http\|https/],
    [['service', 'add', '10.0.0.105:80', '-p', 'soon'], /--persistent "soon": must be an integer in 1\.\.2678400/],
    [['service', 'add', '10.0.0.105'], /^VIP:PORT "10\.0\.0\.105": expected an address and a port, e\.g\. 10\.0\.0\.100:80/],
    [['service', 'add', '10.0.0.300:80'], /^VIP:PORT "10\.0\.0\.300:80": "10\.0\.0\.300" is not an IPv4 address/],
    [['service', 'add', '-t', '10.0.0.105:http'], /^-t "10\.0\.0\.105:http": port "http" must be an integer in 0\.\.65535/],
    [['service', 'add', '10.0.0.105:80', '-t', '10.0.0.105:80'], /the service is given twice \(VIP:PORT and -t\)/],
    [['service', 'add', '-u', '10.0.0.105:80', '--protocol', 'tcp'], /--protocol tcp: -u names a udp service/],
    [['service', 'add'], /no service given: name it as VIP:PORT/],
  ];
  for (const [args, re] of cases) {
    const r = await refused(...args, '--socket', path.join(tmp, 'nobody-home.sock'));
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  }
  assert.equal(svcOf('10.0.0.105', 80), undefined);
});

test('service add --help lists the scheduler choices; the deprecated flags are not advertised', async () => {
  const r = await xlvs('service', 'add', '--help');
  assert.equal(r.code, 0);
  assert.match(r.out.replace(/\s+/g, ' '), /choices: "rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "fo", "ovf"/);
  assert.match(r.out, /\[VIP:PORT\]/);
  assert.doesNotMatch(r.out, /--vip/);
});

test('real add/edit/delete: VIP:PORT RIP[:PORT], -t with -r, and the deprecated flags do the same', async () => {
  assert.equal((await daemon('real', 'add', '10.0.0.100:80', '10.0.0.13', '-w', '3')).code, 0);
  assert.equal((await daemon('real', 'add', '--vip', '10.0.0.100', '--port', '80', '--address', '10.0.0.14', '--weight', '3')).code, 0);
  assert.equal((await daemon('real', 'add', '-t', '10.0.0.100:80', '-r', '10.0.0.15:80', '-w', '3')).code, 0);
  assert.equal((await daemon('real', 'add', '-t', '10.0.0.100:80', '10.0.0.16', '-w', '3', '-x', '100', '-y', '50')).code, 0);
  const reals = svcOf('10.0.0.100', 80)!.reals;
  assert.deepEqual(
    reals.slice(2).map((r) => [r.address, r.weight]),
    [
      ['10.0.0.13', 3],
      ['10.0.0.14', 3],
      ['10.0.0.15', 3],
      ['10.0.0.16', 3],
    ],
  );
  assert.deepEqual([reals[5]!.upper_threshold, reals[5]!.lower_threshold], [100, 50]);
  assert.equal((await daemon('real', 'edit', '10.0.0.100:80', '10.0.0.13', '-w', '5')).code, 0);
  assert.equal(svcOf('10.0.0.100', 80)!.reals[2]!.weight, 5);
  const port = await refused('real', 'add', '10.0.0.100:80', '10.0.0.17:8080', '--socket', sock);
  assert.equal(port.code, 2);
  assert.match(port.err, /^RIP "10\.0\.0\.17:8080": port 8080 differs from the service's 80 \(direct routing keeps the port\)/);
  const twice = await refused('real', 'add', '10.0.0.100:80', '10.0.0.17', '-r', '10.0.0.18', '--socket', sock);
  assert.match(twice.err, /the real server is given twice \(RIP and -r\)/);
  for (const r of ['10.0.0.13', '10.0.0.14', '10.0.0.15']) assert.equal((await daemon('real', 'delete', '10.0.0.100:80', r)).code, 0);
  assert.equal((await daemon('real', 'delete', '--vip', '10.0.0.100', '--port', '80', '--address', '10.0.0.16')).code, 0);
  assert.equal(svcOf('10.0.0.100', 80)!.reals.length, 2);
});

test('zero: VIP:PORT, -t, everything; --vip without a port names the missing port (was: --port "": must be an integer)', async () => {
  const forms = [['10.0.0.100:80'], ['-t', '10.0.0.100:80'], ['--vip', '10.0.0.100', '--port', '80'], []];
  for (const r of await Promise.all(forms.map((args) => daemon('zero', ...args)))) {
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'xlvs: counters zeroed\n');
  }
  const noPort = await refused('zero', '--vip', '10.0.0.100', '--socket', sock);
  assert.equal(noPort.code, 2);
  assert.equal(noPort.err, '--vip 10.0.0.100: no port given; name the service as VIP:PORT (e.g. 10.0.0.100:80)');
  const noVip = await refused('zero', '--port', '80', '--socket', sock);
  assert.match(noVip.err, /^--port "80": no --vip given/);
  const bare = await refused('zero', '10.0.0.100', '--socket', sock);
  assert.match(bare.err, /^VIP:PORT "10\.0\.0\.100": expected an address and a port/);
});

test('apply --dry-run: what changes per service, then the operations and counts; --json carries the same; nothing applied', async () => {
  const file = path.join(tmp, 'next.yaml');
  fs.writeFileSync(file, BASE.replace('scheduler: wrr', 'scheduler: mh').replace('10.0.0.12, weight: 1', '10.0.0.12, weight: 4'));
  const before = JSON.stringify(ctl.config());
  const r = await daemon('apply', '-f', file, '--dry-run');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(at(/^service 10\.0\.0\.100:80\/tcp: changed$/) >= 0, r.out);
  assert.ok(at(/^ {2}scheduler: wrr -> mh$/) > at(/^service 10\.0\.0\.100:80\/tcp/), r.out);
  assert.ok(at(/^ {2}real 10\.0\.0\.12 weight: 1 -> 4$/) > 0, r.out);
  assert.ok(at(/^xlvs: dry run, nothing applied: \d+ operation\(s\), \d+ Maglev bucket\(s\) moved/) > at(/scheduler: wrr -> mh/), r.out);
  const j = await daemon('apply', '-f', file, '--dry-run', '--json');
  const report = JSON.parse(j.out);
  assert.equal(report.dryRun, true);
  assert.deepEqual(report.changes.services[0].changes[0], { field: 'scheduler', from: 'wrr', to: 'mh' });
  assert.ok(report.bucketsMoved > 0);
  assert.equal(JSON.stringify(ctl.config()), before, 'a dry run applies nothing');
  assert.equal((await daemon('apply', '-f', file, '--json')).code, 2, '--json without --dry-run is refused');
});

test('top -n1 --json and xlvsadm -Ln --json print the listing xlvs list --json prints', async () => {
  const list = JSON.parse((await daemon('list', '--json')).out);
  const top = await daemon('top', '-n', '1', '--json');
  assert.equal(top.code, 0, top.err);
  const frame = JSON.parse(top.out);
  assert.deepEqual(
    frame.map((s: any) => [s.vip, s.port, s.reals.map((r: any) => [r.address, r.weight])]),
    list.map((s: any) => [s.vip, s.port, s.reals.map((r: any) => [r.address, r.weight])]),
  );
  const adm = await run('xlvsadm', ['--socket', sock, '-Ln', '--json']);
  assert.equal(adm.code, 0, adm.err);
  const l = JSON.parse(adm.out);
  assert.deepEqual(
    l.map((s: any) => [s.vip, s.port, s.reals.map((r: any) => r.weight)]),
    [['10.0.0.100', 80, [1, 1]]],
  );
});

test('trace takes its interface from the running daemon when not given; says what to give when none answers', async () => {
  assert.equal(await traceInterface({ client: '1.2.3.4:5', socket: sock }), 'eth0');
  assert.equal(await traceInterface({ client: '1.2.3.4:5', socket: sock, interface: 'ens9' }), 'ens9');
  await assert.rejects(
    traceInterface({ client: '1.2.3.4:5', socket: path.join(tmp, 'none.sock') }),
    /give --config FILE or --interface NAME: no daemon answered/,
  );
  const r = await refused('trace', '10.0.0.100', '--client', '10.0.0.1:1234', '--socket', sock);
  assert.equal(r.code, 2);
  assert.match(r.err, /^VIP:PORT "10\.0\.0\.100": expected an address and a port/);
});

test('validate FILE: ok with counts; every problem named (exit 2); --host finds a missing interface (exit 1); --json', async () => {
  const good = path.join(tmp, 'good.yaml');
  fs.writeFileSync(good, BASE);
  const ok = await xlvs('validate', good);
  assert.deepEqual([ok.code, ok.out], [0, 'ok: 1 service, 2 reals\n']);
  const bad = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(bad, BASE.replace('10.0.0.11', '10.0.0.311').replace('scheduler: wrr', 'scheduler: fast'));
  const r = await xlvs('validate', bad);
  assert.equal(r.code, 2);
  assert.match(r.out, /services\[0\]\.scheduler: "fast" is not a known scheduler/);
  assert.match(r.out, /services\[0\]\.reals\[0\]\.address: "10\.0\.0\.311" is not an IPv4 address/);
  const j = JSON.parse((await xlvs('validate', bad, '--json')).out);
  assert.equal(j.ok, false);
  assert.equal(j.problems.length, 2);
  const host = path.join(tmp, 'host.yaml');
  fs.writeFileSync(host, BASE.replace('interface: eth0', 'interface: xlvsnone0'));
  const h = await xlvs('validate', host, '--host');
  assert.equal(h.code, 1, h.out);
  assert.match(h.out, /^ok: 1 service, 2 reals\nhost: the daemon would refuse to start:\n {2}interface: "xlvsnone0" does not exist on this host/);
  assert.equal((await xlvs('validate', host)).code, 0, 'without --host the host is not looked at');
});
