// SPDX-License-Identifier: Apache-2.0
// api.test.ts: the runtime API end to end over a unix socket, against an in-memory fake datapath: serialized writers, validation before apply, persistence, dry runs, counters and rates.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { call, MAX_BODY_BYTES, routes, serve, socketLive } from '../../src/adapters/api';
import { readConfigFile, writeFileAtomic } from '../../src/adapters/configfile';
import { configToYaml } from '../../src/adapters/daemon';
import type { Counters } from '../../src/core/abi';
import { type Config, parseConfig, validateConfig } from '../../src/core/config';
import { Controller } from '../../src/core/controller';
import { ExistsError, NotFoundError } from '../../src/core/edits';
import { UsageError } from '../../src/core/errors';
import { MAX_CONFIG_BYTES } from '../../src/core/limits';
import { FakeDatapath } from '../lib/fakedatapath';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-api-'));
const sock = path.join(tmp, 'run', 'xlvs.sock');
const cfgFile = path.join(tmp, 'xlvs.yaml');
const BASE = `interface: eth0
services:
  - vip: 10.0.0.100
    port: 80
    protocol: tcp
    maglev_size: 251
    reals:
      - { address: 10.0.0.11, weight: 1 }
      - { address: 10.0.0.12, weight: 1 }
`;

let dp: FakeDatapath;
let ctl: Controller;
let server: http.Server;
let now = 0;
let hostProblem: string | undefined;

function makeController(cfg: Config): Controller {
  return new Controller(cfg, [], {
    datapath: dp,
    resolve: (a) => new Map(a.map((x) => [x, `02:00:00:00:00:${x.split('.')[3]!.padStart(2, '0')}`])),
    check: () => {
      if (hostProblem) throw new UsageError('invalid config', [hostProblem]);
    },
    persist: (c) => writeFileAtomic(cfgFile, configToYaml(c)),
    log: () => undefined,
    now: () => now,
  });
}

before(async () => {
  dp = new FakeDatapath();
  fs.writeFileSync(cfgFile, BASE);
  ctl = makeController(parseConfig(BASE));
  await ctl.sync();
  // As the daemon's reload (SIGHUP and /v1/reload) does it.
  server = await serve(
    sock,
    routes(ctl, async () => ctl.apply(readConfigFile(cfgFile), { persist: false })),
    () => undefined,
  );
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hostProblem = undefined;
});

const key = { vip: '10.0.0.100', port: 80, protocol: 'tcp' };

test('the socket is root-only (0600) and answers', async () => {
  assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  assert.equal(await socketLive(sock), true);
  const l = await call(sock, 'GET', '/v1/services');
  assert.equal(l.length, 1);
  assert.deepEqual(
    l[0].reals.map((r: any) => [r.address, r.weight, r.schedulable]),
    [
      ['10.0.0.11', 1, true],
      ['10.0.0.12', 1, true],
    ],
  );
});

test('a stale socket file (no listener) does not stop a new server; a live one does', async () => {
  const stale = path.join(tmp, 'stale.sock');
  const s1 = await serve(stale, {}, () => undefined);
  // Simulate a crash: the listener goes, the file stays.
  await new Promise((r) => s1.close(r));
  // A socket file nobody listens on (bound, never listening: connect is refused), as a kill -9 leaves one.
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  assert.equal(fs.lstatSync(stale).isSocket(), true);
  assert.equal(await socketLive(stale), false);
  const s2 = await serve(stale, {}, () => undefined);
  await assert.rejects(
    serve(stale, {}, () => undefined),
    /another xlvs daemon is listening/,
  );
  await new Promise((r) => s2.close(r));
});

