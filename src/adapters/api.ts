// SPDX-License-Identifier: Apache-2.0
// api.ts: the daemon's runtime API, JSON over HTTP on a root-only unix socket: the server around a Controller, and the client the CLI verbs use.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseBody } from '../core/apibody';
import type { Controller } from '../core/controller';
import { ExistsError, edits, NotFoundError } from '../core/edits';
import { RuntimeError, UsageError } from '../core/errors';
import { patchReal, patchService } from '../core/ipvsadm-edit';
import type { DirectorInfo } from '../core/vrrp';
import type { ReloadResult } from './promregistry';

/** The API socket when `--socket` is not given: $XLVS_SOCKET (as xlvsadm reads it), else the systemd unit's path. */
export const DEFAULT_SOCKET = process.env.XLVS_SOCKET || '/run/xlvs/xlvs.sock';

/** Error kinds on the wire, so the client can rebuild the same exit code and ipvsadm message. */
type Kind = 'usage' | 'notfound' | 'exists' | 'runtime';

function kindOf(e: unknown): Kind {
  if (e instanceof NotFoundError) return 'notfound';
  if (e instanceof ExistsError) return 'exists';
  if (e instanceof UsageError) return 'usage';
  return 'runtime';
}

const STATUS: Record<Kind, number> = { usage: 400, notfound: 404, exists: 409, runtime: 500 };

type Handler = (body: unknown) => Promise<unknown> | unknown;

/** Who this director is and its VRRP role (adapters/director.ts); keepalived's notify calls land in notify(). */
export interface DirectorApi {
  info(): DirectorInfo;
  notify(state: 'master' | 'backup' | 'fault', instance?: string): DirectorInfo;
}

/**
 * The handlers by "METHOD /path". Each POST body is parsed by its schema (src/core/apibody.ts) before anything runs:
 * a field of the wrong type or range, or one the call does not take, is a usage error naming it.
 */
export function routes(
  c: Controller,
  reload: () => Promise<unknown>,
  director?: DirectorApi,
  lastReload?: () => ReloadResult,
  syncStats: () => unknown = () => ({}),
): Record<string, Handler> {
  const noDirector = (): never => {
    throw new RuntimeError('this daemon keeps no director state');
  };
  return {
    'GET /v1/reload': () => lastReload?.() ?? null,
    'GET /v1/director': () => (director ? director.info() : noDirector()),
    'POST /v1/director/notify': (b) => {
      const { state, instance } = parseBody('POST /v1/director/notify', b);
      return director ? director.notify(state, instance) : noDirector();
    },
    'GET /v1/sync': () => syncStats(),
    'POST /v1/sync/start': (b) => {
      const { role, daemon } = parseBody('POST /v1/sync/start', b);
      return c.setSyncDaemon(role, daemon);
    },
    'POST /v1/sync/stop': (b) => c.setSyncDaemon(parseBody('POST /v1/sync/stop', b).role, null),
    'GET /v1/config': () => c.config(),
    'GET /v1/services': () => c.list(),
    'GET /v1/conns': () => c.connections(),
    'GET /v1/conntable': () => {
      const t = c.connTable();
      return { entries: t ? t.conns : null, capacity: c.connTableCapacity(), size: c.connTableSize(), expired: t ? t.expired : null };
    },
    'POST /v1/apply': (b) => {
      const { config, dryRun } = parseBody('POST /v1/apply', b);
      return c.apply(config, { dryRun: !!dryRun });
    },
    'POST /v1/reload': (b) => (parseBody('POST /v1/reload', b), reload()),
    'POST /v1/zero': (b) => c.zero(parseBody('POST /v1/zero', b).service).then(() => ({})),
    'POST /v1/clear': (b) => (parseBody('POST /v1/clear', b), c.change(edits.clear())),
    'POST /v1/timeouts': (b) => c.setTimeouts(parseBody('POST /v1/timeouts', b).timeouts),
    'POST /v1/service/add': (b) => c.change(edits.addService(parseBody('POST /v1/service/add', b).service)),
    'POST /v1/service/edit': (b) => {
      // Every setting given is applied (a check too: the health runner follows each applied config); null removes one.
      const { vip, port, protocol, ...fields } = parseBody('POST /v1/service/edit', b).service;
      return c.change(patchService({ vip, port, protocol }, fields));
    },
    'POST /v1/service/delete': (b) => c.change(edits.deleteService(parseBody('POST /v1/service/delete', b).service)),
    'POST /v1/real/add': (b) => {
      const { service, real } = parseBody('POST /v1/real/add', b);
      return c.change(edits.addReal(service, real));
    },
    'POST /v1/real/edit': (b) => {
      const {
        service,
        real: { address, ...fields },
      } = parseBody('POST /v1/real/edit', b);
      return c.change(patchReal(service, address, fields));
    },
    'POST /v1/real/delete': (b) => {
      const { service, real } = parseBody('POST /v1/real/delete', b);
      return c.change(edits.deleteReal(service, real.address));
    },
  };
}

