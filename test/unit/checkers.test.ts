// SPDX-License-Identifier: Apache-2.0
// checkers.test.ts: every probe type against local servers on 127.0.0.1 (no root): TCP, HTTP and HTTPS (self-signed certificate made by openssl: verify, SNI, Host, status, body), UDP reply, DNS answer, exec exit codes and a timeout that kills the whole process group.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { dnsQuery, runProbe, tlsServerName } from '../../src/adapters/checkers';
import type { ResolvedCheck } from '../../src/core/config';
import { waitGone } from '../lib/proc';

const check = (c: Partial<ResolvedCheck>): ResolvedCheck => ({
  type: 'tcp',
  mode: 'direct',
  intervalMs: 1000,
  timeoutMs: 500,
  rise: 2,
  fall: 2,
  jitterMs: 0,
  initial: 'up',
  address: '127.0.0.1',
  port: 1,
  path: '/',
  status: [200],
  verify: true,
  payload: '',
  queryName: '.',
  queryType: 'A',
  argv: [],
  ...c,
});
const probe = (c: Partial<ResolvedCheck>) => runProbe({ check: check(c), real: '127.0.0.1', vip: '10.0.0.100' });

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('tcp: connect passes, refused fails', async () => {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  try {
    assert.deepEqual(await probe({ port }), { ok: true, detail: 'connected' });
  } finally {
    s.close();
  }
  const r = await probe({ port: await freePort() });
  assert.equal(r.ok, false);
  assert.match(r.detail, /ECONNREFUSED/);
});

