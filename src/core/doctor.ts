// SPDX-License-Identifier: Apache-2.0
// doctor.ts: `xlvs doctor`'s verdicts, made on the director from what its probes of each real saw, and its report; with the subnet arithmetic the probes need.

import { hintsBlock, MARK, type Status, table } from './checkreport';
import { formatHostPort, isIPv6 } from './net/addr';
import { serviceName } from './net/label';
import { inPrefix } from './net/prefix';
import type { MtuProbe } from './realserver-probes';

export interface DoctorCheck {
  check: 'mac' | 'on-link' | 'mtu' | 'holds-vip' | 'arp-announce' | 'reply-route' | 'dr-path' | 'arp-vip' | 'ndp-vip' | 'vlan';
  /** "real 10.0.0.11", "real 10.0.0.11 / VIP 10.0.0.100", "TCP 10.0.0.100:80 -> 10.0.0.11", "VIP 10.0.0.100". */
  subject: string;
  real?: string;
  vip?: string;
  service?: string;
  status: Status;
  detail: string;
  hint?: string;
}

export interface DoctorReport {
  interface: string;
  directorMac: string;
  directorAddress: string | null;
  mtu: number;
  xdp: { mode: string; progId: number } | null;
  /** The spare on-link address the arp-announce probe pretended to be, if any. */
  probeAddress: string | null;
  /** The off-segment address the reply-route probe pretended to be. */
  offlinkAddress: string;
  /** Its IPv6 counterpart, the source of the reply-route probe of IPv6 reals. */
  offlinkAddress6: string;
  checks: DoctorCheck[];
  ok: boolean;
}

export function realSubject(real: string): string {
  return `real ${real}`;
}

export function doctorMac(real: string, mac: string | null, dev: string): DoctorCheck {
  return mac
    ? { check: 'mac', subject: realSubject(real), real, status: 'pass', detail: mac }
    : {
        check: 'mac',
        subject: realSubject(real),
        real,
        status: 'fail',
        detail: `no ${isIPv6(real) ? 'neighbour advertisement' : 'ARP answer'} from ${real} on ${dev}`,
        hint: `is ${real} up and on ${dev}'s segment? (ip neigh show ${real} dev ${dev}; ${isIPv6(real) ? `ping -c 1 -I ${dev}` : `arping -I ${dev}`} ${real})`,
      };
}

/** A service's VLAN device (<interface>.<id>): its VIP answers ARP there and its reals' MACs are resolved there. */
export function doctorVlanDevice(iface: string, vlan: number, dev: string, exists: boolean, addresses: string[]): DoctorCheck {
  const base = { check: 'vlan' as const, subject: `VLAN ${vlan} (${dev})` };
  if (!exists)
    return {
      ...base,
      status: 'fail',
      detail: `no device ${dev}: VLAN ${vlan}'s VIPs cannot answer ARP and its reals' MACs cannot be resolved`,
      hint: `ip link add link ${iface} name ${dev} type vlan id ${vlan}; ip link set ${dev} up; ip addr add <address in the reals' subnet> dev ${dev}`,
    };
  if (!addresses.length)
    return { ...base, status: 'fail', detail: `${dev} has no IPv4 address`, hint: `give ${dev} an address in the subnet of VLAN ${vlan}'s reals` };
  return { ...base, status: 'pass', detail: `${dev} up with ${addresses.join(', ')}` };
}

/** The frame-level probes send untagged frames on the XDP interface: a real on a VLAN gets its MAC and route checked only. */
export function doctorVlanProbesSkipped(real: string, dev: string): DoctorCheck {
  return {
    check: 'vlan',
    subject: realSubject(real),
    real,
    status: 'skip',
    detail: `on ${dev}: the MTU, VIP, ARP and reply-route probes send untagged frames and are not run for reals on a VLAN`,
  };
}

