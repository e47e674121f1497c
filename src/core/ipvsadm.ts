// ipvsadm.ts: ipvsadm's command syntax parsed into xlvs operations, and ipvsadm's list/save/connection formats reproduced byte for byte (the DR subset).

import type { ServiceListing, ServiceKey } from './controller';
import { isIPv4 } from './config';

/** A refusal carrying ipvsadm's exit code: 2 for what ipvsadm rejects while parsing, 255 (its -1) for what the kernel refuses. */
export class IpvsadmError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'IpvsadmError';
  }
}

const usage = (msg: string) => new IpvsadmError(msg, 2);

export type IpvsadmCommand =
  | { kind: 'add-service' | 'edit-service'; svc: ServiceKey; scheduler: string }
  | { kind: 'delete-service'; svc: ServiceKey }
  | { kind: 'clear' }
  | { kind: 'add-real' | 'edit-real'; svc: ServiceKey; address: string; weight: number }
  | { kind: 'delete-real'; svc: ServiceKey; address: string }
  | { kind: 'list'; svc?: ServiceKey; numeric: boolean; format: 'plain' | 'stats' | 'rate' | 'conns'; exact: boolean }
  | { kind: 'zero'; svc?: ServiceKey }
  | { kind: 'save'; numeric: boolean }
  | { kind: 'restore' }
  | { kind: 'help' };

/** The IPVS schedulers xlvs knows of but does not implement yet; anything else is unknown to IPVS too. */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'twos'];
/** ipvsadm's scheduler when -s is not given (DEF_SCHED). */
export const IPVSADM_DEFAULT_SCHEDULER = 'wlc';

const COMMANDS: Record<string, string> = {
  '-A': 'A', '--add-service': 'A', '-E': 'E', '--edit-service': 'E', '-D': 'D', '--delete-service': 'D',
  '-C': 'C', '--clear': 'C', '-R': 'R', '--restore': 'R', '-S': 'S', '--save': 'S',
  '-a': 'a', '--add-server': 'a', '-e': 'e', '--edit-server': 'e', '-d': 'd', '--delete-server': 'd',
  '-L': 'L', '-l': 'L', '--list': 'L', '-Z': 'Z', '--zero': 'Z', '-h': 'h', '--help': 'h',
};

/** Options taking a value; -p's value is optional (ipvsadm: -p [timeout]). */
const WITH_VALUE: Record<string, string> = {
  '-t': 't', '--tcp-service': 't', '-u': 'u', '--udp-service': 'u', '-f': 'f', '--fwmark-service': 'f',
  '-s': 's', '--scheduler': 's', '-M': 'M', '--netmask': 'M', '-r': 'r', '--real-server': 'r',
  '-w': 'w', '--weight': 'w', '-x': 'x', '--u-threshold': 'x', '-y': 'y', '--l-threshold': 'y',
  '-b': 'b', '--sched-flags': 'b', '--pe': 'pe', '--tun-type': 'tun',
};

const FLAGS: Record<string, string> = {
  '-g': 'g', '--gatewaying': 'g', '-m': 'm', '--masquerading': 'm', '-i': 'i', '--ipip': 'i',
  '-n': 'n', '--numeric': 'n', '-c': 'c', '--connection': 'c', '--stats': 'stats', '--rate': 'rate',
  '--exact': 'exact', '--sort': 'sort', '--persistent-conn': 'pconn', '--thresholds': 'thresholds', '-6': '6', '--ipv6': '6',
  '-o': 'o', '--ops': 'o',
};

/** "-Ln" -> ["-L", "-n"] when every letter is a command or flag (popt-style bundling). */
function expand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (/^-[A-Za-z]{2,}$/.test(a) && [...a.slice(1)].every((ch) => COMMANDS[`-${ch}`] || FLAGS[`-${ch}`])) {
      for (const ch of a.slice(1)) out.push(`-${ch}`);
    } else out.push(a);
  }
  return out;
}

/** Port numbers or /etc/services names, as ipvsadm accepts them. */
export type ServiceLookup = (name: string, proto: 'tcp' | 'udp') => number | undefined;

function parsePort(s: string, proto: 'tcp' | 'udp', lookup: ServiceLookup, what: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 65535) return n;
  } else {
    const n = lookup(s, proto);
    if (n) return n;
  }
  throw usage(`illegal ${what} specified`);
}

