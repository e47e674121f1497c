// SPDX-License-Identifier: Apache-2.0
// xlvsadm-options.ts: xlvsadm's options as data (names, value, help), the source of its man page and its bash completion.

import { SCHED_FLAGS, SCHEDULER_NAMES } from '../core/config';

export interface XlvsadmOption {
  /** Every spelling the parser accepts, short first. */
  names: string[];
  /** The value's name in the synopsis; absent for a flag. */
  arg?: string;
  /** Words bash completes the value from (schedulers, flags). */
  values?: readonly string[];
  help: string;
}

/** Commands pick what xlvsadm does; exactly one per invocation, as with ipvsadm. */
export const XLVSADM_COMMANDS: XlvsadmOption[] = [
  { names: ['-A', '--add-service'], help: 'Add a virtual service.' },
  { names: ['-E', '--edit-service'], help: 'Edit a virtual service; options left out are reset, as ipvsadm does.' },
  { names: ['-D', '--delete-service'], help: 'Delete a virtual service and its real servers.' },
  { names: ['-C', '--clear'], help: 'Delete every virtual service.' },
  { names: ['-R', '--restore'], help: 'Read ipvsadm -S output (or rules in this syntax) from standard input and apply them as one change.' },
  { names: ['-S', '--save'], help: 'Print the services and reals in the syntax -R reads.' },
  { names: ['-a', '--add-server'], help: 'Add a real server to a service.' },
  { names: ['-e', '--edit-server'], help: 'Edit a real server.' },
  { names: ['-d', '--delete-server'], help: 'Delete a real server from a service.' },
  { names: ['-L', '-l', '--list'], help: 'List the services (all, or the one named with -t/-u), or the connections with -c, or the timeouts with --timeout.' },
  { names: ['-Z', '--zero'], help: 'Zero the packet, byte and connection counters of all services or of one.' },
  { names: ['--set'], arg: 'tcp tcpfin udp', help: 'Set the connection timeouts in seconds; 0 leaves one unchanged.' },
  { names: ['-h', '--help'], help: 'Print the usage summary.' },
];

/** Parameters and flags of the commands above. */
export const XLVSADM_OPTIONS: XlvsadmOption[] = [
  {
    names: ['-t', '--tcp-service'],
    arg: 'service-address',
    help: 'A TCP service, IP[:port], an IPv6 address in brackets ([2001:db8::100]:80); port 0 or none means every port and needs -p.',
  },
  { names: ['-u', '--udp-service'], arg: 'service-address', help: 'A UDP service, IP[:port] or [IPv6][:port].' },
  { names: ['-s', '--scheduler'], arg: 'scheduler', values: SCHEDULER_NAMES, help: `The scheduler: ${SCHEDULER_NAMES.join(', ')} (default wlc, as ipvsadm).` },
  { names: ['-p', '--persistent'], arg: '[timeout]', help: 'Persistence: a client keeps its real for timeout seconds (default 360).' },
  {
    names: ['-M', '--netmask'],
    arg: 'netmask',
    help: 'Persistence granularity: clients in one netmask share a real. A dotted netmask for an IPv4 service (255.255.255.0), a prefix length 1..128 for an IPv6 one (64).',
  },
  {
    names: ['-b', '--sched-flags'],
    arg: 'sched-flags',
    values: SCHED_FLAGS,
    help: 'Scheduler flags, comma separated: sh-fallback, sh-port, mh-fallback, mh-port.',
  },
  {
    names: ['-r', '--real-server'],
    arg: 'server-address',
    help: "The real server, IP[:port], [IPv6][:port] or a bare IPv6 address, of the service's family; its port must be the service port (direct routing).",
  },
  { names: ['-g', '--gatewaying'], help: 'Direct routing, the only forwarding method xlvs has (the default).' },
  { names: ['-w', '--weight'], arg: 'weight', help: 'The real server weight; 0 takes no new connections.' },
  { names: ['-x', '--u-threshold'], arg: 'uthreshold', help: 'Upper connection threshold: above it the real takes no new connections.' },
  { names: ['-y', '--l-threshold'], arg: 'lthreshold', help: 'Lower connection threshold: below it the real takes new connections again.' },
  { names: ['-n', '--numeric'], help: 'Print addresses and ports as numbers.' },
  { names: ['-c', '--connection'], help: 'With -L: list the connection table.' },
  { names: ['--stats'], help: 'With -L: packet and byte counters.' },
  { names: ['--rate'], help: 'With -L: rates per second.' },
  { names: ['--thresholds'], help: 'With -L: connection thresholds.' },
  { names: ['--exact'], help: 'With -L: exact numbers, not rounded to K/M.' },
  { names: ['--sort'], help: 'With -L: sorted output (always sorted).' },
  { names: ['--timeout'], help: 'With -L: the tcp, tcpfin and udp timeouts.' },
  { names: ['--daemon'], help: 'With -L: the connection sync daemons running (as ipvsadm -L --daemon prints them).' },
  { names: ['--json'], help: 'With -L: the listing as JSON, as xlvs list --json prints it (weights in force, health, counters); not ipvsadm.' },
  { names: ['--socket'], arg: 'path', help: "The daemon's API socket (default /run/xlvs/xlvs.sock; XLVS_SOCKET also sets it)." },
  { names: ['-m', '--masquerading'], help: 'Refused: xlvs forwards by direct routing only.' },
  { names: ['-i', '--ipip'], help: 'Refused: xlvs forwards by direct routing only.' },
  { names: ['-f', '--fwmark-service'], arg: 'fwmark', help: 'Refused: xlvs has no firewall-mark services.' },
  {
    names: ['-6', '--ipv6'],
    help: 'Refused: it marks a firewall-mark service as IPv6, and xlvs has none; an IPv6 service is given by its address, -t [ADDR]:PORT.',
  },
  { names: ['-o', '--ops'], help: 'Refused: one-packet scheduling is not supported.' },
  { names: ['--pe'], arg: 'engine', help: 'Refused: persistence engines are not supported.' },
  { names: ['--persistent-conn'], help: 'Refused.' },
  { names: ['--tun-type'], arg: 'type', help: 'Refused: xlvs has no tunnels.' },
];