export function doctorOnLink(real: string, dev: string, route: { dev: string; gateway?: string } | null, subnets: string[]): DoctorCheck {
  const inSubnet = subnets.some((s) => inPrefix(real, s));
  const base = { check: 'on-link' as const, subject: realSubject(real), real };
  if (route && route.dev === dev && !route.gateway && inSubnet)
    return { ...base, status: 'pass', detail: `on ${dev} (${subnets.filter((s) => inPrefix(real, s)).join(', ')})` };
  const how = route ? `routed ${route.gateway ? `via ${route.gateway} ` : ''}dev ${route.dev}` : 'no route';
  const where = subnets.length ? `outside ${dev}'s subnet ${subnets.join(', ')}` : `${dev} has no ${isIPv6(real) ? 'IPv6' : 'IPv4'} subnet`;
  return {
    ...base,
    status: 'fail',
    detail: `${real} is ${inSubnet ? how : `${where}, ${how}`}: direct routing needs every real on the director's segment`,
    hint: `put ${real} on ${dev}'s segment, or give ${dev} an address in ${real}'s subnet`,
  };
}

export function doctorMtu(real: string, dev: string, dirMtu: number, ping: MtuProbe | null, synAckMss: number | undefined): DoctorCheck {
  const base = { check: 'mtu' as const, subject: realSubject(real), real };
  const notes: string[] = [];
  // The MSS leaves out the IP and TCP headers: 20 + 20 bytes in IPv4, 40 + 20 in IPv6.
  const headers = isIPv6(real) ? 60 : 40;
  if (ping && !ping.reachable)
    return {
      ...base,
      status: 'skip',
      detail: `${real} does not answer ping${synAckMss ? `; its SYN-ACK MSS ${synAckMss} means MTU ${synAckMss + headers}` : ''}`,
    };
  if (ping && !ping.passed) {
    return {
      ...base,
      status: 'fail',
      detail: `DF packets of ${dirMtu} bytes (${dev}'s MTU) do not reach ${real}; the largest that did was ${ping.largest ?? '?'} bytes, about ${real}'s MTU`,
      hint: `give ${real}'s NIC the segment's MTU ${dirMtu} (ip link set dev <nic> mtu ${dirMtu} on ${real}), or lower ${dev}'s and the router's to match it`,
    };
  }
  if (synAckMss !== undefined && synAckMss + headers > dirMtu) {
    return {
      ...base,
      status: 'fail',
      detail: `${real} advertises MSS ${synAckMss} (MTU ${synAckMss + headers}), larger than ${dev}'s MTU ${dirMtu}: its large replies need ICMP "${isIPv6(real) ? 'packet too big' : 'fragmentation needed'}", which comes back to the VIP, i.e. the director`,
      hint: `set ${real}'s NIC MTU to ${dirMtu} (ip link set dev <nic> mtu ${dirMtu} on ${real})`,
    };
  }
  if (ping?.passed) notes.push(`DF packets of ${dirMtu} bytes reach ${real}`);
  if (synAckMss !== undefined) notes.push(`SYN-ACK MSS ${synAckMss}`);
  return { ...base, status: 'pass', detail: notes.join('; ') || `MTU ${dirMtu}` };
}

export type TcpProbeResult = { kind: 'synack'; mss?: number } | { kind: 'rst' } | { kind: 'timeout' };
export type UdpProbeResult = { kind: 'reply' } | { kind: 'unreachable' } | { kind: 'silent' };

