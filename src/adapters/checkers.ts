// SPDX-License-Identifier: Apache-2.0
// checkers.ts: the health probes themselves (TCP connect, HTTP/HTTPS GET, UDP, DNS, exec, and the DR-path SYN to VIP:port at the real's MAC); each settles within its timeout and never throws.

import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { ResolvedCheck } from '../core/config';
import type { ProbeResult } from '../core/health';
import { formatHostPort } from '../core/net/addr';
import { tcpProbe } from './frameprobes';
import type { Endpoint, ProbeSocket } from './probesocket';

/** What a DR-path probe needs besides the check: the shared raw socket, the director's side, the real's MAC and the VIP. */
export interface DrContext {
  socket(): ProbeSocket;
  director: Endpoint;
  macOf(address: string): string | null;
}

export interface ProbeTarget {
  check: ResolvedCheck;
  real: string;
  vip: string;
}

const errText = (e: unknown): string => {
  const x = e as NodeJS.ErrnoException;
  return x?.code ?? x?.message ?? String(e);
};

function withTimeout(ms: number, run: (done: (r: ProbeResult) => void) => () => void): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        cleanup();
      } catch {
        /* already closed */
      }
      resolve(r);
    };
    // A fired timer is not yet a timeout: when the loop was busy (or its thread not scheduled) as the answer arrived,
    // the answer and the timer are both pending and timers run first in a loop turn. setImmediate runs after that
    // turn's I/O poll, so an answer that arrived in time is read before the verdict.
    const timer = setTimeout(() => setImmediate(() => done({ ok: false, detail: `timeout after ${ms} ms` })), ms);
    try {
      cleanup = run(done);
    } catch (e) {
      done({ ok: false, detail: errText(e) });
    }
  });
}

function tcpConnect(c: ResolvedCheck): Promise<ProbeResult> {
  return withTimeout(c.timeoutMs, (done) => {
    const s = net.connect({ host: c.address, port: c.port });
    s.on('connect', () => done({ ok: true, detail: 'connected' }));
    s.on('error', (e) => done({ ok: false, detail: `connect ${errText(e)}` }));
    return () => s.destroy();
  });
}

/**
 * The TLS server name an HTTPS check sends: `sni`, else the name part of `host` (a Host header may carry a port,
 * which SNI must not), else none. SNI carries DNS names only (RFC 6066), so an address yields none; '' = no SNI.
 */
export function tlsServerName(c: Pick<ResolvedCheck, 'sni' | 'host'>): string {
  if (c.sni !== undefined) return c.sni;
  if (c.host === undefined || c.host.startsWith('[')) return '';
  const name = c.host.replace(/:\d*$/, '');
  return net.isIP(name) ? '' : name;
}

/** A certificate the check refused (verify: true): OpenSSL's verify code plus Node's wording of it. */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|ALTNAME|HOSTNAME_MISMATCH/;

function httpError(c: ResolvedCheck, e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  if (c.type === 'https' && x?.code && CERT_ERROR.test(x.code)) return `https certificate not trusted: ${x.message} (${x.code})`;
  return `${c.type} ${errText(e)}`;
}

function httpGet(c: ResolvedCheck): Promise<ProbeResult> {
  return withTimeout(c.timeoutMs, (done) => {
    const mod = c.type === 'https' ? https : http;
    const opts: https.RequestOptions = {
      host: c.address,
      port: c.port,
      path: c.path,
      method: 'GET',
      agent: false,
      headers: { host: c.host ?? hostHeader(c.address), 'user-agent': 'xlvs-check', connection: 'close' },
      // verify: the chain must lead to a trusted CA and name the server name (or, without one, the address).
      ...(c.type === 'https' ? { servername: tlsServerName(c), rejectUnauthorized: c.verify } : {}),
    };
    const req = mod.request(opts, (res) => {
      const status = res.statusCode ?? 0;
      if (!c.status.includes(status)) {
        done({ ok: false, detail: `status ${status}` });
        return;
      }
      if (c.bodyRegex === undefined) {
        done({ ok: true, detail: `status ${status}` });
        return;
      }
      const re = new RegExp(c.bodyRegex);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        // Bounded: a health page is small; a huge one is matched on its first 64 KiB.
        if (body.length < 65536) body += d;
      });
      res.on('end', () =>
        done(
          re.test(body)
            ? { ok: true, detail: `status ${status}, body matches` }
            : { ok: false, detail: `status ${status}, body does not match ${c.bodyRegex}` },
        ),
      );
      res.on('error', (e) => done({ ok: false, detail: errText(e) }));
    });
    req.on('error', (e) => done({ ok: false, detail: httpError(c, e) }));
    req.end();
    return () => req.destroy();
  });
}

