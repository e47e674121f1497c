// SPDX-License-Identifier: Apache-2.0
// ipvsadm-parse.ts: ipvsadm's command lines (the DR subset xlvsadm speaks) parsed into xlvs operations, refusing what xlvs cannot do faithfully.

import type { ServiceConfig } from './config';
import { SCHEDULER_NAMES } from './config';
import type { ServiceKey } from './edits';
import { DAEMON_OPTION_KEYS, DAEMON_OPTIONS, type DaemonCommand, parseDaemonCommand } from './ipvsadm-daemon';
import { COMMANDS, expand, FLAGS, WITH_VALUE } from './ipvsadm-options';
import { hostPortOf, IpvsadmError, number, parsePort, parseSchedFlags, parseService, type SchedFlag, type ServiceLookup, usage } from './ipvsadm-values';
import { formatHostPort, isIPv4, isIPv6 } from './net/addr';
import { isNetmask } from './net/prefix';

export { IPVSADM_HELP, IPVSADM_OPTION_NAMES } from './ipvsadm-options';
export { IpvsadmError, type ServiceLookup } from './ipvsadm-values';

type SchedulerName = ServiceConfig['scheduler'];

/**
 * What -A/-E set, as xlvs config fields. null removes the field: -E replaces the service's whole IPVS definition,
 * so -E without -p ends persistence and -E without -b clears the flags, as in ipvsadm.
 */
export interface ServiceFields {
  scheduler: SchedulerName;
  /** mh always carries its list (even []): xlvs's default for mh is [mh-port], IPVS's is none. */
  sched_flags: SchedFlag[] | null;
  /** netmask: dotted for an IPv4 service, a prefix length 1..128 for an IPv6 one (ipvsadm -M). */
  persistence: { timeout: number; netmask: string | number } | null;
}

/** What -a/-e set; like -E, -e replaces the whole destination (weight 1, no thresholds unless given). */
export interface RealFields {
  weight: number;
  upper_threshold: number | null;
  lower_threshold: number | null;
}

export type IpvsadmCommand =
  | { kind: 'add-service' | 'edit-service'; svc: ServiceKey; fields: ServiceFields }
  | { kind: 'delete-service'; svc: ServiceKey }
  | { kind: 'clear' }
  | { kind: 'add-real' | 'edit-real'; svc: ServiceKey; address: string; fields: RealFields }
  | { kind: 'delete-real'; svc: ServiceKey; address: string }
  | { kind: 'list'; svc?: ServiceKey; numeric: boolean; format: 'plain' | 'stats' | 'rate' | 'conns' | 'thresholds'; exact: boolean; json?: boolean }
  | { kind: 'list-timeouts' }
  /** ipvsadm --set: 0 leaves a value as it is. */
  | { kind: 'set-timeouts'; timeouts: { tcp: number; tcp_fin: number; udp: number } }
  | { kind: 'zero'; svc?: ServiceKey }
  | { kind: 'save'; numeric: boolean }
  | { kind: 'restore' }
  | { kind: 'help' }
  | DaemonCommand
  /** -L --daemon. */
  | { kind: 'list-daemon' };

/** IPVS schedulers xlvs does not implement (locality-based and two-choice); anything else unknown is unknown to IPVS too. */
export const IPVS_ONLY_SCHEDULERS = ['lblc', 'lblcr', 'twos'];
/** ipvsadm's scheduler when -s is not given (DEF_SCHED). */
export const IPVSADM_DEFAULT_SCHEDULER = 'wlc';
/**
 * ipvsadm's persistence timeout when -p has no value: libipvs's IPVS_SVC_PERSISTENT_TIMEOUT, 6*60. (ipvsadm(8)
 * says 300, but parse_timeout returns this constant; ipvsadm 1.31's binary loads 0x168.) keepalived uses the same.
 */
