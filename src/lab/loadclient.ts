// SPDX-License-Identifier: Apache-2.0
// loadclient.ts: the lab's sustained load until a stop file appears: timed short TCP requests at a fixed rate and long-lived keep-alive streams.

import * as fs from 'node:fs';
import * as http from 'node:http';

/** One short request: start and end (epoch ms), the real that answered or the failure. */
export type ShortRequest = [t0: number, t1: number, real: string | null, error?: string];

export interface StreamResult {
  requests: number;
  ok: number;
  failures: number;
  errors: Record<string, number>;
  /** Replies per real: one key for a stream that never moved. */
  counts: Record<string, number>;
  /** The local ports its requests went out from: one for a connection that never broke. */
  localPorts: number[];
  /** The slowest request (ms): a stream held up by a takeover shows it here. */
  maxLatencyMs: number;
}

export interface LoadResult {
  startedAt: number;
  stoppedAt: number;
  short: ShortRequest[];
  /** Short-request starts skipped because maxOutstanding were in flight. */
  skipped: number;
  streams: StreamResult[];
}

interface Args {
  host: string;
  port: number;
  /** Short requests started per second, whether or not earlier ones finished (open loop: a stall delays no start). */
  rate: number;
  /** Short requests in flight at most; a start beyond it is skipped and counted. */
  maxOutstanding: number;
  timeoutMs: number;
  streams: number;
  streamIntervalMs: number;
  streamTimeoutMs: number;
  stopFile: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    host: '',
    port: 0,
    rate: 100,
    maxOutstanding: 400,
    timeoutMs: 1000,
    streams: 12,
    streamIntervalMs: 100,
    streamTimeoutMs: 20000,
    stopFile: '',
  };
  const keys: Record<string, keyof Args> = {
    '--host': 'host',
    '--port': 'port',
    '--rate': 'rate',
    '--max-outstanding': 'maxOutstanding',
    '--timeout-ms': 'timeoutMs',
    '--streams': 'streams',
    '--stream-interval-ms': 'streamIntervalMs',
    '--stream-timeout-ms': 'streamTimeoutMs',
    '--stop-file': 'stopFile',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = keys[argv[i]!];
    const v = argv[i + 1];
    if (!k || v === undefined) throw new Error(`bad option ${argv[i]}`);
    (a as unknown as Record<string, string | number>)[k] = k === 'host' || k === 'stopFile' ? v : Number(v);
  }
  if (!a.host || !(a.port > 0) || !a.stopFile) throw new Error('--host, --port and --stop-file are required');
  return a;
}

/** One GET on the agent given (a fresh connection per request with agent false), resolved with the body or the failure. */
function get(a: Args, agent: http.Agent | false, timeoutMs: number, onSocket?: (port: number) => void): Promise<{ real: string | null; error?: string }> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { real: string | null; error?: string }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.request({ host: a.host, port: a.port, path: '/', agent, ...(agent ? {} : { headers: { Connection: 'close' } }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const name = Buffer.concat(chunks).toString('utf8').trim();
        finish(res.statusCode === 200 && name ? { real: name } : { real: null, error: `http ${res.statusCode}` });
      });
      res.on('error', (e) => finish({ real: null, error: e.message }));
    });
    req.on('socket', (s) => {
      if (!onSocket) return;
      if (s.localPort) onSocket(s.localPort);
      else s.once('connect', () => s.localPort && onSocket(s.localPort));
    });
    const timer = setTimeout(() => {
      finish({ real: null, error: `timeout ${timeoutMs}ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ real: null, error: e.code ?? e.message }));
    req.end();
  });
}

async function run(a: Args): Promise<LoadResult> {
  const startedAt = Date.now();
  let stopping = false;
  const poll = setInterval(() => {
    if (fs.existsSync(a.stopFile)) stopping = true;
  }, 50);
  const short: ShortRequest[] = [];
  let skipped = 0;
  // Open loop, so the first request started after a takeover is at most 1/rate late (a closed loop's workers would
  // all be waiting out their timeouts then, and the measured window would grow by up to one timeout).
  const shortLoop = async (): Promise<void> => {
    const pending = new Set<Promise<void>>();
    let next = Date.now();
    while (!stopping) {
      if (pending.size < a.maxOutstanding) {
        const t0 = Date.now();
        const p: Promise<void> = get(a, false, a.timeoutMs).then((r) => {
          short.push(r.error ? [t0, Date.now(), null, r.error] : [t0, Date.now(), r.real]);
          pending.delete(p);
        });
        pending.add(p);
      } else skipped++;
      next += 1000 / a.rate;
      await new Promise((res) => setTimeout(res, Math.max(0, next - Date.now())));
    }
    await Promise.all(pending);
  };
  const stream = async (): Promise<StreamResult> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const s: StreamResult = { requests: 0, ok: 0, failures: 0, errors: {}, counts: {}, localPorts: [], maxLatencyMs: 0 };
    while (!stopping) {
      const t0 = Date.now();
      s.requests++;
      const r = await get(a, agent, a.streamTimeoutMs, (p) => ports.add(p));
      s.maxLatencyMs = Math.max(s.maxLatencyMs, Date.now() - t0);
      if (r.real) {
        s.ok++;
        s.counts[r.real] = (s.counts[r.real] ?? 0) + 1;
      } else {
        s.failures++;
        s.errors[r.error!] = (s.errors[r.error!] ?? 0) + 1;
      }
      await new Promise((res) => setTimeout(res, a.streamIntervalMs));
    }
    agent.destroy();
    s.localPorts = [...ports];
    return s;
  };
  const streams = Promise.all(Array.from({ length: a.streams }, () => stream()));
  await shortLoop();
  const res = { startedAt, stoppedAt: Date.now(), short, skipped, streams: await streams };
  clearInterval(poll);
  return res;
}

if (require.main === module) {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`loadclient: ${(e as Error).message}\n`);
    process.exit(2);
  }
  run(args).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: Error) => {
      process.stderr.write(`loadclient: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