function udpExchange(c: ResolvedCheck, payload: Buffer, judge: (reply: Buffer) => ProbeResult): Promise<ProbeResult> {
  return withTimeout(c.timeoutMs, (done) => {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => done({ ok: false, detail: `udp ${errText(e)}` }));
    s.on('message', (m) => done(judge(m)));
    // Connected, so an ICMP port unreachable comes back as ECONNREFUSED instead of silence.
    s.connect(c.port, c.address, () => s.send(payload));
    return () => s.close();
  });
}

function udpCheck(c: ResolvedCheck): Promise<ProbeResult> {
  return udpExchange(c, Buffer.from(c.payload, 'utf8'), (m) =>
    c.expect === undefined || m.toString('utf8').includes(c.expect)
      ? { ok: true, detail: `reply of ${m.length} bytes` }
      : { ok: false, detail: `reply does not contain ${JSON.stringify(c.expect)}` },
  );
}

const QTYPES: Record<string, number> = { A: 1, NS: 2, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };

/** A standard recursive-desired query for query_name; the server is up when it answers that id with NOERROR. */
export function dnsQuery(id: number, name: string, qtype: string): Buffer {
  const labels = name === '.' ? [] : name.replace(/\.$/, '').split('.');
  const parts = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'ascii'));
  const t = QTYPES[qtype] ?? 1;
  parts.push(Buffer.from([0, t >> 8, t & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

function dnsCheck(c: ResolvedCheck): Promise<ProbeResult> {
  const id = Math.floor(Math.random() * 65536);
  return udpExchange(c, dnsQuery(id, c.queryName, c.queryType), (m) => {
    if (m.length < 12 || m.readUInt16BE(0) !== id || !(m[2]! & 0x80)) return { ok: false, detail: 'not an answer to the query' };
    const rcode = m[3]! & 0x0f;
    return rcode === 0 ? { ok: true, detail: `NOERROR, ${m.readUInt16BE(6)} answer(s)` } : { ok: false, detail: `rcode ${rcode}` };
  });
}

function execCheck(c: ResolvedCheck, t: ProbeTarget): Promise<ProbeResult> {
  return withTimeout(c.timeoutMs, (done) => {
    // argv, never a shell; its own process group, so a timeout kills whatever it started too.
    const child = spawn(c.argv[0]!, c.argv.slice(1), {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, XLVS_REAL: t.real, XLVS_VIP: t.vip, XLVS_PORT: String(c.port), XLVS_ADDRESS: c.address },
    });
    child.on('error', (e) => done({ ok: false, detail: `exec ${errText(e)}` }));
    child.on('exit', (code, sig) => done(code === 0 ? { ok: true, detail: 'exit 0' } : { ok: false, detail: sig ? `killed by ${sig}` : `exit ${code}` }));
    return () => {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    };
  });
}

/**
 * The DR path: a SYN from the director to VIP:port at the real's MAC, exactly what the datapath does with a client's
 * SYN. SYN-ACK = up. RST (nothing listens on the VIP) or silence (the real no longer holds the VIP, so its kernel
 * drops the frame) = down, even when the real's own address still accepts connections.
 */
async function drCheck(c: ResolvedCheck, t: ProbeTarget, dr: DrContext | undefined): Promise<ProbeResult> {
  if (!dr) return { ok: false, detail: 'DR-path probe unavailable (no raw socket)' };
  const mac = dr.macOf(t.real);
  if (!mac) return { ok: false, inconclusive: true, detail: `MAC of ${t.real} unresolved (not checked)` };
  try {
    const r = await tcpProbe(dr.socket(), dr.director, mac, t.vip, c.port, { timeoutMs: c.timeoutMs, mss: 1460 });
    if (r.kind === 'synack') return { ok: true, detail: `SYN-ACK from ${formatHostPort(t.vip, c.port)} at ${mac}` };
    if (r.kind === 'rst') return { ok: false, detail: `RST from ${formatHostPort(t.vip, c.port)} at ${mac} (nothing listens on the VIP)` };
    return { ok: false, detail: `no answer from ${formatHostPort(t.vip, c.port)} at ${mac} within ${c.timeoutMs} ms (VIP not on the real?)` };
  } catch (e) {
    return { ok: false, detail: `DR-path probe: ${errText(e)}` };
  }
}

/** Runs one check; resolves (never rejects) within about its timeout. */
export function runProbe(t: ProbeTarget, dr?: DrContext): Promise<ProbeResult> {
  const c = t.check;
  if (c.mode === 'dr') return drCheck(c, t, dr);
  switch (c.type) {
    case 'tcp':
      return tcpConnect(c);
    case 'http':
    case 'https':
      return httpGet(c);
    case 'udp':
      return udpCheck(c);
    case 'dns':
      return dnsCheck(c);
    case 'exec':
      return execCheck(c, t);
  }
}

/** The Host header for an address: an IPv6 literal in brackets (RFC 7230). */
function hostHeader(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
