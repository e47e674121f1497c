// SPDX-License-Identifier: Apache-2.0
// xlvsadm.ts: the xlvsadm command: ipvsadm's syntax and output formats, driving the xlvs daemon over its API socket.

import * as dns from 'node:dns';
import * as fs from 'node:fs';
import { call, DEFAULT_SOCKET } from '../adapters/api';
import type { SyncStats } from '../adapters/sync';
import { monoSeconds } from '../core/abi';
import type { Config } from '../core/config';
import { ExistsError, NotFoundError } from '../core/edits';
import { RuntimeError, UsageError } from '../core/errors';
import { ipvsadmEdit, present } from '../core/ipvsadm-edit';
import { type ConnListing, formatConns, formatList, formatSave, formatTimeouts, type Namer, numericName } from '../core/ipvsadm-format';
import { IPVSADM_HELP, type IpvsadmCommand, IpvsadmError, parseIpvsadm, type ServiceLookup } from '../core/ipvsadm-parse';
import { syncMaxlen } from '../core/ipvssync';
import type { ServiceListing } from '../core/listing';
import { isIPv6 } from '../core/net/addr';
import { formatDaemons } from '../core/syncconfig';

/** /etc/services, both ways: what ipvsadm gets from getservbyname/getservbyport. */
function services(): { byName: ServiceLookup; byPort: (port: number, proto: string) => string | undefined } {
  const names = new Map<string, number>();
  const ports = new Map<string, string>();
  let text = '';
  try {
    text = fs.readFileSync('/etc/services', 'utf8');
  } catch {
    /* no services database: numbers only */
  }
  for (const line of text.split('\n')) {
    const m = /^([^\s#]+)\s+(\d+)\/(tcp|udp)([^#]*)/.exec(line);
    if (!m) continue;
    const [, name, port, proto, aliases] = m;
    if (!ports.has(`${port}/${proto}`)) ports.set(`${port}/${proto}`, name!);
    for (const n of [name!, ...aliases!.trim().split(/\s+/).filter(Boolean)]) if (!names.has(`${n}/${proto}`)) names.set(`${n}/${proto}`, Number(port));
  }
  return { byName: (n, p) => names.get(`${n}/${p}`), byPort: (port, p) => ports.get(`${port}/${p}`) };
}

/** Without -n ipvsadm shows host names (reverse lookup through the system resolver) and service names. */
async function resolvingNamer(addrs: string[]): Promise<Namer> {
  const svc = services();
  const hosts = new Map<string, string>();
  await Promise.all(
    [...new Set(addrs)].map(
      (a) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          dns.lookupService(a, 0, (err, host) => {
            clearTimeout(t);
            if (!err && host) hosts.set(a, host);
            resolve();
          });
        }),
    ),
  );
  // addrport_to_anyname brackets an IPv6 service's host, name or address alike.
  return (addr, port, proto) => {
    const host = hosts.get(addr) ?? addr;
    return `${isIPv6(addr) ? `[${host}]` : host}:${svc.byPort(port, proto) ?? port}`;
  };
}

/** The daemon's errors as ipvsadm prints them (ipvs_strerror) with its exit code (-1, i.e. 255). */
function ipvsadmError(e: unknown, kind: IpvsadmCommand['kind']): IpvsadmError {
  if (e instanceof IpvsadmError) return e;
  // libipvs's ipvs_strerror texts for the sync daemon calls (EEXIST, ESRCH).
  if (kind === 'start-daemon' && e instanceof ExistsError) return new IpvsadmError('Daemon has already run', 255);
  if (kind === 'stop-daemon' && e instanceof NotFoundError) return new IpvsadmError('No daemon is running', 255);
  if (e instanceof NotFoundError) return new IpvsadmError(/no real/.test(e.message) ? 'No such destination' : 'No such service', 255);
  if (e instanceof ExistsError) return new IpvsadmError(kind === 'add-real' ? 'Destination already exists' : 'Service already exists', 255);
  if (e instanceof UsageError) return new IpvsadmError(e.message, 2);
  if (e instanceof RuntimeError) return new IpvsadmError(e.message, 1);
  return new IpvsadmError(e instanceof Error ? e.message : String(e), 1);
}