function parseService(v: string, proto: 'tcp' | 'udp', lookup: ServiceLookup): ServiceKey {
  const m = /^([^:]+):(.+)$/.exec(v);
  if (!m) throw usage('illegal virtual server address[:port] specified');
  if (!isIPv4(m[1]!)) throw usage('illegal virtual server address[:port] specified');
  return { vip: m[1]!, port: parsePort(m[2]!, proto, lookup, 'virtual server port'), protocol: proto };
}

/**
 * Parses one ipvsadm invocation (argv without the program name). Everything ipvsadm would accept but xlvs cannot do
 * faithfully is refused here, before anything reaches the daemon.
 */
export function parseIpvsadm(argvIn: readonly string[], lookup: ServiceLookup = () => undefined): IpvsadmCommand {
  const argv = expand(argvIn);
  let cmd: string | undefined;
  const opt: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (COMMANDS[name]) {
      if (cmd && cmd !== COMMANDS[name]) throw usage('You cannot specify more than one command');
      cmd = COMMANDS[name];
    } else if (WITH_VALUE[name]) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw usage(`option ${name} requires an argument`);
      opt[WITH_VALUE[name]!] = v;
    } else if (name === '-p' || name === '--persistent') {
      const next = argv[i + 1];
      opt.p = next !== undefined && /^\d+$/.test(next) ? argv[++i]! : true;
    } else if (FLAGS[name]) {
      opt[FLAGS[name]!] = true;
    } else {
      throw usage(`unknown option ${a}`);
    }
  }
  if (!cmd) {
    // Like ipvsadm: no command lists.
    if (Object.keys(opt).length === 0) return { kind: 'list', numeric: false, format: 'plain', exact: false };
    cmd = 'L';
  }

  // What xlvs refuses outright, whatever the command.
  if (opt.m) throw usage('masquerading (-m, NAT) is not supported: xlvs is a direct-routing director (-g)');
  if (opt.i || opt.tun) throw usage('tunneling (-i, IPIP) is not supported: xlvs is a direct-routing director (-g)');
  if (opt.f) throw usage('firewall-mark services (-f) are not supported');
  if (opt['6']) throw usage('IPv6 services (-6) are not supported yet');
  if (opt.p !== undefined) throw usage('persistence (-p) is not supported yet: xlvs would ignore it, so it is refused');
  if (opt.M !== undefined) throw usage('persistence netmask (-M) is not supported yet: xlvs would ignore it, so it is refused');
  if (opt.x !== undefined || opt.y !== undefined) throw usage('connection thresholds (-x/-y) are not supported yet: xlvs would ignore them, so they are refused');
  if (opt.b !== undefined) throw usage('scheduler flags (-b) are not supported yet');
  if (opt.pe !== undefined) throw usage('persistence engines (--pe) are not supported');
  if (opt.o) throw usage('one-packet scheduling (-o) is not supported yet');
  if (opt.pconn || opt.thresholds) throw usage('--persistent-conn and --thresholds are not supported yet');

  const svcOpt = (): ServiceKey | undefined => {
    if (opt.t !== undefined && opt.u !== undefined) throw usage('You cannot specify both -t and -u');
    if (typeof opt.t === 'string') return parseService(opt.t, 'tcp', lookup);
    if (typeof opt.u === 'string') return parseService(opt.u, 'udp', lookup);
    return undefined;
  };
  const needSvc = (): ServiceKey => {
    const s = svcOpt();
    if (!s) throw usage('You need to supply the \'service-address\' option');
    return s;
  };
  const onlyFor = (allowed: string[]): void => {
    const given = Object.keys(opt).filter((k) => !allowed.includes(k));
    if (given.length) throw usage(`Illegal '${given[0]!.length === 1 ? `-${given[0]}` : `--${given[0]}`}' option with the command`);
  };

  switch (cmd) {
    case 'h':
      return { kind: 'help' };
    case 'C':
      onlyFor([]);
      return { kind: 'clear' };
    case 'R':
      onlyFor([]);
      return { kind: 'restore' };
    case 'S':
      onlyFor(['n']);
      return { kind: 'save', numeric: !!opt.n };
    case 'Z': {
      onlyFor(['t', 'u']);
      const svc = svcOpt();
      return svc ? { kind: 'zero', svc } : { kind: 'zero' };
    }
    case 'L': {
      onlyFor(['t', 'u', 'n', 'c', 'stats', 'rate', 'exact', 'sort']);
      const n = [opt.stats, opt.rate, opt.c].filter(Boolean).length;
      if (n > 1) throw usage('You cannot specify more than one of --stats, --rate and -c');
      const svc = svcOpt();
      const format = opt.stats ? 'stats' : opt.rate ? 'rate' : opt.c ? 'conns' : 'plain';
      return { kind: 'list', ...(svc ? { svc } : {}), numeric: !!opt.n, format, exact: !!opt.exact };
    }
    case 'A':
    case 'E': {
      onlyFor(['t', 'u', 's']);
      const svc = needSvc();
      const scheduler = typeof opt.s === 'string' ? opt.s : IPVSADM_DEFAULT_SCHEDULER;
      if (scheduler !== 'mh') {
        if (IPVS_SCHEDULERS.includes(scheduler)) {
          const dflt = opt.s === undefined ? ` (ipvsadm's default when -s is not given; use -s mh)` : ' (only mh so far)';
          throw usage(`scheduler ${scheduler} is not supported yet${dflt}`);
        }
        // ipvsadm passes the name on and the kernel refuses it.
        throw new IpvsadmError('Scheduler not found', 255);
      }
      return { kind: cmd === 'A' ? 'add-service' : 'edit-service', svc, scheduler };
    }
    case 'D':
      onlyFor(['t', 'u']);
      return { kind: 'delete-service', svc: needSvc() };
    case 'a':
    case 'e':
    case 'd': {
      onlyFor(cmd === 'd' ? ['t', 'u', 'r'] : ['t', 'u', 'r', 'g', 'w']);
      const svc = needSvc();
      if (typeof opt.r !== 'string') throw usage('You need to supply the \'real-server\' option');
      const m = /^([^:]+)(?::(.+))?$/.exec(opt.r);
      if (!m || !isIPv4(m[1]!)) throw usage('illegal real server address[:port] specified');
      if (m[2] !== undefined) {
        const port = parsePort(m[2], svc.protocol, lookup, 'real server port');
        if (port !== svc.port) throw usage(`real server port ${port} differs from the service port ${svc.port}: direct routing cannot change the port`);
      }
      if (cmd === 'd') return { kind: 'delete-real', svc, address: m[1]! };
      let weight = 1; // ipvsadm's default, for -e as well as -a
      if (typeof opt.w === 'string') {
        if (!/^\d+$/.test(opt.w) || Number(opt.w) > 65535) throw usage('illegal weight specified');
        weight = Number(opt.w);
      }
      return { kind: cmd === 'a' ? 'add-real' : 'edit-real', svc, address: m[1]!, weight };
    }
  }
  throw usage('unknown command');
}