export function doctorDrPath(
  svc: { protocol: 'tcp' | 'udp'; vip: string; port: number },
  real: string,
  r: TcpProbeResult | UdpProbeResult | null,
): DoctorCheck {
  const service = serviceName(svc);
  const base = { check: 'dr-path' as const, subject: `${service} -> ${real}`, real, vip: svc.vip, service };
  if (r === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  switch (r.kind) {
    case 'synack':
      return { ...base, status: 'pass', detail: `SYN to ${formatHostPort(svc.vip, svc.port)} at ${real}'s MAC answered with SYN-ACK` };
    case 'rst':
      return {
        ...base,
        status: 'fail',
        detail: `${real} holds ${svc.vip} but refuses port ${svc.port} (RST): the service does not listen on the VIP`,
        hint: `on ${real}: bind the service to ${formatHostPort(svc.vip, svc.port)} or ${isIPv6(svc.vip) ? '[::]' : '0.0.0.0'}:${svc.port} (xlvs realserver check --vip ${svc.vip} --port ${svc.port})`,
      };
    case 'timeout':
      return {
        ...base,
        status: 'fail',
        detail: `no answer to a SYN for ${formatHostPort(svc.vip, svc.port)} sent to ${real}'s MAC`,
        hint: `on ${real}: xlvs realserver setup --vip ${svc.vip}, then xlvs realserver check --vip ${svc.vip} --port ${svc.port} (a firewall dropping ${formatHostPort(svc.vip, svc.port)} has the same effect)`,
      };
    case 'reply':
      return { ...base, status: 'pass', detail: `a datagram to ${formatHostPort(svc.vip, svc.port)} at ${real}'s MAC was answered` };
    case 'unreachable':
      return {
        ...base,
        status: 'fail',
        detail: `${real} answers port unreachable for ${formatHostPort(svc.vip, svc.port)}: nothing listens on the VIP`,
        hint: `on ${real}: bind the service to ${formatHostPort(svc.vip, svc.port)} or ${isIPv6(svc.vip) ? '[::]' : '0.0.0.0'}:${svc.port}`,
      };
    case 'silent':
      return {
        ...base,
        status: 'skip',
        detail: `not conclusive (UDP): no reply to a datagram for ${formatHostPort(svc.vip, svc.port)}, and a quiet service looks the same as a missing one`,
      };
  }
}

export function doctorHoldsVip(real: string, vip: string, evidence: { echo: boolean; tcp: boolean } | null): DoctorCheck {
  const base = { check: 'holds-vip' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (evidence === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (evidence.echo || evidence.tcp)
    return {
      ...base,
      status: 'pass',
      detail: `answers for ${vip} at its own MAC (${[evidence.echo ? 'ping' : '', evidence.tcp ? 'TCP' : ''].filter(Boolean).join(', ')})`,
    };
  return {
    ...base,
    status: 'fail',
    detail: `${real} ignores packets for ${vip} sent to its MAC: the VIP is not on its lo (or a firewall drops them)`,
    hint: `on ${real}: xlvs realserver setup --vip ${vip}`,
  };
}

/** arpSenders: sender addresses of the ARP requests the real sent while answering a probe from the spare address. */
export function doctorAnnounce(
  real: string,
  vip: string,
  probeAddress: string | null,
  answered: boolean,
  arpSenders: string[] | null,
  holdsVip = true,
): DoctorCheck {
  const base = { check: 'arp-announce' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (arpSenders === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (arpSenders.includes(vip)) {
    return {
      ...base,
      status: 'fail',
      detail: `${real} sent ARP with ${vip} as sender: the router and others learn ${vip} at ${real}'s MAC`,
      hint: `on ${real}: xlvs realserver setup --vip ${vip}   (arp_announce=2, or --method arp-rules)`,
    };
  }
  if (arpSenders.length) return { ...base, status: 'pass', detail: `ARP from ${real} carries ${[...new Set(arpSenders)].join(', ')}, not ${vip}` };
  if (!holdsVip) return { ...base, status: 'skip', detail: `${real} does not answer for ${vip}, so its ARP for replies could not be seen` };
  if (!probeAddress) return { ...base, status: 'skip', detail: 'no spare address on the segment to probe from (give --probe-address)' };
  return {
    ...base,
    status: 'skip',
    detail: answered
      ? `${real} sent no ARP while answering ${probeAddress}`
      : `${real} sent no ARP for ${probeAddress} after a ping to ${vip} from it (ping filtered, or still resolving it from a run moments ago)`,
  };
}

export function doctorReplyRoute(real: string, vip: string, offlink: string, answered: boolean | null, seenAtDirector: boolean): DoctorCheck {
  const base = { check: 'reply-route' as const, subject: `${realSubject(real)} / VIP ${vip}`, real, vip };
  if (answered === null) return { ...base, status: 'skip', detail: `not probed: ${real} has no MAC` };
  if (seenAtDirector) {
    return {
      ...base,
      status: 'fail',
      detail: `${real}'s reply from ${vip} to off-segment ${offlink} came back to the director: its default route goes through the director`,
      hint: `on ${real}: ip ${isIPv6(vip) ? '-6 ' : ''}route replace default via <router>   (xlvs realserver check --vip ${vip} --director <this address>)`,
    };
  }
  if (!answered) return { ...base, status: 'skip', detail: `${real} does not answer ping for ${vip}, so its reply route could not be seen` };
  return { ...base, status: 'pass', detail: `replies from ${vip} to off-segment ${offlink} do not come through the director` };
}

export function doctorArpVip(
  vip: string,
  dirMac: string,
  replies: { mac: string; spa: string }[],
  realsByMac: Map<string, string>,
  holdsVip: boolean,
): DoctorCheck {
  const base = { check: 'arp-vip' as const, subject: `VIP ${vip}`, vip };
  const others = [...new Set(replies.map((r) => r.mac.toLowerCase()).filter((m) => m !== dirMac.toLowerCase()))];
  if (others.length) {
    const who = others.map((m) => (realsByMac.has(m) ? `${m} (real ${realsByMac.get(m)})` : m));
    const reals = others.filter((m) => realsByMac.has(m)).map((m) => realsByMac.get(m)!);
    return {
      ...base,
      status: 'fail',
      detail: `ARP for ${vip} answered by ${who.join(', ')}: the router may send clients past the director`,
      hint: reals.length
        ? `on ${reals.join(', ')}: xlvs realserver setup --vip ${vip}`
        : `find the host with MAC ${others[0]} and take ${vip} off it, or keep it quiet on ARP`,
    };
  }
  return {
    ...base,
    status: 'pass',
    detail: `no host but the director answers ARP for ${vip}${holdsVip ? '' : ` (the director does not hold ${vip} now; xlvs up adds it)`}`,
  };
}

export function renderDoctorText(r: DoctorReport): string {
  const head = `xlvs doctor on ${r.interface} (${r.directorMac}, ${r.directorAddress ?? 'no IPv4 address'}, MTU ${r.mtu}), ${r.xdp ? `XDP program ${r.xdp.progId} attached (${r.xdp.mode})` : 'no XDP program attached'}`;
  const rows = [['CHECK', 'SUBJECT', 'RESULT', 'DETAIL'], ...r.checks.map((c) => [c.check, c.subject, MARK[c.status], c.detail])];
  const failed = r.checks.filter((c) => c.status === 'fail').length;
  const verdict = failed ? `${failed} check${failed > 1 ? 's' : ''} failed` : 'ready';
  return `${head}\n${table(rows)}\n${hintsBlock(r.checks.map((c) => ({ label: `${c.check} ${c.subject}`, hint: c.hint, status: c.status })))}${verdict}\n`;
}

/**
 * Spare-address candidates for the arp-announce probe: from the top of the subnet down, skipping the network and
 * broadcast addresses and any address in `taken`.
 */
export function spareCandidates(cidr: string, taken: ReadonlySet<string>, count: number): string[] {
  const [net, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  if (bits > 30) return [];
  const base = (net.split('.').reduce((n, x) => (n << 8) + Number(x), 0) & ((~0 << (32 - bits)) >>> 0)) >>> 0;
  const size = 2 ** (32 - bits);
  const out: string[] = [];
  for (let i = size - 2; i >= 1 && out.length < count; i--) {
    const n = (base + i) >>> 0;
    const s = [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
    if (!taken.has(s)) out.push(s);
  }
  return out;
}
