// SPDX-License-Identifier: Apache-2.0
// client.ts: the lab's client workload: fresh TCP requests, UDP datagrams from distinct ports, or long-lived keep-alive connections; prints JSON.

import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';

export interface ClientResult {
  mode: 'tcp' | 'udp' | 'keepalive' | 'streams';
  target: string;
  requested: number;
  ok: number;
  failures: number;
  /** Replies per real-server name (the reply body). */
  counts: Record<string, number>;
  /** Failure reasons with their counts. */
  errors: Record<string, number>;
  /** UDP only: datagrams that needed more than one send. */
  retried: number;
  durationMs: number;
  /** keepalive only: the local ports the requests went out from (one port = one connection throughout). */
  localPorts?: number[];
  /** tcp with --fixed-ports: the real (reply body) of each connection by its source port. */
  byPort?: Record<string, string>;
  /** tcp: wall-clock ms (epoch) when each failed request failed, and when each request slower than 500 ms ended. */
  failureTimes?: number[];
  slowTimes?: number[];
  /** streams only: each keep-alive connection's own result. */
  streams?: ClientResult[];
}

interface Args {
  mode: 'tcp' | 'udp' | 'keepalive' | 'streams';
  host: string;
  port: number;
  count: number;
  concurrency: number;
  timeoutMs: number;
  retries: number;
  basePort: number;
  /** keepalive, streams (and tcp with count 0): pause between requests, and a file whose appearance ends the run. */
  intervalMs: number;
  stopFile: string;
  /** tcp: connection i binds source port basePort + i, so a test knows each connection's 5-tuple. */
  fixedPorts: boolean;
  /** tcp, keepalive: the source address (one of the client's addresses); empty: the kernel's choice. */
  localAddress: string;
  /** streams: how many keep-alive connections at once. */
  streams: number;
}

function parseArgs(argv: string[]): Args {
  const mode = argv[0];
  if (mode !== 'tcp' && mode !== 'udp' && mode !== 'keepalive' && mode !== 'streams') throw new Error('first argument must be tcp, udp, keepalive or streams');
  const a: Args = {
    mode,
    host: '',
    port: 0,
    count: 100,
    concurrency: 20,
    timeoutMs: 5000,
    retries: 0,
    basePort: 20000,
    intervalMs: 100,
    stopFile: '',
    fixedPorts: false,
    localAddress: '',
    streams: 1,
  };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i];
    const val = argv[i + 1];
    if (val === undefined) throw new Error(`missing value for ${key}`);
    switch (key) {
      case '--host':
        a.host = val;
        break;
      case '--port':
        a.port = Number(val);
        break;
      case '--count':
        a.count = Number(val);
        break;
      case '--concurrency':
        a.concurrency = Number(val);
        break;
      case '--timeout-ms':
        a.timeoutMs = Number(val);
        break;
      case '--retries':
        a.retries = Number(val);
        break;
      case '--base-port':
        a.basePort = Number(val);
        break;
      case '--interval-ms':
        a.intervalMs = Number(val);
        break;
      case '--stop-file':
        a.stopFile = val;
        break;
      case '--fixed-ports':
        a.fixedPorts = val === '1';
        break;
      case '--local-address':
        a.localAddress = val;
        break;
      case '--streams':
        a.streams = Number(val);
        break;
      default:
        throw new Error(`unknown option ${key}`);
    }
  }
  if (!a.host || !(a.port > 0)) throw new Error('--host and --port are required');
  for (const k of ['count', 'concurrency', 'timeoutMs', 'retries', 'basePort'] as const) {
    if (!Number.isInteger(a[k]) || a[k] < 0) throw new Error(`bad --${k}`);
  }
  if ((a.mode === 'keepalive' || a.mode === 'streams' || (a.mode === 'tcp' && a.count === 0)) && !a.stopFile)
    throw new Error(`${a.mode}${a.count === 0 ? ' with --count 0' : ''} needs --stop-file`);
  if (!Number.isInteger(a.streams) || a.streams < 1 || a.streams > 1000) throw new Error('bad --streams');
  if ((a.mode === 'udp' || a.fixedPorts) && a.basePort + a.count > 65536) throw new Error('--base-port + --count exceeds the port range');
  return a;
}

