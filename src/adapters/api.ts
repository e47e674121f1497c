// api.ts: the daemon's runtime API, JSON over HTTP on a root-only unix socket: the server around a Controller, and the client the CLI verbs use.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { Controller, ExistsError, NotFoundError, ServiceKey, edits } from '../core/controller';
import { RuntimeError, UsageError } from '../core/errors';
import { patchReal, patchService, present } from '../core/ipvsadm';

export const DEFAULT_SOCKET = '/run/xlvs/xlvs.sock';

/** Error kinds on the wire, so the client can rebuild the same exit code and ipvsadm message. */
type Kind = 'usage' | 'notfound' | 'exists' | 'runtime';

function kindOf(e: unknown): Kind {
  if (e instanceof NotFoundError) return 'notfound';
  if (e instanceof ExistsError) return 'exists';
  if (e instanceof UsageError) return 'usage';
  return 'runtime';
}

const STATUS: Record<Kind, number> = { usage: 400, notfound: 404, exists: 409, runtime: 500 };

/**
 * The fields of `o` an edit may change, those given only: a partial edit never resets a setting to its default.
 * null is kept and removes the field (ipvsadm -E/-e replace a whole definition: -E without -p ends persistence).
 */
function pick(o: any, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o?.[k] !== undefined).map((k) => [k, o[k]]));
}

const SERVICE_EDITABLE = ['scheduler', 'maglev_size', 'sched_flags', 'persistence'] as const;
const REAL_EDITABLE = ['weight', 'upper_threshold', 'lower_threshold'] as const;

function asKey(v: any): ServiceKey {
  if (!v || typeof v !== 'object') throw new UsageError('service: expected { vip, port, protocol }');
  return { vip: String(v.vip), port: Number(v.port), protocol: v.protocol === 'udp' ? 'udp' : 'tcp' };
}

type Handler = (body: any) => Promise<unknown> | unknown;

export function routes(c: Controller, reload: () => Promise<unknown>): Record<string, Handler> {
  return {
    'GET /v1/config': () => c.config(),
    'GET /v1/services': () => c.list(),
    'GET /v1/conns': () => c.connections(),
    'GET /v1/conntable': () => {
      const t = c.connTable();
      return { entries: t ? t.conns : null, capacity: c.connTableCapacity(), expired: t ? t.expired : null };
    },
    'POST /v1/apply': (b) => c.apply(b.config, { dryRun: !!b.dryRun }),
    'POST /v1/reload': () => reload(),
    'POST /v1/zero': (b) => c.zero(b.service ? asKey(b.service) : undefined).then(() => ({})),
    'POST /v1/clear': () => c.change(edits.clear()),
    'POST /v1/timeouts': (b) => c.setTimeouts(present(pick(b.timeouts, ['tcp', 'tcp_fin', 'udp']))),
    'POST /v1/service/add': (b) => c.change(edits.addService({ ...present(b.service ?? {}), ...asKey(b.service) })),
    'POST /v1/service/edit': (b) => c.change(patchService(asKey(b.service), pick(b.service, SERVICE_EDITABLE))),
    'POST /v1/service/delete': (b) => c.change(edits.deleteService(asKey(b.service))),
    'POST /v1/real/add': (b) => c.change(edits.addReal(asKey(b.service), { ...present(pick(b.real, REAL_EDITABLE)), address: String(b.real?.address) })),
    'POST /v1/real/edit': (b) => c.change(patchReal(asKey(b.service), String(b.real?.address), pick(b.real, REAL_EDITABLE))),
    'POST /v1/real/delete': (b) => c.change(edits.deleteReal(asKey(b.service), String(b.real?.address))),
  };
}

function readBody(req: http.IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 16 << 20) {
        reject(new UsageError('request body larger than 16 MiB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new UsageError('request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** Whether something accepts connections on the socket: a file left by a crashed daemon does not. */
export function socketLive(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Clears the way for the socket: nothing there, or a socket file no process listens on (connecting is refused:
 * its daemon died). Anything else is left alone and refused: a regular file, a directory, a link, a live socket,
 * or a socket whose state cannot be proven (connect failed otherwise).
 */
export async function removeStaleSocket(file: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new RuntimeError(`--socket ${file}: a ${st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symbolic link' : 'file that is not a socket'} is there; refusing to replace it`);
  const state = await new Promise<'live' | 'stale' | string>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'stale' : e.code ?? e.message));
  });
  if (state === 'live') throw new RuntimeError(`another xlvs daemon is listening on ${file}`);
  if (state !== 'stale') throw new RuntimeError(`--socket ${file}: cannot tell whether a daemon still uses it (connect: ${state}); refusing to remove it`);
  fs.unlinkSync(file);
}

/** Listens on the unix socket (mode 0600, directory 0700); a stale socket is removed, a live one refused. */
export async function serve(file: string, handlers: Record<string, Handler>, log: (msg: string, f?: Record<string, unknown>) => void): Promise<http.Server> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await removeStaleSocket(file);
  const server = http.createServer((req, res) => {
    const route = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    const h = handlers[route];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (!h) return reply(404, { error: { kind: 'usage', message: `no such API call: ${route}` } });
    readBody(req)
      .then((b) => h(b))
      .then(
        (out) => reply(200, out ?? {}),
        (e: unknown) => {
          const kind = kindOf(e);
          const err = e as Error & { details?: readonly string[] };
          if (kind === 'runtime') log('api call failed', { route, err: err.message });
          // The message's first line is the summary; UsageError keeps the per-field details separately.
          reply(STATUS[kind], { error: { kind, message: (err.message ?? String(e)).split('\n')[0], details: err.details ?? [] } });
        },
      );
  });
  // Root-only: the socket is created under a umask that leaves it 0600 (no window where others could connect).
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(file, 0o600);
  return server;
}

/** One API call; daemon-side failures come back as the same error classes (and so the same exit codes). */
export function call<T = any>(socket: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath: socket, method, path: route, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: any;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new RuntimeError(`the daemon on ${socket} sent a reply that is not JSON`));
          }
          if (res.statusCode === 200) return resolve(parsed as T);
          const e = parsed?.error ?? {};
          const details: string[] = e.details ?? [];
          if (e.kind === 'notfound') reject(new NotFoundError(e.message));
          else if (e.kind === 'exists') reject(new ExistsError(e.message));
          else if (e.kind === 'usage') reject(new UsageError(e.message, details));
          else reject(new RuntimeError(e.message ?? `HTTP ${res.statusCode}`));
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is the daemon running? (xlvs daemon --config FILE)' : e.code === 'EACCES' ? 'the socket is root-only' : e.message;
      reject(new RuntimeError(`cannot reach the xlvs daemon on ${socket}: ${why}`));
    });
    if (data) req.write(data);
    req.end();
  });
}