/**
 * Largest request body: `xlvs apply -f` sends the whole config as JSON, 11.2 MiB for 10,000 services x 10 reals
 * with an http check per service and thresholds on every real, 20.4 MiB at the count limits (16,384 services,
 * 131,072 reals, a check override on each); every config file within MAX_CONFIG_BYTES has a JSON form this size or less
 * unless it leans on aliases.
 */
export const MAX_BODY_BYTES = 32 << 20;

/** Refused before it is read whole; answered with 413 (the client still reads the reply, see serve). */
class TooLargeError extends UsageError {}

const tooLarge = (size?: number) =>
  new TooLargeError(
    `request body ${size !== undefined ? `of ${size} bytes ` : ''}larger than the API's limit of ${MAX_BODY_BYTES} bytes (${MAX_BODY_BYTES >> 20} MiB)`,
  );

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(tooLarge(declared));
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return; // discarded: the 413 is on its way and the connection closes after it
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        reject(tooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
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
  if (!st.isSocket())
    throw new RuntimeError(
      `--socket ${file}: a ${st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symbolic link' : 'file that is not a socket'} is there; refusing to replace it`,
    );
  const state = await new Promise<'live' | 'stale' | string>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'stale' : (e.code ?? e.message)));
  });
  if (state === 'live') throw new RuntimeError(`another xlvs daemon is listening on ${file}`);
  if (state !== 'stale') throw new RuntimeError(`--socket ${file}: cannot tell whether a daemon still uses it (connect: ${state}); refusing to remove it`);
  fs.unlinkSync(file);
}

/** Pending connections the API socket holds before the kernel refuses more. */
export const API_BACKLOG = 4096;

/** Listens on the unix socket (mode 0600, directory 0700); a stale socket is removed, a live one refused. */
export async function serve(file: string, handlers: Record<string, Handler>, log: (msg: string, f?: Record<string, unknown>) => void): Promise<http.Server> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await removeStaleSocket(file);
  // No header or request timeout: edits are serialized, so in a burst a request waits its turn for as long as the
  // ones before it take; Node's defaults (60 s for the headers) answered 638 of 1,000 queued edits with a 408. The
  // socket is root-only, so a client holding a connection open costs nothing a root user could not do anyway.
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 0 }, (req, res) => {
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
          if (e instanceof TooLargeError) {
            // The rest of the body is read and dropped rather than cut off (a client still writing would get EPIPE,
            // not this reply); the connection closes after it, and is cut if the client keeps sending regardless.
            res.setHeader('connection', 'close');
            res.on('finish', () => setTimeout(() => req.destroy(), 2000).unref());
            req.resume();
          }
          // The message's first line is the summary; UsageError keeps the per-field details separately.
          reply(e instanceof TooLargeError ? 413 : STATUS[kind], {
            error: { kind, message: (err.message ?? String(e)).split('\n')[0], details: err.details ?? [] },
          });
        },
      );
  });
  // Root-only: the socket is created under a umask that leaves it 0600 (no window where others could connect).
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A burst of clients (1,000 concurrent edits) overflowed Node's default backlog of 511: the kernel reset the
      // connections past it. The kernel caps this at net.core.somaxconn (4096 by default).
      server.listen({ path: file, backlog: API_BACKLOG }, () => resolve());
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
    // Said here rather than by a 413 after megabytes were sent (the daemon refuses it all the same).
    if (data && Buffer.byteLength(data) > MAX_BODY_BYTES) return reject(tooLarge(Buffer.byteLength(data)));
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
      const why =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? 'is the daemon running? (xlvs daemon --config FILE)'
          : e.code === 'EACCES'
            ? 'the socket is root-only'
            : e.message;
      reject(new RuntimeError(`cannot reach the xlvs daemon on ${socket}: ${why}`));
    });
    if (data) req.write(data);
    req.end();
  });
}