/** The API call for a single-change command (null fields of an edit remove the setting, as ipvsadm's -E/-e replace it). */
function request(cmd: IpvsadmCommand): [string, unknown] | undefined {
  switch (cmd.kind) {
    case 'add-service':
      return ['service/add', { service: { ...cmd.svc, ...present(cmd.fields) } }];
    case 'edit-service':
      return ['service/edit', { service: { ...cmd.svc, ...cmd.fields } }];
    case 'delete-service':
      return ['service/delete', { service: cmd.svc }];
    case 'clear':
      return ['clear', {}];
    case 'add-real':
      return ['real/add', { service: cmd.svc, real: { address: cmd.address, ...present(cmd.fields) } }];
    case 'edit-real':
      return ['real/edit', { service: cmd.svc, real: { address: cmd.address, ...cmd.fields } }];
    case 'delete-real':
      return ['real/delete', { service: cmd.svc, real: { address: cmd.address } }];
    case 'set-timeouts':
      return ['timeouts', { timeouts: cmd.timeouts }];
    case 'start-daemon':
      return ['sync/start', { role: cmd.role, daemon: cmd.daemon }];
    case 'stop-daemon':
      return ['sync/stop', { role: cmd.role }];
    default:
      return undefined;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runXlvsadm(argv: string[], socket: string, out: (s: string) => void): Promise<void> {
  const svc = services();
  const cmd = parseIpvsadm(argv, svc.byName);
  const api = <T>(method: 'GET' | 'POST', route: string, body?: unknown) =>
    call<T>(socket, method, route, body).catch((e: unknown) => {
      throw ipvsadmError(e, cmd.kind);
    });
  switch (cmd.kind) {
    case 'help':
      out(IPVSADM_HELP);
      return;
    case 'list': {
      if (cmd.format === 'conns') {
        const [conns, cfg] = await Promise.all([api<ConnListing[]>('GET', '/v1/conns'), api<Config>('GET', '/v1/config')]);
        // lastSeen is in seconds of the kernel's coarse CLOCK_MONOTONIC; hrtime reads CLOCK_MONOTONIC on the same host
        // (the socket is local), so the difference is the entry's idle time to within a tick.
        const now = monoSeconds(process.hrtime.bigint());
        const mine = cmd.svc ? conns.filter((c) => c.vip === cmd.svc!.vip && c.vport === cmd.svc!.port && c.protocol === cmd.svc!.protocol) : conns;
        if (cmd.json) {
          out(`${JSON.stringify(mine, null, 2)}\n`);
          return;
        }
        out(
          formatConns(mine, cmd.numeric ? numericName : await resolvingNamer(mine.flatMap((c) => [c.client, c.vip, c.real])), { now, timeouts: cfg.timeouts }),
        );
        return;
      }
      const [list, cfg] = await Promise.all([api<ServiceListing[]>('GET', '/v1/services'), api<Config>('GET', '/v1/config')]);
      let shown = list;
      if (cmd.svc) {
        shown = list.filter((s) => s.vip === cmd.svc!.vip && s.port === cmd.svc!.port && s.protocol === cmd.svc!.protocol);
        if (!shown.length) throw new IpvsadmError('No such service', 255);
      }
      if (cmd.json) {
        out(`${JSON.stringify(shown, null, 2)}\n`);
        return;
      }
      const name = cmd.numeric ? numericName : await resolvingNamer(shown.flatMap((s) => [s.vip, ...s.reals.map((r) => r.address)]));
      // ipvsadm prints the version header only when listing everything.
      out(formatList(shown, { format: cmd.format, exact: cmd.exact, size: cfg.conn_table_size, name, header: !cmd.svc }));
      return;
    }
    case 'list-timeouts': {
      const cfg = await api<Config>('GET', '/v1/config');
      out(formatTimeouts(cfg.timeouts));
      return;
    }
    case 'list-daemon': {
      const [cfg, st] = await Promise.all([api<Config>('GET', '/v1/config'), api<SyncStats>('GET', '/v1/sync')]);
      out(formatDaemons(cfg.sync, (role, d) => st[role]?.maxlen ?? syncMaxlen(role, 1500, d.maxlen)));
      return;
    }
    case 'save': {
      const list = await api<ServiceListing[]>('GET', '/v1/services');
      out(formatSave(list, cmd.numeric ? numericName : await resolvingNamer(list.flatMap((s) => [s.vip, ...s.reals.map((r) => r.address)]))));
      return;
    }
    case 'zero':
      await api('POST', '/v1/zero', cmd.svc ? { service: cmd.svc } : {});
      return;
    case 'restore': {
      // Every line is parsed and applied to a copy first, then the result goes to the daemon as one change:
      // a bad line leaves the running director exactly as it was.
      const cfg = await api<Config>('GET', '/v1/config');
      const lines = (await readStdin()).split('\n');
      lines.forEach((raw, i) => {
        const line = raw.trim();
        if (!line || line.startsWith('#')) return;
        const words = line.split(/\s+/);
        if (words[0] === 'ipvsadm' || words[0] === 'xlvsadm') words.shift();
        let kind: IpvsadmCommand['kind'] = 'restore';
        try {
          const c = parseIpvsadm(words, svc.byName);
          kind = c.kind;
          const edit = ipvsadmEdit(c);
          if (!edit) throw new IpvsadmError(`${words[0]} is not allowed in -R input`, 2);
          edit(cfg);
        } catch (e) {
          const m = ipvsadmError(e, kind);
          throw new IpvsadmError(`line ${i + 1}: ${m.message}`, m.exitCode);
        }
      });
      await api('POST', '/v1/apply', { config: cfg });
      return;
    }
    default: {
      const r = request(cmd);
      if (r) await api('POST', `/v1/${r[0]}`, r[1]);
    }
  }
}

/** bin/xlvsadm: `--socket PATH` (anywhere) picks the daemon; everything else is ipvsadm syntax. */
export async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  let socket = DEFAULT_SOCKET;
  const i = args.findIndex((a) => a === '--socket' || a.startsWith('--socket='));
  if (i >= 0) {
    const a = args[i]!;
    socket = a.includes('=') ? a.slice(a.indexOf('=') + 1) : (args[i + 1] ?? '');
    args.splice(i, a.includes('=') ? 1 : 2);
  }
  try {
    await runXlvsadm(args, socket, (s) => process.stdout.write(s));
  } catch (e) {
    if (e instanceof IpvsadmError) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`xlvsadm: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  }
}