export const IPVS_SVC_PERSISTENT_TIMEOUT = 360;
/** ipvsadm's MAX_TIMEOUT (31 days), the upper bound of -p and --set values. */
const MAX_TIMEOUT = 86400 * 31;
/** The persistence netmask of one entry per client: -p without -M; listings leave it out. */
export const ALL_ONES = '255.255.255.255';
/** The same for an IPv6 service: prefix length 128. */
export const ALL_ONES_V6 = 128;

/** Whether a persistence netmask is one entry per client (listings and -S leave it out, as ipvsadm does). */
export function isHostMask(mask: string | number): boolean {
  return mask === ALL_ONES || mask === ALL_ONES_V6;
}

/**
 * Parses one ipvsadm invocation (argv without the program name). Everything ipvsadm would accept but xlvs cannot do
 * faithfully is refused here, before anything reaches the daemon.
 */
export function parseIpvsadm(argvIn: readonly string[], lookup: ServiceLookup = () => undefined): IpvsadmCommand {
  const argv = expand(argvIn);
  let cmd: string | undefined;
  const opt: Record<string, string | true> = {};
  /** Arguments that are no option's value: --set's three timeouts, and otherwise an error. */
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (COMMANDS[name]) {
      if (cmd && cmd !== COMMANDS[name]) throw usage('You cannot specify more than one command');
      cmd = COMMANDS[name];
    } else if (name === '--start-daemon' || name === '--stop-daemon') {
      // Commands with an argument (the daemon's state), unlike every other command.
      const c = name === '--start-daemon' ? 'startd' : 'stopd';
      if (cmd && cmd !== c) throw usage('You cannot specify more than one command');
      cmd = c;
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw usage(`option ${name} requires an argument`);
      opt.daemonState = v;
    } else if (DAEMON_OPTIONS[name]) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw usage(`option ${name} requires an argument`);
      opt[DAEMON_OPTIONS[name]!] = v;
    } else if (WITH_VALUE[name]) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw usage(`option ${name} requires an argument`);
      opt[WITH_VALUE[name]!] = v;
    } else if (name === '-p' || name === '--persistent') {
      // popt's optional argument: the next word unless it is an option.
      const next = argv[i + 1];
      opt.p = eq > 0 ? a.slice(eq + 1) : next !== undefined && !next.startsWith('-') ? argv[++i]! : true;
    } else if (FLAGS[name]) {
      opt[FLAGS[name]!] = true;
    } else if (!a.startsWith('-') || /^-\d+$/.test(a)) {
      positional.push(a);
    } else {
      throw usage(`unknown option ${a}`);
    }
  }
  if (!cmd) {
    // Like ipvsadm: no command lists.
    if (Object.keys(opt).length === 0 && positional.length === 0) return { kind: 'list', numeric: false, format: 'plain', exact: false };
    cmd = 'L';
  }
  if (cmd !== 'set' && positional.length) throw usage(`unexpected argument ${positional[0]}`);

  // What xlvs refuses outright, whatever the command.
  if (opt.m) throw usage('masquerading (-m, NAT) is not supported: xlvs is a direct-routing director (-g)');
  if (opt.i || opt.tun) throw usage('tunneling (-i, IPIP) is not supported: xlvs is a direct-routing director (-g)');
  if (opt.f) throw usage('firewall-mark services (-f) are not supported');
  // ipvsadm's -6 says only that a firewall-mark service (-f) is IPv6; an address service shows its family itself.
  if (opt['6']) throw usage('-6 marks a firewall-mark service (-f) as IPv6, and xlvs has no firewall-mark services: give an IPv6 service as -t [ADDR]:PORT');
  if (opt.pe !== undefined) throw usage('persistence engines (--pe) are not supported');
  if (opt.o) throw usage('one-packet scheduling (-o) is not supported yet');
  if (opt.pconn) throw usage('--persistent-conn is not supported yet: the datapath does not count persistence templates per real');

  const svcOpt = (): ServiceKey | undefined => {
    if (opt.t !== undefined && opt.u !== undefined) throw usage('You cannot specify both -t and -u');
    if (typeof opt.t === 'string') return parseService(opt.t, 'tcp', lookup);
    if (typeof opt.u === 'string') return parseService(opt.u, 'udp', lookup);
    return undefined;
  };
  const needSvc = (): ServiceKey => {
    const s = svcOpt();
    if (!s) throw usage("You need to supply the 'service-address' option");
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
    case 'set': {
      onlyFor([]);
      if (positional.length < 3) throw usage('--set option requires 3 timeout values');
      if (positional.length > 3) throw usage(`unexpected argument ${positional[3]}`);
      const [tcp, tcp_fin, udp] = positional.map((v) => {
        const n = number(v, 0, MAX_TIMEOUT);
        if (n === undefined) throw usage(`invalid timeout value \`${v}' specified`);
        return n;
      }) as [number, number, number];
      return { kind: 'set-timeouts', timeouts: { tcp, tcp_fin, udp } };
    }
    case 'startd':
      onlyFor(['daemonState', ...DAEMON_OPTION_KEYS]);
      return parseDaemonCommand(cmd, opt, usage);
    case 'stopd':
      onlyFor(['daemonState']);
      return parseDaemonCommand(cmd, opt, usage);
    case 'L': {
      onlyFor(['t', 'u', 'n', 'c', 'stats', 'rate', 'exact', 'sort', 'thresholds', 'timeout', 'json', 'daemon']);
      if (opt.daemon) {
        if (['t', 'u', 'c', 'stats', 'rate', 'thresholds', 'timeout'].some((k) => opt[k] !== undefined)) throw usage('options conflicts in the list command');
        return { kind: 'list-daemon' };
      }
      if (opt.timeout) {
        if (['t', 'u', 'c', 'stats', 'rate', 'thresholds', 'json'].some((k) => opt[k] !== undefined)) throw usage('options conflicts in the list command');
        return { kind: 'list-timeouts' };
      }
      const n = [opt.stats, opt.rate, opt.c, opt.thresholds].filter(Boolean).length;
      if (n > 1) throw usage('You cannot specify more than one of --stats, --rate, --thresholds and -c');
      const svc = svcOpt();
      const format = opt.stats ? 'stats' : opt.rate ? 'rate' : opt.c ? 'conns' : opt.thresholds ? 'thresholds' : 'plain';
      return { kind: 'list', ...(svc ? { svc } : {}), numeric: !!opt.n, format, exact: !!opt.exact, ...(opt.json ? { json: true } : {}) };
    }
    case 'A':
    case 'E': {
      onlyFor(['t', 'u', 's', 'p', 'M', 'b']);
      const svc = needSvc();
      const scheduler = typeof opt.s === 'string' ? opt.s : IPVSADM_DEFAULT_SCHEDULER;
      // ipvsadm's own checks come first (exit 2); the kernel's refusal of an unknown scheduler comes last (255).
      let persistence: ServiceFields['persistence'] = null;
      const v6 = isIPv6(svc.vip);
      if (opt.p !== undefined) {
        const timeout = opt.p === true ? IPVS_SVC_PERSISTENT_TIMEOUT : number(opt.p, 1, MAX_TIMEOUT);
        if (timeout === undefined) throw usage(`invalid timeout value \`${opt.p}' specified`);
        // One entry per client: all ones for IPv4, prefix length 128 for IPv6 (ipvsadm's defaults).
        persistence = { timeout, netmask: v6 ? ALL_ONES_V6 : ALL_ONES };
      }
      if (typeof opt.M === 'string') {
        let mask: string | number = opt.M;
        if (v6) {
          // ipvsadm reads -M of an IPv6 service as a prefix length 1..128.
          const len = number(opt.M, 1, 128);
          if (len === undefined)
            throw usage(
              `illegal ipv6 netmask specified: -M ${opt.M} for IPv6 service ${formatHostPort(svc.vip, svc.port)} must be a prefix length 1..128 (e.g. -M 64)`,
            );
          mask = len;
        } else {
          if (!isIPv4(opt.M)) throw usage('illegal virtual server persistent mask specified');
          if (!isNetmask(opt.M)) throw usage(`persistence netmask (-M) ${opt.M} is not contiguous ones (e.g. 255.255.255.0)`);
        }
        // ipvsadm passes a mask without -p to the kernel, which ignores it; xlvs keeps the mask inside persistence.
        if (!persistence) throw usage(`persistence netmask (-M) ${opt.M} needs -p: without persistence it would do nothing`);
        persistence.netmask = mask;
      }
      const flags = typeof opt.b === 'string' ? parseSchedFlags(opt.b, scheduler) : [];
      if (svc.port === 0 && !persistence) throw usage('Zero port specified for non-persistent service');
      if (!(SCHEDULER_NAMES as readonly string[]).includes(scheduler)) {
        if (IPVS_ONLY_SCHEDULERS.includes(scheduler)) throw usage(`scheduler ${scheduler} is not supported (xlvs has ${SCHEDULER_NAMES.join(', ')})`);
        // ipvsadm passes the name on and the kernel refuses it (ipvs_strerror's text for ENOENT).
        throw new IpvsadmError('Scheduler or persistence engine not found', 255);
      }
      const fields: ServiceFields = { scheduler: scheduler as SchedulerName, sched_flags: flags.length || scheduler === 'mh' ? flags : null, persistence };
      return { kind: cmd === 'A' ? 'add-service' : 'edit-service', svc, fields };
    }
    case 'D':
      onlyFor(['t', 'u']);
      return { kind: 'delete-service', svc: needSvc() };
    case 'a':
    case 'e':
    case 'd': {
      onlyFor(cmd === 'd' ? ['t', 'u', 'r'] : ['t', 'u', 'r', 'g', 'w', 'x', 'y']);
      const svc = needSvc();
      if (typeof opt.r !== 'string') throw usage("You need to supply the 'real-server' option");
      const m = hostPortOf(opt.r, true);
      if (!m) throw usage('illegal real server address[:port] specified');
      // IPVS refuses a DR destination of the other family (only tunnels may mix them).
      if (isIPv6(m.host) !== isIPv6(svc.vip))
        throw new IpvsadmError(
          `real server ${opt.r} is IPv${isIPv6(m.host) ? 6 : 4} and service ${formatHostPort(svc.vip, svc.port)} IPv${isIPv6(svc.vip) ? 6 : 4}: direct routing keeps the address family`,
          2,
        );
      if (m.port !== undefined) {
        const port = parsePort(m.port, svc.protocol, lookup);
        if (port === undefined) throw usage('illegal real server address[:port] specified');
        if (port !== svc.port) throw usage(`real server port ${port} differs from the service port ${svc.port}: direct routing cannot change the port`);
      }
      if (cmd === 'd') return { kind: 'delete-real', svc, address: m.host };
      const num = (k: string, hi: number, msg: string, dflt: number): number => {
        const v = opt[k];
        if (typeof v !== 'string') return dflt;
        const n = number(v, 0, hi);
        if (n === undefined) throw usage(msg);
        return n;
      };
      // ipvsadm's defaults, for -e as well as -a: weight 1, no thresholds.
      const weight = num('w', 65535, 'illegal weight specified', 1);
      const upper = num('x', 2147483647, 'illegal u_threshold specified', 0);
      const lower = num('y', 2147483647, 'illegal l_threshold specified', 0);
      // ipvsadm passes these on and the kernel refuses them with ERANGE (exit 255); said here in words.
      if (lower > upper) {
        throw new IpvsadmError(
          upper
            ? `lower threshold (-y) ${lower} is above upper threshold (-x) ${upper}`
            : `lower threshold (-y) ${lower} needs an upper threshold (-x) at least as high`,
          255,
        );
      }
      const fields: RealFields = { weight, upper_threshold: upper || null, lower_threshold: lower || null };
      return { kind: cmd === 'a' ? 'add-real' : 'edit-real', svc, address: m.host, fields };
    }
  }
  throw usage('unknown command');
}