test('http: status list, body regex, Host header; a slow server times out', async () => {
  let host = '';
  const s = http.createServer((req, res) => {
    host = req.headers.host ?? '';
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    res.statusCode = req.url === '/down' ? 503 : 200;
    res.end(req.url === '/down' ? 'maintenance' : 'status: healthy');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  try {
    assert.equal((await probe({ type: 'http', port, path: '/', host: 'www.example.com' })).ok, true);
    assert.equal(host, 'www.example.com');
    assert.deepEqual(await probe({ type: 'http', port, path: '/down' }), { ok: false, detail: 'status 503' });
    assert.equal((await probe({ type: 'http', port, path: '/down', status: [200, 503] })).ok, true);
    assert.equal((await probe({ type: 'http', port, bodyRegex: 'healthy$' })).ok, true);
    assert.match((await probe({ type: 'http', port, bodyRegex: '^ok' })).detail, /body does not match/);
    assert.deepEqual(await probe({ type: 'http', port, path: '/slow', timeoutMs: 200 }), { ok: false, detail: 'timeout after 200 ms' });
  } finally {
    s.closeAllConnections();
    s.close();
  }
});

/** A self-signed certificate for `name` (and only it), made by openssl in a temporary directory that is removed. */
function selfSigned(name: string): { key: Buffer; cert: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('https server name: sni, else the name of host without its port, never an address', () => {
  assert.equal(tlsServerName({}), '');
  assert.equal(tlsServerName({ host: 'www.example.test' }), 'www.example.test');
  assert.equal(tlsServerName({ host: 'www.example.test:8443' }), 'www.example.test');
  assert.equal(tlsServerName({ host: 'www.example.test', sni: 'health.example.test' }), 'health.example.test');
  assert.equal(tlsServerName({ host: '10.0.0.11:8443' }), '');
  assert.equal(tlsServerName({ host: '[2001:db8::1]:443' }), '');
});

test('https: a self-signed certificate passes with verify: false and fails with verify: true; SNI, Host, status list and body regex over TLS', async () => {
  const NAME = 'health.example.test';
  // Per TLS connection: the server name the client sent (false: none); per request: path and Host header.
  const sni: (string | false | null)[] = [];
  const hosts: string[] = [];
  const s = https.createServer(selfSigned(NAME), (req, res) => {
    hosts.push(req.headers.host ?? '');
    res.statusCode = req.url === '/down' ? 503 : 200;
    res.end(req.url === '/down' ? 'maintenance' : 'status: healthy');
  });
  s.on('secureConnection', (t) => sni.push(t.servername));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  const tls = (c: Partial<ResolvedCheck>) => probe({ type: 'https', port, timeoutMs: 2000, ...c });
  try {
    assert.deepEqual(await tls({ verify: false }), { ok: true, detail: 'status 200' });
    assert.deepEqual([sni, hosts], [[false], ['127.0.0.1']], 'no host, no sni: no server name sent, Host is the address');

    const bad = await tls({ verify: true });
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /^https certificate not trusted: self[- ]signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
    const named = await tls({ verify: true, sni: NAME });
    assert.match(named.detail, /DEPTH_ZERO_SELF_SIGNED_CERT/, 'a matching server name does not make an untrusted certificate pass');
    assert.equal(hosts.length, 1, 'no request is sent over a connection whose certificate was refused');

    sni.length = 0;
    hosts.length = 0;
    assert.equal((await tls({ verify: false, sni: NAME, host: 'www.example.test' })).ok, true);
    assert.equal((await tls({ verify: false, host: 'www.example.test:8443' })).ok, true);
    assert.deepEqual(sni, [NAME, 'www.example.test'], 'sni wins over host; host gives the name without its port');
    assert.deepEqual(hosts, ['www.example.test', 'www.example.test:8443'], 'Host is `host` verbatim');

    assert.deepEqual(await tls({ verify: false, path: '/down' }), { ok: false, detail: 'status 503' });
    assert.deepEqual(await tls({ verify: false, path: '/down', status: [200, 503] }), { ok: true, detail: 'status 503' });
    assert.deepEqual(await tls({ verify: false, bodyRegex: 'healthy$' }), { ok: true, detail: 'status 200, body matches' });
    assert.deepEqual(await tls({ verify: false, path: '/down', status: [503], bodyRegex: '^ok' }), {
      ok: false,
      detail: 'status 503, body does not match ^ok',
    });
  } finally {
    s.closeAllConnections();
    s.close();
  }
});

test('https: a listener that never completes the handshake times out; a plain HTTP one fails', async () => {
  const held: net.Socket[] = [];
  const mute = net.createServer((c) => void held.push(c));
  const plain = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
  try {
    assert.deepEqual(await probe({ type: 'https', verify: false, port: (mute.address() as net.AddressInfo).port, timeoutMs: 200 }), {
      ok: false,
      detail: 'timeout after 200 ms',
    });
    const r = await probe({ type: 'https', verify: false, port: (plain.address() as net.AddressInfo).port, timeoutMs: 2000 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /^https (EPROTO|ECONNRESET)/);
  } finally {
    for (const c of held) c.destroy();
    mute.close();
    plain.closeAllConnections();
    plain.close();
  }
});

test('udp: a reply containing `expect` passes; port unreachable fails', async () => {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, rinfo) => s.send(Buffer.from(`pong ${m.toString()}`), rinfo.port, rinfo.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  try {
    assert.equal((await probe({ type: 'udp', port, payload: 'ping', expect: 'pong ping' })).ok, true);
    assert.match((await probe({ type: 'udp', port, payload: 'x', expect: 'nope' })).detail, /does not contain/);
  } finally {
    s.close();
  }
  const r = await probe({ type: 'udp', port: await freePort(), payload: 'x' });
  assert.equal(r.ok, false);
  assert.match(r.detail, /ECONNREFUSED|timeout/);
});

test('dns: NOERROR for our id passes, SERVFAIL fails', async () => {
  assert.deepEqual(
    [...dnsQuery(0x1234, 'example.com', 'A')],
    [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1],
  );
  let rcode = 0;
  const s = dgram.createSocket('udp4');
  s.on('message', (m, rinfo) => {
    const a = Buffer.from(m);
    a[2] = 0x81;
    a[3] = 0x80 | rcode;
    s.send(a, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  try {
    assert.equal((await probe({ type: 'dns', port, queryName: 'example.com' })).ok, true);
    rcode = 2;
    assert.deepEqual(await probe({ type: 'dns', port, queryName: 'example.com' }), { ok: false, detail: 'rcode 2' });
  } finally {
    s.close();
  }
});

test('exec: argv without a shell, exit 0 = up, timeout kills the process group', async () => {
  assert.deepEqual(await probe({ type: 'exec', argv: ['/bin/sh', '-c', 'test "$XLVS_REAL" = 127.0.0.1'] }), { ok: true, detail: 'exit 0' });
  assert.deepEqual(await probe({ type: 'exec', argv: ['/bin/false'] }), { ok: false, detail: 'exit 1' });
  assert.match((await probe({ type: 'exec', argv: ['/nonexistent/check'] })).detail, /ENOENT/);
  assert.match((await probe({ type: 'exec', argv: ['echo', '$(touch /tmp/x)', ';', 'false'] })).detail, /exit 0/, 'arguments are never interpreted by a shell');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlvs-exec-'));
  const pidFile = path.join(dir, 'pid');
  try {
    // The grandchild writes its pid and sleeps: after the timeout it must be gone too.
    const r = await probe({ type: 'exec', timeoutMs: 300, argv: ['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`] });
    assert.deepEqual(r, { ok: false, detail: 'timeout after 300 ms' });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(await waitGone(pid), "the check's child was killed with its process group");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('dr mode with no raw socket or an unresolved MAC is inconclusive or a failure, never a throw', async () => {
  const r = await runProbe({ check: check({ mode: 'dr', port: 80 }), real: '10.0.0.11', vip: '10.0.0.100' });
  assert.equal(r.ok, false);
  const r2 = await runProbe(
    { check: check({ mode: 'dr', port: 80 }), real: '10.0.0.11', vip: '10.0.0.100' },
    {
      socket: () => {
        throw new Error('unused');
      },
      director: { mac: '02:00:00:00:00:01', ip: '10.0.0.2' },
      macOf: () => null,
    },
  );
  assert.deepEqual([r2.ok, r2.inconclusive], [false, true]);
});