test('--socket never removes what is not a stale socket: a regular file, a directory, a symbolic link', async () => {
  const file = path.join(tmp, 'precious.txt');
  fs.writeFileSync(file, 'keep me');
  await assert.rejects(
    serve(file, {}, () => undefined),
    /--socket .*precious\.txt: a file that is not a socket is there; refusing to replace it/,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  const dir = path.join(tmp, 'adir');
  fs.mkdirSync(dir);
  await assert.rejects(
    serve(dir, {}, () => undefined),
    /a directory is there/,
  );
  const link = path.join(tmp, 'alink');
  fs.symlinkSync(file, link);
  await assert.rejects(
    serve(link, {}, () => undefined),
    /a symbolic link is there/,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
});

test('add a real: applied, persisted atomically, and listed', async () => {
  const r = await call(sock, 'POST', '/v1/real/add', { service: key, real: { address: '10.0.0.13', weight: 2 } });
  assert.deepEqual(r.ops.length, 2);
  const saved = parseConfig(fs.readFileSync(cfgFile, 'utf8'));
  assert.deepEqual(
    saved.services[0]!.reals.map((x) => [x.address, x.weight]),
    [
      ['10.0.0.11', 1],
      ['10.0.0.12', 1],
      ['10.0.0.13', 2],
    ],
  );
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp file left behind',
  );
});

test("the write-back follows no planted link and keeps the config's mode", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-wb-'));
  try {
    const cfg = path.join(dir, 'xlvs.yaml');
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(cfg, 'old\n', { mode: 0o640 });
    fs.chmodSync(cfg, 0o640);
    fs.writeFileSync(victim, 'untouched');
    // The temp name the old code used, and a few guesses around it: each a link to the victim.
    for (const pid of [process.pid, process.pid + 1]) fs.symlinkSync(victim, path.join(dir, `.xlvs.yaml.${pid}.tmp`));
    writeFileAtomic(cfg, 'new\n');
    assert.equal(fs.readFileSync(cfg, 'utf8'), 'new\n');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
    assert.equal(fs.lstatSync(cfg).isFile(), true, 'the config is a file, not a link');
    assert.equal(fs.statSync(cfg).mode & 0o777, 0o640, 'mode kept');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.tmp') && !fs.lstatSync(path.join(dir, f)).isSymbolicLink()),
      [],
      'no temp file left',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a rejected change leaves the datapath and the file untouched, and names the field', async () => {
  const before = fs.readFileSync(cfgFile, 'utf8');
  const n = dp.applied.length;
  await assert.rejects(call(sock, 'POST', '/v1/real/add', { service: key, real: { address: '10.0.0.14', weight: 70000 } }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    // Named in the request (the body is checked against the config's schema before the whole config is).
    assert.match(e.message, /real\.weight: 70000 is outside 0\.\.65535/);
    return true;
  });
  hostProblem = 'services[0].reals[3].address: 10.9.9.9 is not on-link on eth0';
  await assert.rejects(call(sock, 'POST', '/v1/real/add', { service: key, real: { address: '10.9.9.9' } }), /not on-link/);
  assert.equal(dp.applied.length, n);
  assert.equal(fs.readFileSync(cfgFile, 'utf8'), before);
});

test('not found and already exists come back as their own kinds', async () => {
  await assert.rejects(call(sock, 'POST', '/v1/real/add', { service: key, real: { address: '10.0.0.11' } }), ExistsError);
  await assert.rejects(call(sock, 'POST', '/v1/real/delete', { service: key, real: { address: '10.0.0.99' } }), NotFoundError);
  await assert.rejects(call(sock, 'POST', '/v1/service/delete', { service: { ...key, port: 81 } }), NotFoundError);
  await assert.rejects(call(sock, 'POST', '/v1/service/add', { service: key }), ExistsError);
});

test('a datapath failure is a runtime error, the file keeps the running state, and the queue moves on', async () => {
  const before = fs.readFileSync(cfgFile, 'utf8');
  dp.failNext = true;
  await assert.rejects(call(sock, 'POST', '/v1/real/edit', { service: key, real: { address: '10.0.0.13', weight: 5 } }), /the kernel said no/);
  assert.deepEqual(parseConfig(fs.readFileSync(cfgFile, 'utf8')), parseConfig(before));
  // The next writer still runs (the queue is not wedged by a failure).
  const r = await call(sock, 'POST', '/v1/real/edit', { service: key, real: { address: '10.0.0.13', weight: 3 } });
  assert.ok(r.ops.length >= 1);
});

test('concurrent writers are serialized: every change lands, none is lost', async () => {
  const adds = ['10.0.0.21', '10.0.0.22', '10.0.0.23', '10.0.0.24', '10.0.0.25'].map((a) =>
    call(sock, 'POST', '/v1/real/add', { service: key, real: { address: a } }),
  );
  await Promise.all(adds);
  const saved = parseConfig(fs.readFileSync(cfgFile, 'utf8'));
  assert.deepEqual(saved.services[0]!.reals.map((x) => x.address).slice(-5), ['10.0.0.21', '10.0.0.22', '10.0.0.23', '10.0.0.24', '10.0.0.25']);
  const ids = [...dp.reals.keys()];
  assert.equal(new Set(ids).size, ids.length);
});

test('dry run: prints the plan with buckets and tracked connections moved, applies nothing', async () => {
  const cur = ctl.config();
  const target = structuredClone(cur);
  target.services[0]!.reals = target.services[0]!.reals.filter((r) => r.address !== '10.0.0.11');
  const idOf11 = [...dp.reals].find(([, r]) => r.address === '10.0.0.11')![0];
  dp.conns = [{ realId: idOf11 }, { realId: idOf11 }, { realId: 999 }];
  const n = dp.applied.length;
  const r = await call(sock, 'POST', '/v1/apply', { config: target, dryRun: true });
  assert.equal(r.dryRun, true);
  assert.equal(r.connsMoved, 2);
  assert.ok(r.bucketsMoved > 0);
  assert.ok(r.ops.some((l: string) => /delete real 10\.0\.0\.11/.test(l)));
  // What an operator reads first: the service and the real it loses.
  assert.deepEqual(r.changes.services, [
    { service: '10.0.0.100:80/tcp', status: 'changed', changes: [{ field: 'reals[10.0.0.11]', from: { weight: 1 }, to: null }] },
  ]);
  assert.equal(dp.applied.length, n);
  // Applying it for real purges exactly those entries.
  await call(sock, 'POST', '/v1/apply', { config: target });
  assert.deepEqual(dp.conns, [{ realId: 999 }]);
});

test('an empty config is accepted and removes everything; the file says so', async () => {
  await call(sock, 'POST', '/v1/apply', { config: { interface: 'eth0', services: [] } });
  assert.equal(dp.svc.size, 0);
  assert.equal(dp.tables.size, 0);
  assert.equal(dp.reals.size, 0);
  assert.deepEqual(parseConfig(fs.readFileSync(cfgFile, 'utf8')).services, []);
});

test('interface and conn_table_size cannot change under a running daemon', async () => {
  await assert.rejects(call(sock, 'POST', '/v1/apply', { config: { interface: 'eth1', services: [] } }), /interface: "eth1" differs/);
  await assert.rejects(
    call(sock, 'POST', '/v1/apply', { config: { interface: 'eth0', conn_table_size: 4096, services: [] } }),
    /conn_table_size: 4096 differs/,
  );
});

test('service add/edit/delete, stats, rates over the window, zero', async () => {
  await call(sock, 'POST', '/v1/service/add', { service: { ...key, maglev_size: 251 } });
  await call(sock, 'POST', '/v1/real/add', { service: key, real: { address: '10.0.0.11', weight: 1 } });
  await call(sock, 'POST', '/v1/service/edit', { service: { ...key, maglev_size: 257 } });
  assert.equal(dp.tables.get(dp.svc.get('10.0.0.100:80/6')!)!.length, 257);
  const svcId = dp.svc.get('10.0.0.100:80/6')!;
  const realId = [...dp.reals.keys()][0]!;
  const c = (conns: number, packets: number, bytes: number): Counters => ({ conns: BigInt(conns), packets: BigInt(packets), bytes: BigInt(bytes), drops: 0n });
  now = 1000;
  dp.stSvc.set(svcId, c(0, 0, 0));
  dp.stReal.set(realId, c(0, 0, 0));
  ctl.sample();
  now = 3000;
  dp.stSvc.set(svcId, c(10, 100, 6000));
  dp.stReal.set(realId, c(10, 100, 6000));
  ctl.sample();
  const l = await call(sock, 'GET', '/v1/services');
  assert.deepEqual(l[0].stats, { conns: 10, packets: 100, bytes: 6000, drops: 0 });
  assert.deepEqual(l[0].rate, { cps: 5, inpps: 50, outpps: 0, inbps: 3000, outbps: 0 });
  assert.deepEqual(l[0].reals[0].rate, { cps: 5, inpps: 50, outpps: 0, inbps: 3000, outbps: 0 });
  await call(sock, 'POST', '/v1/zero', {});
  const z = await call(sock, 'GET', '/v1/services');
  assert.deepEqual(z[0].stats, { conns: 0, packets: 0, bytes: 0, drops: 0 });
  assert.deepEqual(z[0].rate, { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  await call(sock, 'POST', '/v1/service/delete', { service: key });
  assert.equal(dp.svc.size, 0);
});

test('reload re-reads the file without writing it', async () => {
  fs.writeFileSync(cfgFile, BASE);
  const mtime = fs.statSync(cfgFile).mtimeMs;
  await call(sock, 'POST', '/v1/reload', {});
  assert.equal(dp.svc.size, 1);
  assert.equal(fs.statSync(cfgFile).mtimeMs, mtime);
  assert.deepEqual(validateConfig(ctl.config()), parseConfig(BASE));
});

/** A rejected call, its details (one per problem, path from the body's root), and that nothing was applied or written. */
async function refused(route: string, body: unknown, ...details: string[]): Promise<void> {
  const file = fs.readFileSync(cfgFile, 'utf8');
  const n = dp.applied.length;
  const running = JSON.stringify(ctl.config());
  await assert.rejects(call(sock, 'POST', route, body), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, new RegExp(`^invalid request body for POST ${route.replace(/\//g, '\\/')}`));
    assert.deepEqual(e.details, details);
    return true;
  });
  assert.equal(dp.applied.length, n, 'no datapath op');
  assert.equal(fs.readFileSync(cfgFile, 'utf8'), file, 'config file unchanged');
  assert.equal(JSON.stringify(ctl.config()), running, 'running config unchanged');
}

test('API bodies are held to the config schema: protocol, types, ranges and unknown fields, each named; nothing half-applied', async () => {
  fs.writeFileSync(cfgFile, BASE);
  await call(sock, 'POST', '/v1/reload', {});
  // "sctp" used to create a TCP service, and "UDP" to delete the TCP one.
  await refused('/v1/service/add', { service: { ...key, port: 81, protocol: 'sctp' } }, 'service.protocol: "sctp" must be tcp or udp');
  await refused('/v1/service/delete', { service: { ...key, protocol: 'UDP' } }, 'service.protocol: "UDP" must be tcp or udp');
  await refused('/v1/real/add', { service: { ...key, port: 'abc' }, real: { address: '10.0.0.13' } }, 'service.port: "abc" is not a number');
  await refused('/v1/real/add', { service: key, real: { address: '10.0.0.13', weight: 70000 } }, 'real.weight: 70000 is outside 0..65535');
  await refused('/v1/timeouts', { timeouts: 'x' }, 'timeouts: "x" is not a mapping');
  await refused('/v1/timeouts', { timeouts: { tpc: 5 } }, 'timeouts.tpc: unknown key');
  await refused('/v1/real/edit', { service: key, real: { address: '10.0.0.11', wieght: 3 } }, 'real.wieght: unknown key');
  await refused('/v1/service/add', { service: { ...key, port: 81 }, extra: 1 }, 'extra: unknown key');
  await refused('/v1/service/edit', { service: { ...key, persistance: { timeout: 60 } } }, 'service.persistance: unknown key');
  await refused('/v1/real/delete', { service: key }, 'real: is required');
  await refused('/v1/apply', { config: 'eth0' }, 'config: "eth0" is not a mapping');
  assert.equal(dp.svc.size, 1);
  // Accepted: ipvsadm --set's 0 keeps a value.
  await call(sock, 'POST', '/v1/timeouts', { timeouts: { tcp: 0, tcp_fin: 0, udp: 60 } });
  assert.deepEqual(ctl.config().timeouts, { tcp: 900, tcp_fin: 120, udp: 60 });
});

test('service/edit applies a check (and any other setting) and leaves the rest; null removes one', async () => {
  fs.writeFileSync(cfgFile, BASE);
  await call(sock, 'POST', '/v1/reload', {});
  await call(sock, 'POST', '/v1/service/edit', { service: { ...key, scheduler: 'wrr' } });
  await call(sock, 'POST', '/v1/service/edit', { service: { ...key, check: { type: 'tcp', interval_ms: 2000 }, on_down: 'expire' } });
  const s = ctl.config().services[0]!;
  assert.deepEqual(s.check, { type: 'tcp', interval_ms: 2000 });
  assert.equal(s.on_down, 'expire');
  assert.equal(s.scheduler, 'wrr', 'a field not named keeps its value (no default injected)');
  assert.deepEqual(parseConfig(fs.readFileSync(cfgFile, 'utf8')).services[0]!.check, { type: 'tcp', interval_ms: 2000 });
  // A check the whole config would refuse is refused here too (and nothing changes).
  await assert.rejects(
    call(sock, 'POST', '/v1/service/edit', { service: { ...key, check: { timeout_ms: 3000 } } }),
    /timeout_ms: 3000 must be less than interval_ms/,
  );
  await call(sock, 'POST', '/v1/service/edit', { service: { ...key, check: null, on_down: null } });
  assert.equal(ctl.config().services[0]!.check, undefined);
  assert.equal(ctl.config().services[0]!.on_down, undefined);
});

/** A raw request, as a client other than xlvs's would send it; resolves with the status and the body. */
function raw(body: Buffer, chunked: boolean): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: sock, method: 'POST', path: '/v1/apply', headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      },
    );
    req.on('error', reject);
    for (let off = 0; off < body.length; off += 1 << 20) req.write(body.subarray(off, off + (1 << 20)));
    req.end();
  });
}