/** ipvsadm's print_largenum: 9 columns (a leading space included), scaled to K/M/G/T unless --exact. */
export function largenum(n: number | bigint, exact: boolean): string {
  const i = BigInt(n);
  if (exact) {
    const s = i.toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000n) return i.toString().padStart(9);
  if (i < 1000000000n) return `${(i / 1000n).toString().padStart(8)}K`;
  if (i < 100000000000n) return `${(i / 1000000n).toString().padStart(8)}M`;
  if (i < 100000000000000n) return `${(i / 1000000000n).toString().padStart(8)}G`;
  return `${(i / 1000000000000n).toString().padStart(8)}T`;
}

/** How an address:port is shown: numeric (-n) or resolved host and service names. */
export type Namer = (addr: string, port: number, proto: 'tcp' | 'udp') => string;
export const numericName: Namer = (addr, port) => `${addr}:${port}`;

const ipNum = (a: string) => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
const protoNum = (p: string) => (p === 'tcp' ? 6 : 17);

/** ipvsadm sorts services by protocol, address, port, and destinations by address, port. */
function sorted(list: readonly ServiceListing[]): ServiceListing[] {
  return [...list]
    .sort((a, b) => protoNum(a.protocol) - protoNum(b.protocol) || ipNum(a.vip) - ipNum(b.vip) || a.port - b.port)
    .map((s) => ({ ...s, reals: [...s.reals].sort((x, y) => ipNum(x.address) - ipNum(y.address)) }));
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/**
 * `ipvsadm -L [-n] [--stats|--rate] [--exact]`. ActiveConn and InActConn are always 0: the datapath does not track
 * TCP state yet, and a number it does not have would be an invention.
 */
export function formatList(list: readonly ServiceListing[], o: { format: 'plain' | 'stats' | 'rate'; exact: boolean; size: number; name?: Namer; header?: boolean }): string {
  const name = o.name ?? numericName;
  let out = o.header === false ? '' : `IP Virtual Server version 1.2.1 (size=${o.size})\n`;
  if (o.format === 'stats') out += `${pad('Prot LocalAddress:Port', 33)} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => h.padStart(8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  else if (o.format === 'rate') out += `${pad('Prot LocalAddress:Port', 33)} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => h.padStart(8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  else out += 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  const L = (n: number | bigint) => largenum(n, o.exact);
  for (const s of sorted(list)) {
    // ipvsadm cuts the service column at 33 characters and the destination column at 28 (IPv4).
    const svc = `${s.protocol.toUpperCase()}  ${name(s.vip, s.port, s.protocol)}`.slice(0, 33);
    if (o.format === 'stats') out += `${pad(svc, 33)}${L(s.stats.conns)}${L(s.stats.packets)}${L(0)}${L(s.stats.bytes)}${L(0)}\n`;
    else if (o.format === 'rate') out += `${pad(svc, 33)}${L(s.rate.cps)}${L(s.rate.inpps)}${L(s.rate.outpps)}${L(s.rate.inbps)}${L(s.rate.outbps)}\n`;
    else out += `${svc} ${s.scheduler}\n`;
    for (const r of s.reals) {
      const d = name(r.address, s.port, s.protocol).slice(0, 28);
      if (o.format === 'stats') out += `  -> ${pad(d, 28)}${L(r.stats.conns)}${L(r.stats.packets)}${L(0)}${L(r.stats.bytes)}${L(0)}\n`;
      else if (o.format === 'rate') out += `  -> ${pad(d, 28)} ${String(r.rate.cps).padStart(8)} ${String(r.rate.inpps).padStart(8)} ${String(r.rate.outpps).padStart(8)}${L(r.rate.inbps)}${L(r.rate.outbps)}\n`;
      else out += `  -> ${pad(d, 28)} ${pad('Route', 7)} ${pad(String(r.weight), 6)} ${pad('0', 10)} ${pad('0', 10)}\n`;
    }
  }
  return out;
}

/** `ipvsadm -S [-n]`: one -A line per service, one -a line per destination, in list order. */
export function formatSave(list: readonly ServiceListing[], name: Namer = numericName): string {
  let out = '';
  for (const s of sorted(list)) {
    const svc = `${s.protocol === 'tcp' ? '-t' : '-u'} ${name(s.vip, s.port, s.protocol)}`;
    out += `-A ${svc} -s ${s.scheduler}\n`;
    for (const r of s.reals) out += `-a ${svc} -r ${name(r.address, s.port, s.protocol)} -g -w ${r.weight}\n`;
  }
  return out;
}

export interface ConnListing {
  protocol: 'tcp' | 'udp';
  client: string;
  cport: number;
  vip: string;
  vport: number;
  real: string;
}

/**
 * `ipvsadm -L -c`: the connection table. The datapath keeps no timer or TCP state per entry, so every row shows
 * expire 00:00 and state NONE (IPVS's name for "no state") rather than invented values.
 */
export function formatConns(conns: readonly ConnListing[], name: Namer = numericName): string {
  let out = 'IPVS connection entries\npro expire state       source             virtual            destination\n';
  for (const c of conns) {
    out += `${pad(c.protocol.toUpperCase(), 3)} 00:00  ${pad('NONE', 11)} ${pad(name(c.client, c.cport, c.protocol), 18)} ${pad(name(c.vip, c.vport, c.protocol), 18)} ${name(c.real, c.vport, c.protocol)}\n`;
  }
  return out;
}

/** The `ipvsadm -h` text for the subset xlvsadm speaks. */
export const IPVSADM_HELP = `xlvsadm: ipvsadm's syntax for the xlvs daemon (direct routing, scheduler mh)
Usage:
  xlvsadm -A|E -t|u service-address -s mh
  xlvsadm -D -t|u service-address
  xlvsadm -C
  xlvsadm -R
  xlvsadm -S [-n]
  xlvsadm -a|e -t|u service-address -r server-address[:same port] [-g] [-w weight]
  xlvsadm -d -t|u service-address -r server-address
  xlvsadm -L|l [-t|u service-address] [-n] [--stats|--rate|-c] [--exact]
  xlvsadm -Z [-t|u service-address]
  xlvsadm --socket PATH ...   (the daemon's API socket, default /run/xlvs/xlvs.sock)
Not supported (refused): -m, -i, -f, -6, -p, -M, -x, -y, -b, -o, schedulers other than mh.
ActiveConn/InActConn are always 0 (no TCP state tracking yet); -c shows expire 00:00 and state NONE.
`;
