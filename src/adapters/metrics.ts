// SPDX-License-Identifier: Apache-2.0
// metrics.ts: the daemon's HTTP listener next to the API socket: Prometheus /metrics, the read-only status page, and its JSON feed.

import * as http from 'node:http';
import { verdictFields } from '../core/abi';
import { RuntimeError } from '../core/errors';
import { hostAllowed } from '../core/httphost';
import type { ServiceListing } from '../core/listing';
import type { DirectorInfo } from '../core/vrrp';
import type { AnnouncerStatus } from './announce';
import { type MetricsSource, registry } from './promregistry';
import { HistoryRing } from './statushistory';
import { FAVICON, statusPage } from './statuspage';
import type { SyncStats } from './sync';

export interface StatusJson {
  time: number;
  director?: DirectorInfo;
  services: ServiceListing[];
  verdicts: Record<string, number>;
  connTable: { entries: number; capacity: number; capacity6?: number; measuredAt: number; evicted: number; untracked: number };
  notes: string[];
  /** Per VIP announced or withdrawn and why, and the drain (absent without a bgp section). */
  bgp?: AnnouncerStatus;
  /** Connection sync (present when a sync daemon runs). */
  sync?: SyncStats;
}

/** Why some columns are empty, so neither the page nor a JSON reader takes a missing number for zero. */
export const NOTES = [
  'connection states are inferred from client-to-server packets only (in LVS-DR the replies bypass the director), as IPVS does',
  "connTable.entries is the last sweep's count; evicted and untracked count since the datapath was loaded",
];

export function statusJson(src: MetricsSource, now = Date.now()): StatusJson {
  const v = src.verdicts();
  const director = src.director?.();
  return {
    time: now,
    ...(director ? { director } : {}),
    services: src.list(),
    verdicts: Object.fromEntries(verdictFields.map((f) => [f, Number(v[f])])),
    connTable: { ...src.connTable(), evicted: Number(v.ct_evicted), untracked: Number(v.ct_untracked) },
    notes: NOTES,
    ...(src.bgp?.() ? { bgp: src.bgp()! } : {}),
    ...(src.sync && (src.sync().master || src.sync().backup) ? { sync: src.sync() } : {}),
  };
}

/**
 * Listens on metrics.listen; a taken or foreign address is a start-up error naming the field. Only requests whose Host
 * header hostAllowed() accepts are answered (allowedHosts: metrics.allowed_hosts), since the listener may be opened
 * beyond loopback and a browser would otherwise let a DNS-rebound page read it.
 */
export async function serveMetrics(
  listen: string,
  src: MetricsSource,
  log: (msg: string, f?: Record<string, unknown>) => void,
  allowedHosts: readonly string[] = [],
): Promise<http.Server> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i);
  const port = Number(listen.slice(i + 1));
  const reg = registry(src);
  const page = statusPage();
  // The chart's history is the daemon's, so a page opened now shows the last two minutes, not an empty chart.
  const history = new HistoryRing();
  const sampler = setInterval(() => {
    try {
      history.add(Date.now(), src.list());
    } catch (e) {
      log('status history sample failed', { err: (e as Error).message });
    }
  }, 1000);
  sampler.unref();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (!hostAllowed(req.headers.host, listen, allowedHosts)) {
      // 421 Misdirected Request: this listener does not serve that name; the body says how to make it.
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`host ${JSON.stringify(req.headers.host ?? '')} is not served here (list it in metrics.allowed_hosts)\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const fail = (e: unknown) => {
      log('metrics request failed', { url, err: (e as Error).message });
      send(500, 'text/plain; charset=utf-8', `${(e as Error).message}\n`);
    };
    try {
      if (url === '/metrics') reg.metrics().then((m) => send(200, reg.contentType, m), fail);
      else if (url === '/api/status') send(200, 'application/json', `${JSON.stringify(statusJson(src))}\n`);
      else if (url === '/api/history') send(200, 'application/json', `${JSON.stringify(history.snapshot())}\n`);
      else if (url === '/' || url === '/index.html') send(200, 'text/html; charset=utf-8', page);
      else if (url === '/favicon.svg' || url === '/favicon.ico') send(200, 'image/svg+xml', FAVICON);
      else send(404, 'text/plain; charset=utf-8', 'not found (try /, /metrics, /api/status or /api/history)\n');
    } catch (e) {
      fail(e);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'EADDRINUSE'
          ? 'address already in use'
          : e.code === 'EADDRNOTAVAIL'
            ? 'not an address of this host'
            : e.code === 'EACCES'
              ? 'permission denied'
              : e.message;
      reject(new RuntimeError(`metrics.listen ${JSON.stringify(listen)}: cannot listen: ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
  server.on('close', () => clearInterval(sampler));
  return server;
}

/**
 * Counts a hash map's entries by one batched walk, reused for maxAgeMs: a 1M-entry table takes a
 * noticeable fraction of a second to walk (see README), far too much to pay on every scrape.
 */
export function cachedCount(walk: () => number, maxAgeMs: number, now: () => number = Date.now): () => { entries: number; measuredAt: number } {
  let last: { entries: number; measuredAt: number } | undefined;
  return () => {
    const t = now();
    if (!last || t - last.measuredAt >= maxAgeMs) last = { entries: walk(), measuredAt: t };
    return last;
  };
}