type Outcome = { ok: true; name: string; retried?: boolean } | { ok: false; reason: string };

function tcpOnce(a: Args, localPort?: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome): void => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve(o);
      }
    };
    // agent:false gives a fresh socket per request, so each request is its own connection (own source port).
    const req = http.request(
      {
        host: a.host,
        port: a.port,
        path: '/',
        method: 'GET',
        agent: false,
        headers: { Connection: 'close' },
        ...(localPort ? { localPort } : {}),
        ...(a.localAddress ? { localAddress: a.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const name = Buffer.concat(chunks).toString('utf8').trim();
          if (res.statusCode !== 200) finish({ ok: false, reason: `http ${res.statusCode}` });
          else if (!name) finish({ ok: false, reason: 'empty body' });
          else finish({ ok: true, name });
        });
        res.on('error', (e) => finish({ ok: false, reason: e.message }));
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, reason: `timeout ${a.timeoutMs}ms` });
      req.destroy();
    }, a.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: e.code ?? e.message }));
    req.end();
  });
}

function udpOnce(a: Args, index: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      sock.close();
      resolve(o);
    };
    const send = (): void => {
      attempts++;
      sock.send(`hello ${index}`, a.port, a.host, (err) => {
        if (err) finish({ ok: false, reason: `send: ${err.message}` });
      });
      timer = setTimeout(() => {
        if (attempts <= a.retries) send();
        else finish({ ok: false, reason: `timeout ${a.timeoutMs}ms x${attempts}` });
      }, a.timeoutMs);
    };
    sock.on('message', (msg, rinfo) => {
      // The socket is left unconnected so a misaddressed reply is reported rather than silently dropped.
      if (rinfo.address !== a.host || rinfo.port !== a.port) {
        finish({ ok: false, reason: `reply from ${rinfo.address}:${rinfo.port}, not ${a.host}:${a.port}` });
      } else {
        finish({ ok: true, name: msg.toString('utf8').trim(), retried: attempts > 1 });
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: e.code ?? e.message }));
    // An explicit port per datagram guarantees distinct source ports; ephemeral ones could repeat after a close.
    sock.bind(a.basePort + index, send);
  });
}

/**
 * One TCP connection kept open (HTTP keep-alive, one socket) with a request every intervalMs until the stop file
 * appears (or count requests when count > 0): proves a flow survives whatever happens to the director meanwhile.
 */
async function runKeepalive(a: Args): Promise<ClientResult> {
  const started = Date.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const result: ClientResult = {
    mode: 'keepalive',
    target: `${a.host}:${a.port}`,
    requested: 0,
    ok: 0,
    failures: 0,
    counts: {},
    errors: {},
    retried: 0,
    durationMs: 0,
    localPorts: [],
  };
  const ports = new Set<number>();
  while (!fs.existsSync(a.stopFile) && (a.count === 0 || result.requested < a.count)) {
    result.requested++;
    const o = await new Promise<Outcome>((resolve) => {
      let done = false;
      const finish = (x: Outcome): void => {
        if (!done) {
          done = true;
          clearTimeout(timer);
          resolve(x);
        }
      };
      const req = http.request(
        { host: a.host, port: a.port, path: '/', method: 'GET', agent, ...(a.localAddress ? { localAddress: a.localAddress } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const name = Buffer.concat(chunks).toString('utf8').trim();
            finish(res.statusCode === 200 && name ? { ok: true, name } : { ok: false, reason: `http ${res.statusCode}` });
          });
          res.on('error', (e) => finish({ ok: false, reason: e.message }));
        },
      );
      req.on('socket', (sock) => {
        const note = (): void => {
          if (sock.localPort) ports.add(sock.localPort);
        };
        if (sock.localPort) note();
        else sock.once('connect', note);
      });
      const timer = setTimeout(() => {
        finish({ ok: false, reason: `timeout ${a.timeoutMs}ms` });
        req.destroy();
      }, a.timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: e.code ?? e.message }));
      req.end();
    });
    if (o.ok) {
      result.ok++;
      result.counts[o.name] = (result.counts[o.name] ?? 0) + 1;
    } else {
      result.failures++;
      result.errors[o.reason] = (result.errors[o.reason] ?? 0) + 1;
    }
    await new Promise((r) => setTimeout(r, a.intervalMs));
  }
  agent.destroy();
  result.localPorts = [...ports];
  result.durationMs = Date.now() - started;
  return result;
}

