// SPDX-License-Identifier: Apache-2.0
// daemon.test.ts: the long-running director in the namespace lab: runtime verbs, and one long-lived TCP connection that survives a SIGHUP reload, an apply, a kill -9 + restart and a BPF object upgrade with zero failed requests.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { call } from '../../src/adapters/api';
import type { ReloadResult } from '../../src/adapters/promregistry';
import { parseConfig } from '../../src/core/config';
import { ADDR, type ClientResult, type DirectorProcess, realAddress } from '../../src/lab/drnet';
import { useLab } from '../lib/labfixture';

const verbose = !!process.env.XLVS_E2E_VERBOSE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('xlvs daemon (namespace lab)', { timeout: 300_000 }, () => {
  let config = '';
  let first: DirectorProcess | undefined;
  const L = useLab({ reals: 3, handleSignals: true, log: verbose ? (l) => process.stderr.write(`lab: ${l}\n`) : undefined }, async (l) => {
    config = l.writeDirectorConfig([{ port: 80, protocol: 'tcp', weights: [1, 1] }]);
    first = await l.startDaemon(config);
  });
  const xlvs = async (args: string[], allowFail = false) => {
    const l = L();
    return l.xlvs([...args, '--socket', l.daemonSocket()], { allowFail, timeoutMs: 30_000 });
  };
  const listJson = async () => JSON.parse((await xlvs(['list', '--json'])).stdout) as any[];
  const xdpProgId = async (): Promise<number | null> => {
    const r = await L().exec('dir', ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth0']);
    return JSON.parse(r.stdout)[0]?.xdp?.prog?.id ?? null;
  };
  const pins = () => {
    const d = path.join(L().bpffsDir, 'xlvs', 'eth0');
    return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
  };

  test('ready: the API socket is root-only and lists the config', async () => {
    const l = L();
    assert.equal(fs.statSync(l.daemonSocket()).mode & 0o777, 0o600);
    const list = await listJson();
    assert.deepEqual(
      list.map((s) => [s.vip, s.port, s.protocol, s.reals.map((r: any) => [r.address, r.weight])]),
      [
        [
          ADDR.vip,
          80,
          'tcp',
          [
            [realAddress(1), 1],
            [realAddress(2), 1],
          ],
        ],
      ],
    );
    assert.ok(pins().includes('link'), `pins: ${pins().join(' ')}`);
    assert.ok((await l.addresses('dir', 'eth0')).includes(`${ADDR.vip}/32`));
  });

  test('one long-lived connection survives SIGHUP, apply, kill -9 + restart, and a BPF object upgrade', async () => {
    const l = L();
    const ka = l.startKeepalive({ port: 80, intervalMs: 100, timeoutMs: 3000 });
    let result: ClientResult | undefined;
    try {
      await sleep(1000);
      const prog0 = await xdpProgId();
      assert.ok(prog0);

      // 0. SIGHUP with a file that fails validation: logged, refused, nothing changes.
      const good = fs.readFileSync(config, 'utf8');
      fs.writeFileSync(config, good.replace('weight: 1', 'weight: 70000'));
      l.signalDirector('SIGHUP');
      for (let i = 0; i < 50 && !first!.output().includes('reload refused'); i++) await sleep(100);
      assert.match(first!.output(), /reload refused; still running the previous config/);
      assert.match(first!.output(), /services\[0\]\.reals\[0\]\.weight: 70000 is outside 0\.\.65535/);
      assert.deepEqual(
        (await listJson())[0].reals.map((r: any) => r.weight),
        [1, 1],
      );
      // Not only in the log: `xlvs status` and /metrics read this (xlvs_config_last_reload_successful 0).
      const refused = await call<ReloadResult>(l.daemonSocket(), 'GET', '/v1/reload');
      assert.equal(refused.successful, false);
      assert.match(refused.error ?? '', /services\[0\]\.reals\[0\]\.weight: 70000 is outside 0\.\.65535/);
      assert.ok(refused.lastSuccessAt < refused.at);

      // 1. SIGHUP after editing the file: rs2's weight 1 -> 2.
      fs.writeFileSync(config, l.directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 2] }]));
      l.signalDirector('SIGHUP');
      for (let i = 0; i < 50 && (await listJson())[0].reals[1].weight !== 2; i++) await sleep(100);
      assert.equal((await listJson())[0].reals[1].weight, 2);
      const reloaded = await call<ReloadResult>(l.daemonSocket(), 'GET', '/v1/reload');
      assert.deepEqual([reloaded.successful, reloaded.error], [true, undefined]);
      assert.equal(reloaded.lastSuccessAt, reloaded.at);
      await sleep(500);

      // 2. apply -f: add rs3; the dry run first says what would move.
      const next = path.join(l.workDir, 'next.yaml');
      fs.writeFileSync(next, l.directorConfig([{ port: 80, protocol: 'tcp', weights: [1, 2, 1] }]));
      const dry = await xlvs(['apply', '-f', next, '--dry-run']);
      assert.match(dry.stdout, /dry run, nothing applied: 2 operation\(s\), \d+ Maglev bucket\(s\) moved, 0 tracked connection\(s\) moved/);
      assert.equal((await listJson())[0].reals.length, 2);
      const applied = await xlvs(['apply', '-f', next]);
      assert.match(applied.stdout, /applied: 2 operation\(s\)/);
      assert.equal((await listJson())[0].reals.length, 3);
      assert.equal(parseConfig(fs.readFileSync(config, 'utf8')).services[0]!.reals.length, 3, 'the apply was persisted to the daemon config');
      await sleep(500);

      // 3. kill -9: the program stays attached and keeps forwarding with nobody home; a restart adopts it.
      await l.killDirector();
      assert.equal(await xdpProgId(), prog0, 'still attached after kill -9');
      await sleep(1000);
      const d2 = await l.startDaemon(config);
      assert.match(d2.output(), /took over the pinned datapath/);
      assert.equal((await listJson())[0].reals.length, 3, 'restart came back with the applied state');
      const prog1 = await xdpProgId();
      assert.ok(prog1 && prog1 !== prog0, `the restart swapped its program into the pinned link (${prog0} -> ${prog1})`);
      await sleep(500);

      // 4. upgrade: a new build of the object (here a copy with a new mtime) swapped into the pinned link.
      const obj = path.join(l.workDir, 'xlvs-next.o');
      fs.copyFileSync(path.join(l.repoRoot, 'build', 'bpf', 'xlvs.o'), obj);
      await l.stopDirector();
      assert.equal(await xdpProgId(), prog1, 'still attached after a clean daemon exit');
      const d3 = await l.startDaemon(config, ['--object', obj]);
      assert.match(d3.output(), /took over the pinned datapath/);
      const prog2 = await xdpProgId();
      assert.ok(prog2 && prog2 !== prog1, `program replaced in place (${prog1} -> ${prog2})`);
      await sleep(1000);
    } finally {
      result = await ka.stop();
    }
    assert.equal(result.failures, 0, JSON.stringify(result.errors));
    assert.ok(result.ok >= 30, `only ${result.ok} requests`);
    assert.equal(result.localPorts?.length, 1, `one connection throughout: ${JSON.stringify(result.localPorts)}`);
    assert.equal(Object.keys(result.counts).length, 1, `one real throughout: ${JSON.stringify(result.counts)}`);
  });

  test('service and real verbs change the running director; bad input is refused with the field named', async () => {
    const l = L();
    const udp = ['--vip', ADDR.vip, '--port', String(l.udpPort), '--protocol', 'udp'];
    await xlvs(['service', 'add', ...udp]);
    await xlvs(['real', 'add', ...udp, '--address', realAddress(1), '--weight', '2']);
    await xlvs(['real', 'add', ...udp, '--address', realAddress(2)]);
    await xlvs(['real', 'edit', ...udp, '--address', realAddress(2), '--weight', '0']);
    let list = await listJson();
    assert.deepEqual(
      list[1].reals.map((r: any) => [r.address, r.weight]),
      [
        [realAddress(1), 2],
        [realAddress(2), 0],
      ],
    );
    // Wait for the new real's MAC, then all datagrams land on rs1 (rs2 has weight 0).
    for (let i = 0; i < 50 && !(await listJson())[1].reals[0].schedulable; i++) await sleep(100);
    const u = await l.runClient('udp', { port: l.udpPort, count: 50, timeoutMs: 2000, retries: 2, basePort: 40000 });
    assert.deepEqual(u.counts, { rs1: 50 });

    // Dry run of removing rs1 from the UDP service: the 50 tracked flows on it would move, and nothing changes yet.
    const without = path.join(l.workDir, 'without-rs1.yaml');
    const cur = JSON.parse(JSON.stringify(parseConfig(fs.readFileSync(config, 'utf8'))));
    cur.services[1].reals = cur.services[1].reals.filter((r: any) => r.address !== realAddress(1));
    fs.writeFileSync(without, JSON.stringify(cur));
    const dry = await xlvs(['apply', '-f', without, '--dry-run']);
    const m = /(\d+) Maglev bucket\(s\) moved, (\d+) tracked connection\(s\) moved/.exec(dry.stdout);
    assert.ok(m && Number(m[1]) > 0 && Number(m[2]) >= 50, dry.stdout);
    assert.match(dry.stdout, /delete real 10\.0\.0\.11 of UDP 10\.0\.0\.100:9000/);
    assert.equal((await listJson())[1].reals.length, 2);
    // `xlvs up` on the same interface is refused with what to do instead.
    const up = await l.xlvs(['up', '--config', config], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(up.code, 1);
    assert.match(up.stderr, /run by an xlvs daemon's pinned datapath/);

    const bad = await xlvs(['real', 'add', ...udp, '--address', realAddress(3), '--weight', '70000'], true);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--weight "70000": must be an integer in 0\.\.65535/);
    const offLink = await xlvs(['real', 'add', ...udp, '--address', '192.0.2.1'], true);
    assert.equal(offLink.code, 2);
    assert.match(offLink.stderr, /reals\[2\]\.address: 192\.0\.2\.1 is not on-link on eth0/);
    const missing = await xlvs(['real', 'delete', ...udp, '--address', realAddress(3)], true);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no real 10\.0\.0\.13/);

    await xlvs(['real', 'delete', ...udp, '--address', realAddress(2)]);
    const stats = await xlvs(['list', '--stats']);
    assert.match(stats.stdout, /Conns\s+InPkts\s+OutPkts\s+InBytes\s+OutBytes/);
    list = await listJson();
    assert.ok(list[1].stats.conns >= 50, JSON.stringify(list[1].stats));
    await xlvs(['zero']);
    list = await listJson();
    assert.equal(list[1].stats.conns, 0);

    const saved = await xlvs(['save']);
    assert.match(saved.stdout, /port: 9000/);
    await xlvs(['service', 'delete', ...udp]);
    assert.equal((await listJson()).length, 1);
    const restored = await l.xlvs(['restore', '--socket', l.daemonSocket()], { input: saved.stdout, timeoutMs: 30_000 });
    assert.match(restored.stdout, /applied/);
    assert.equal((await listJson()).length, 2);
    const rate = await xlvs(['list', '--rate']);
    assert.match(rate.stdout, /CPS\s+InPPS\s+OutPPS\s+InBPS\s+OutBPS/);
  });

  test('fresh connections still spread after everything', async () => {
    const r = await L().runClient('tcp', { port: 80, count: 60, timeoutMs: 3000 });
    assert.equal(r.failures, 0, JSON.stringify(r.errors));
    assert.equal(Object.keys(r.counts).length, 3, JSON.stringify(r.counts));
  });

  test('xlvsadm drives the daemon in ipvsadm syntax and prints ipvsadm formats', async () => {
    const l = L();
    const adm = (args: string[], input?: string) =>
      l.execDirector([path.join(l.repoRoot, 'bin', 'xlvsadm'), '--socket', l.daemonSocket(), ...args], {
        allowFail: true,
        timeoutMs: 30_000,
        ...(input !== undefined ? { input } : {}),
      });
    const svc = `${ADDR.vip}:8080`;
    assert.equal((await adm(['-A', '-t', svc, '-s', 'mh'])).code, 0);
    assert.equal((await adm(['-a', '-t', svc, '-r', `${realAddress(1)}:8080`, '-g', '-w', '2'])).code, 0);
    assert.equal((await adm(['-a', '-t', svc, '-r', realAddress(2), '-w', '1'])).code, 0);
    assert.equal((await adm(['-e', '-t', svc, '-r', realAddress(2), '-w', '5'])).code, 0);
    const one = await adm(['-L', '-n', '-t', svc]);
    assert.equal(
      one.stdout,
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        `TCP  ${svc} mh\n` +
        `  -> ${`${realAddress(1)}:8080`.padEnd(28)} Route   2      0          0         \n` +
        `  -> ${`${realAddress(2)}:8080`.padEnd(28)} Route   5      0          0         \n`,
    );
    const all = await adm(['-Ln']);
    assert.match(all.stdout, /^IP Virtual Server version 1\.2\.1 \(size=4194304\)\nProt LocalAddress:Port Scheduler Flags\n/);
    // The config's mh service has xlvs's default flags (mh-port); the one -A made without -b has IPVS's (none).
    assert.match(all.stdout, /\nTCP {2}10\.0\.0\.100:80 mh \(mh-port\)\n/);

    const dup = await adm(['-A', '-t', svc, '-s', 'mh']);
    assert.deepEqual([dup.code, dup.stderr], [255, 'Service already exists\n']);
    const nodest = await adm(['-d', '-t', svc, '-r', realAddress(3)]);
    assert.deepEqual([nodest.code, nodest.stderr], [255, 'No such destination\n']);
    const nat = await adm(['-a', '-t', svc, '-r', realAddress(3), '-m']);
    assert.equal(nat.code, 2);
    assert.match(nat.stderr, /masquerading \(-m, NAT\) is not supported/);
    const lblc = await adm(['-E', '-t', svc, '-s', 'lblc']);
    assert.equal(lblc.code, 2);
    assert.match(lblc.stderr, /scheduler lblc is not supported/);

    const saved = await adm(['-S', '-n']);
    assert.match(
      saved.stdout,
      new RegExp(`-A -t ${svc.replace(/\./g, '\\.')} -s mh\n-a -t ${svc.replace(/\./g, '\\.')} -r ${realAddress(1).replace(/\./g, '\\.')}:8080 -g -w 2\n`),
    );
    assert.equal((await adm(['-D', '-t', svc])).code, 0);
    assert.equal(
      (await listJson()).some((x) => x.port === 8080),
      false,
    );
    // -R is all or nothing: a bad line leaves the director as it was (and restoring a service that exists fails like ipvsadm).
    const mine = saved.stdout
      .split('\n')
      .filter((x) => x.includes(':8080'))
      .join('\n');
    const bad = await adm(['-R'], `${mine}\n-a -t ${svc} -r ${realAddress(3)} -w 99999\n`);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /line 4: illegal weight specified/);
    assert.equal(
      (await listJson()).some((x) => x.port === 8080),
      false,
    );
    const exists = await adm(['-R'], saved.stdout);
    assert.deepEqual([exists.code, exists.stderr], [255, 'line 1: Service already exists\n']);
    assert.equal((await adm(['-R'], `${mine}\n`)).code, 0);
    assert.deepEqual(
      (await listJson()).find((x) => x.port === 8080)?.reals.map((r: any) => [r.address, r.weight]),
      [
        [realAddress(1), 2],
        [realAddress(2), 5],
      ],
    );

    await l.runClient('tcp', { port: 80, count: 10, timeoutMs: 3000 });
    const conns = await adm(['-L', '-n', '-c']);
    const lines = conns.stdout.split('\n');
    assert.equal(lines[0], 'IPVS connection entries');
    assert.equal(lines[1], 'pro expire state       source             virtual            destination');
    // Finished connections: a TCP state name and what is left of its timeout.
    assert.ok(
      lines.some((x) => /^TCP \d\d:\d\d {2}(SYN_RECV|ESTABLISHED|FIN_WAIT|CLOSE) +203\.0\.113\.10:\d+ +10\.0\.0\.100:80 +10\.0\.0\.1[123]:80$/.test(x)),
      conns.stdout,
    );
    const stats = await adm(['-L', '-n', '--stats']);
    assert.match(stats.stdout, /Prot LocalAddress:Port {15}Conns {3}InPkts {2}OutPkts {2}InBytes OutBytes\n {2}-> RemoteAddress:Port\n/);
    assert.equal((await adm(['-Z'])).code, 0);
    assert.equal((await adm(['-D', '-t', svc])).code, 0);
  });

  test('a second daemon refuses while one is live; after a crash the stale socket does not stop the next', async () => {
    const l = L();
    const second = await l.execDirector([l.xlvsBin(), 'daemon', '--config', config, '--socket', l.daemonSocket()], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(second.code, 1);
    assert.match(second.stderr + second.stdout, /another xlvs daemon is listening/);
    await l.killDirector();
    assert.ok(fs.existsSync(l.daemonSocket()), 'kill -9 leaves the socket file');
    await l.startDaemon(config);
  });

  test('xlvs down refuses while the daemon runs, then detaches, removes the VIP and every pin', async () => {
    const l = L();
    const early = await l.xlvs(['down', '--config', config, '--socket', l.daemonSocket()], { allowFail: true });
    assert.equal(early.code, 1);
    assert.match(early.stderr, /a daemon is still running/);
    await l.stopDirector();
    assert.ok(await xdpProgId(), 'a clean daemon exit leaves the datapath attached');
    await l.xlvs(['down', '--config', config, '--socket', l.daemonSocket()]);
    assert.equal(await xdpProgId(), null);
    assert.deepEqual(pins(), []);
    assert.equal((await l.addresses('dir', 'eth0')).includes(`${ADDR.vip}/32`), false);
  });
});