test("an oversize body gets 413 and the API's error shape; the daemon keeps serving; the client refuses to send one", async () => {
  const n = dp.applied.length;
  const big = Buffer.alloc(MAX_BODY_BYTES + (1 << 20), 0x20);
  for (const chunked of [false, true]) {
    const r = await raw(big, chunked);
    assert.equal(r.status, 413);
    assert.equal(r.body.error.kind, 'usage');
    assert.match(r.body.error.message, /^request body (of \d+ bytes )?larger than the API's limit of 33554432 bytes \(32 MiB\)$/);
  }
  assert.equal(dp.applied.length, n);
  assert.equal((await call(sock, 'GET', '/v1/services')).length, 1);
  await assert.rejects(
    call(sock, 'POST', '/v1/apply', { config: { interface: 'eth0', pad: 'x'.repeat(MAX_BODY_BYTES) } }),
    (e: unknown) => e instanceof UsageError && /larger than the API's limit/.test(e.message),
  );
});

test('a reload of a config file over the limit is refused from its size; the running config stays', async () => {
  const n = dp.applied.length;
  fs.truncateSync(cfgFile, MAX_CONFIG_BYTES + 1);
  try {
    await assert.rejects(call(sock, 'POST', '/v1/reload', {}), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, `--config ${JSON.stringify(cfgFile)}: ${MAX_CONFIG_BYTES + 1} bytes, more than the limit of ${MAX_CONFIG_BYTES} bytes (32 MiB)`);
      return true;
    });
    assert.equal(dp.applied.length, n);
    assert.equal(dp.svc.size, 1);
  } finally {
    fs.writeFileSync(cfgFile, BASE);
  }
});