/** N keep-alive connections at once, each reported on its own (a stream that changed real or connection shows it). */
async function runStreams(a: Args): Promise<ClientResult> {
  const started = Date.now();
  const streams = await Promise.all(Array.from({ length: a.streams }, () => runKeepalive({ ...a, mode: 'keepalive' })));
  const sum = (f: (r: ClientResult) => number) => streams.reduce((n, r) => n + f(r), 0);
  const merge = (f: (r: ClientResult) => Record<string, number>) => {
    const m: Record<string, number> = {};
    for (const r of streams) for (const [k, v] of Object.entries(f(r))) m[k] = (m[k] ?? 0) + v;
    return m;
  };
  return {
    mode: 'streams',
    target: `${a.host}:${a.port}`,
    requested: sum((r) => r.requested),
    ok: sum((r) => r.ok),
    failures: sum((r) => r.failures),
    counts: merge((r) => r.counts),
    errors: merge((r) => r.errors),
    retried: 0,
    durationMs: Date.now() - started,
    streams,
  };
}

async function run(a: Args): Promise<ClientResult> {
  if (a.mode === 'keepalive') return runKeepalive(a);
  if (a.mode === 'streams') return runStreams(a);
  const started = Date.now();
  const result: ClientResult = {
    mode: a.mode,
    target: `${a.host}:${a.port}`,
    requested: a.count,
    ok: 0,
    failures: 0,
    counts: {},
    errors: {},
    retried: 0,
    durationMs: 0,
  };
  let next = 0;
  // count 0 (tcp): requests until the stop file appears, for load that lasts as long as what a test does meanwhile.
  const more = (): boolean => (a.count > 0 ? next < a.count : !fs.existsSync(a.stopFile));
  const worker = async (): Promise<void> => {
    while (more()) {
      const i = next++;
      const t0 = Date.now();
      const o = a.mode === 'tcp' ? await tcpOnce(a, a.fixedPorts ? a.basePort + i : undefined) : await udpOnce(a, i);
      if (a.mode === 'tcp' && !o.ok) (result.failureTimes ??= []).push(Date.now());
      else if (a.mode === 'tcp' && Date.now() - t0 > 500) (result.slowTimes ??= []).push(Date.now());
      if (o.ok && a.fixedPorts) (result.byPort ??= {})[String(a.basePort + i)] = o.name;
      if (o.ok) {
        result.ok++;
        result.counts[o.name] = (result.counts[o.name] ?? 0) + 1;
        if (o.retried) result.retried++;
      } else {
        result.failures++;
        result.errors[o.reason] = (result.errors[o.reason] ?? 0) + 1;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, a.count > 0 ? Math.min(a.concurrency, a.count) : a.concurrency) }, () => worker());
  await Promise.all(workers);
  if (a.count === 0) result.requested = next;
  result.durationMs = Date.now() - started;
  return result;
}

if (require.main === module) {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`client: ${(e as Error).message}\n`);
    process.exit(2);
  }
  run(args).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(r.failures === 0 ? 0 : 1);
    },
    (e: Error) => {
      process.stderr.write(`client: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
