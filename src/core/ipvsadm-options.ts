// SPDX-License-Identifier: Apache-2.0
// ipvsadm-options.ts: ipvsadm's option spellings (commands, options with a value, flags), popt-style bundling, and the -h text.

import { SCHEDULER_NAMES } from './config';

export const COMMANDS: Record<string, string> = {
  '-A': 'A',
  '--add-service': 'A',
  '-E': 'E',
  '--edit-service': 'E',
  '-D': 'D',
  '--delete-service': 'D',
  '-C': 'C',
  '--clear': 'C',
  '-R': 'R',
  '--restore': 'R',
  '-S': 'S',
  '--save': 'S',
  '-a': 'a',
  '--add-server': 'a',
  '-e': 'e',
  '--edit-server': 'e',
  '-d': 'd',
  '--delete-server': 'd',
  '-L': 'L',
  '-l': 'L',
  '--list': 'L',
  '-Z': 'Z',
  '--zero': 'Z',
  '-h': 'h',
  '--help': 'h',
  '--set': 'set',
};

/** Options taking a value; -p's value is optional (ipvsadm: -p [timeout]). */
export const WITH_VALUE: Record<string, string> = {
  '-t': 't',
  '--tcp-service': 't',
  '-u': 'u',
  '--udp-service': 'u',
  '-f': 'f',
  '--fwmark-service': 'f',
  '-s': 's',
  '--scheduler': 's',
  '-M': 'M',
  '--netmask': 'M',
  '-r': 'r',
  '--real-server': 'r',
  '-w': 'w',
  '--weight': 'w',
  '-x': 'x',
  '--u-threshold': 'x',
  '-y': 'y',
  '--l-threshold': 'y',
  '-b': 'b',
  '--sched-flags': 'b',
  '--pe': 'pe',
  '--tun-type': 'tun',
};

export const FLAGS: Record<string, string> = {
  '-g': 'g',
  '--gatewaying': 'g',
  '-m': 'm',
  '--masquerading': 'm',
  '-i': 'i',
  '--ipip': 'i',
  '-n': 'n',
  '--numeric': 'n',
  '-c': 'c',
  '--connection': 'c',
  '--stats': 'stats',
  '--rate': 'rate',
  '--exact': 'exact',
  '--sort': 'sort',
  '--persistent-conn': 'pconn',
  '--thresholds': 'thresholds',
  '-6': '6',
  '--ipv6': '6',
  '-o': 'o',
  '--ops': 'o',
  '--timeout': 'timeout',
  /** Not ipvsadm's: the listing as `xlvs list --json` prints it (weights in force, health, counters). */
  '--json': 'json',
  '--daemon': 'daemon',
};

/** Every option spelling the parser knows (-p takes an optional value, so it is parsed apart): its man page must document each. */
export const IPVSADM_OPTION_NAMES: readonly string[] = [...Object.keys(COMMANDS), ...Object.keys(WITH_VALUE), ...Object.keys(FLAGS), '-p', '--persistent'];

/** "-Ln" -> ["-L", "-n"] when every letter is a command or flag (popt-style bundling). */
export function expand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (/^-[A-Za-z]{2,}$/.test(a) && [...a.slice(1)].every((ch) => COMMANDS[`-${ch}`] || FLAGS[`-${ch}`])) {
      for (const ch of a.slice(1)) out.push(`-${ch}`);
    } else out.push(a);
  }
  return out;
}

/** The `ipvsadm -h` text for the subset xlvsadm speaks. */
export const IPVSADM_HELP = `xlvsadm: ipvsadm's syntax for the xlvs daemon (direct routing)
Usage:
  xlvsadm -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  xlvsadm -D -t|u service-address
  xlvsadm -C
  xlvsadm -R
  xlvsadm -S [-n]
  xlvsadm -a|e -t|u service-address -r server-address[:same port] [-g] [-w weight] [-x uthreshold] [-y lthreshold]
  xlvsadm -d -t|u service-address -r server-address
  xlvsadm -L|l [-t|u service-address] [-n] [--stats|--rate|--thresholds|-c] [--exact] [--json]
  xlvsadm -L --timeout
  xlvsadm -Z [-t|u service-address]
  xlvsadm --set tcp tcpfin udp
  xlvsadm --start-daemon master|backup [--mcast-interface IF] [--syncid ID] [--sync-maxlen N]
          [--mcast-group GROUP] [--mcast-port PORT] [--mcast-ttl TTL]
  xlvsadm --stop-daemon master|backup
  xlvsadm -L --daemon
  xlvsadm --socket PATH ...   (the daemon's API socket, default /run/xlvs/xlvs.sock)
Schedulers: ${SCHEDULER_NAMES.join(' ')} (default wlc, as ipvsadm). Flags (-b): sh-fallback,sh-port | mh-fallback,mh-port.
service-address is IP[:port] or [IPv6][:port]; port 0 (or none) means every port and needs -p.
-M is a dotted netmask for an IPv4 service, a prefix length 1..128 for an IPv6 one.
Not supported (refused): -m, -i, -f, -6, -o, --pe, --persistent-conn, schedulers lblc lblcr twos.
`;
