// SPDX-License-Identifier: Apache-2.0
// verdictmodel.ts: the README's "How a frame is handled" table as a function of a frame's bytes: its verdict counter and output.

/*
 * Pure: no I/O. The checks run in the order of xlvs_xdp (bpf/xlvs.bpf.c) and its parsers (bpf/parsing.h), so
 * a frame that breaks two rules gets the counter of the first one the datapath tests. The fuzzer
 * (src/core/framefuzz.ts, test/bpf/fuzz.test.ts, `npm run fuzz`) holds the datapath to this model.
 */

import { bytesToIp } from './net/addr';
import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

export const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPV6_HLEN = 40;
/** bpf/ipv6.h: extension headers walked (XLVS_IPV6_EXT_MAX), and the furthest an upper-layer header may start (XLVS_IPV6_L4_MAX_OFF). */
const IPV6_EXT_MAX = 6;
const IPV6_L4_MAX_OFF = 4096;
const NEXTHDR = { HOP: 0, ROUTING: 43, FRAGMENT: 44, AH: 51, ICMPV6: 58, DEST: 60 } as const;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
/** Tags the datapath looks behind (XLVS_VLAN_MAX in bpf/parsing.h). */
const VLAN_MAX = 2;
const VLAN_HLEN = 4;
const ICMP_HLEN = 8;
/** Transport bytes an ICMP error must quote (XLVS_ICMP_QUOTE): the ports. */
const ICMP_QUOTE = 8;
/** ICMP types that are errors about a flow (IPVS ip_vs_in_icmp): destination unreachable, source quench, time exceeded. */
const ICMP_ERRORS = new Set([3, 4, 11]);
const IPPROTO_ICMP = 1;
const IPV4_MIN = 20;
const TCP_MIN = 20;
const UDP_HLEN = 8;
const IP_MF = 0x2000;
const IP_OFFSET = 0x1fff;

/**
 * The verdict classes of the README table: eight pass counters, "forward" (tx_existing, tx_new or drop_no_real) and
 * "icmp_error" (tx_icmp when the connection table holds the quoted flow, else pass_icmp_no_flow).
 */
export const VERDICT_CLASSES = [
  'pass_not_ipv4',
  'pass_not_for_us',
  'pass_malformed',
  'pass_fragment',
  'pass_no_service',
  'pass_fragment6',
  'pass_ipv6_ext',
  'pass_icmp6_no_flow',
  'pass_icmp_no_flow',
  'forward',
  'icmp_error',
] as const;
export type VerdictClass = (typeof VERDICT_CLASSES)[number];

export interface ModelService {
  vip: string;
  /** 0: every port the exact services of this VIP and protocol leave. */
  port: number;
  /** 6 (TCP) or 17 (UDP). */
  proto: number;
  /**
   * MACs of the reals a frame of this service may be sent to. Empty: no real can take a connection, and none
   * ever could (the documented verdict is then drop_no_real for every flow).
   */
  realMacs: string[];
}

export interface ModelWorld {
  /** The NIC's MAC: the source of every forwarded frame. */
  nicMac: string;
  /** accept_macs: further destination MACs the director forwards frames for (keepalived's use_vmac). */
  acceptMacs: string[];
  services: ModelService[];
}

// The kernel's enum xdp_action: what an XDP program returns and BPF_PROG_TEST_RUN reports as retval. Named once
// here so the tests, the fuzzer and the benchmarks compare retvals against the same numbers the model names.
export const XDP_ABORTED = 0,
  XDP_DROP = 1,
  XDP_PASS = 2,
  XDP_TX = 3,
  XDP_REDIRECT = 4;
const XDP_ACTION_NAMES = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'] as const;

/** The name of an XDP retval (`retval N` for a number the kernel does not define), for messages and model comparison. */
export function xdpActionName(retval: number): string {
  return XDP_ACTION_NAMES[retval] ?? `retval ${retval}`;
}

export type XdpAction = 'XDP_PASS' | 'XDP_TX' | 'XDP_DROP';

export interface ModelVerdict {
  cls: VerdictClass;
  action: XdpAction;
  /**
   * The verdict counters one of which the frame bumps (tx_existing, tx_new or tx_stateless for a forwarded frame:
   * which one depends on the connection table and the table's marks).
   */
  counters: readonly string[];
  /** The service a forwarded frame belongs to (an ICMP error: the service of the flow it quotes). */
  service?: ModelService;
  /**
   * An ICMP error quoting a flow of a service: XDP_TX (tx_icmp) if the connection table holds the flow, else
   * XDP_PASS untouched (pass_icmp_no_flow). The model has no connection table, so either is right.
   */
  orPass?: boolean;
  /** The rule that decided, in the words of the README row. */
  why: ModelRule;
}

/** Every rule of modelVerdict(), by its `why`, in the order it is tested: a fuzz run reports how often each one decided a frame. */
export const MODEL_RULES = [
  'too short for an Ethernet header',
  'VLAN tag beyond the frame',
  'ethertype is neither IPv4 nor IPv6',
  'destination MAC is neither the NIC MAC nor an accept_macs MAC',
  'too short for an IPv4 header',
  'IPv4 version is not 4',
  'IPv4 ihl < 5',
  'IPv4 options beyond the frame',
  'IPv4 total length beyond the frame',
  'IPv4 total length shorter than its header',
  'IPv4 fragment',
  'TCP header beyond the frame or the IP total length',
  'TCP doff < 5',
  'TCP options beyond the IP total length',
  'UDP header beyond the frame or the IP total length',
  'UDP length < 8',
  'UDP length beyond the IP total length',
  'ICMP header beyond the frame or the IP total length',
  'ICMP other than an error about a flow',
  'ICMP quote without a whole IPv4 header',
  'ICMP quote with a bad IPv4 version or ihl',
  'ICMP quote without 8 bytes after its IPv4 header',
  'ICMP quote of a later fragment or of neither TCP nor UDP',
  'ICMP quote of a flow of no service that can have connections',
  'ICMP error quoting a flow of a service',
  'IP protocol neither TCP, UDP nor ICMP',
  'no service for the destination address, port and protocol',
  'service with no real that can take a connection',
  'TCP/UDP to a service',
  'too short for an IPv6 header',
  'IPv6 version is not 6',
  'IPv6 payload length 0 or beyond the frame',
  'IPv6 hop-by-hop options not first',
  'IPv6 extension header beyond the frame or the payload',
  'IPv6 fragment',
  'IPv6 extension chain too long',
  'IPv6 next header neither TCP, UDP nor ICMPv6',
  'ICMPv6 header beyond the frame or the payload',
  'ICMPv6 other than an error (neighbour discovery, echo)',
  'ICMPv6 error quote beyond the frame or the payload',
  'ICMPv6 error quoting no tracked flow',
  'IPv6 source with a zero first half',
] as const;
export type ModelRule = (typeof MODEL_RULES)[number];

/** A ModelWorld with its MACs and services indexed for a lookup per frame. */
export interface CompiledWorld {
  world: ModelWorld;
  nic: Buffer;
  /** Destination MACs frames are forwarded for, as 12-digit hex. */
  forUs: Set<string>;
  /** "vip(u32):port:proto" -> service. */
  svc: Map<string, ModelService>;
  realMacs: Map<ModelService, Set<string>>;
}

function macHex(m: string): string {
  return m.toLowerCase().split(':').join('');
}

/** The model's own parse of an IPv6 VIP (its canonical text is the service key; frames give bytes). */
function ipv6Bytes(s: string): Uint8Array {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const words = (t: string | undefined) => (t ? t.split(':').map((x) => parseInt(x, 16)) : []);
  const h = words(head),
    t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = new Uint8Array(16);
  all.forEach((w, i) => {
    b[i * 2] = w >> 8;
    b[i * 2 + 1] = w & 255;
  });
  return b;
}

function ipv4U32(s: string): number {
  const p = s.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function compileWorld(world: ModelWorld): CompiledWorld {
  const svc = new Map<string, ModelService>();
  const realMacs = new Map<ModelService, Set<string>>();
  for (const s of world.services) {
    svc.set(`${s.vip.includes(':') ? bytesToIp(ipv6Bytes(s.vip)) : ipv4U32(s.vip)}:${s.port}:${s.proto}`, s);
    realMacs.set(s, new Set(s.realMacs.map(macHex)));
  }
  return {
    world,
    nic: Buffer.from(macHex(world.nicMac), 'hex'),
    forUs: new Set([world.nicMac, ...world.acceptMacs].map(macHex)),
    svc,
    realMacs,
  };
}

const PASS = (cls: VerdictClass, why: ModelRule): ModelVerdict => ({ cls, action: 'XDP_PASS', counters: [cls], why });
const MALFORMED = (why: ModelRule) => PASS('pass_malformed', why);

/**
 * The documented verdict of one frame. Each rule names the README table row it implements
 * ("How a frame is handled"), in the order xlvs_xdp tests them.
 */
export function modelVerdict(w: CompiledWorld, f: Buffer): ModelVerdict {
  const len = f.length;
  // Row "too short for its headers": no Ethernet header (parse_ethhdr).
  if (len < ETH_HLEN) return MALFORMED('too short for an Ethernet header');
  // Row "VLAN-tagged": up to two 802.1Q / 802.1ad tags are looked behind and kept (parse_vlans); a cut tag is malformed.
  let et = f.readUInt16BE(12);
  let l2 = ETH_HLEN;
  for (let i = 0; i < VLAN_MAX && (et === ETH_P_8021Q || et === ETH_P_8021AD); i++) {
    if (len < l2 + VLAN_HLEN) return MALFORMED('VLAN tag beyond the frame');
    et = f.readUInt16BE(l2 + 2);
    l2 += VLAN_HLEN;
  }
  // Row "ARP, other ethertypes, three or more VLAN tags": the ethertype behind the tags.
  if (et !== ETH_P_IP && et !== ETH_P_IPV6) return PASS('pass_not_ipv4', 'ethertype is neither IPv4 nor IPv6');
  // Row "addressed to another host's MAC ... or to a broadcast or multicast MAC": checked before the IPv4 header is (for_director).
  if (!w.forUs.has(f.toString('hex', 0, 6))) return PASS('pass_not_for_us', 'destination MAC is neither the NIC MAC nor an accept_macs MAC');
  if (et === ETH_P_IPV6) return modelVerdict6(w, f, l2);
  // Row "too short for its headers, IPv4 ihl < 5 or version ≠ 4, total length beyond the frame" (parse_iphdr):
  if (len < l2 + IPV4_MIN) return MALFORMED('too short for an IPv4 header');
  const vihl = f[l2]!;
  if (vihl >> 4 !== 4) return MALFORMED('IPv4 version is not 4');
  const hdr = (vihl & 15) * 4;
  if (hdr < IPV4_MIN) return MALFORMED('IPv4 ihl < 5');
  if (l2 + hdr > len) return MALFORMED('IPv4 options beyond the frame');
  const tot = f.readUInt16BE(l2 + 2);
  if (l2 + tot > len) return MALFORMED('IPv4 total length beyond the frame');
  // (The kernel's ip_rcv drops a total length shorter than the header too: the same row.)
  if (tot < hdr) return MALFORMED('IPv4 total length shorter than its header');
  // Rows "IPv4 fragments": MF set or a non-zero offset; DF and the reserved bit are no fragment.
  if (f.readUInt16BE(l2 + 6) & (IP_MF | IP_OFFSET)) return PASS('pass_fragment', 'IPv4 fragment');
  const proto = f[l2 + 9]!;
  const l4 = l2 + hdr;
  const l3End = l2 + tot; // Ethernet padding after the datagram is no header ("Ethernet padding is kept")
  let dport: number;
  if (proto === IPPROTO_TCP) {
    // Row "too short for its headers ... a TCP or UDP header ... beyond the IP total length" (parse_tcphdr).
    if (l4 + TCP_MIN > len || l4 + TCP_MIN > l3End) return MALFORMED('TCP header beyond the frame or the IP total length');
    const doff = f[l4 + 12]! >> 4;
    // Row "TCP doff < 5 ... TCP options ... beyond the IP total length".
    if (doff < 5) return MALFORMED('TCP doff < 5');
    if (l4 + doff * 4 > l3End) return MALFORMED('TCP options beyond the IP total length');
    dport = f.readUInt16BE(l4 + 2);
  } else if (proto === IPPROTO_UDP) {
    // Row "too short for its headers ... UDP length < 8; a ... UDP header ... or UDP length beyond the IP total length" (parse_udphdr).
    if (l4 + UDP_HLEN > len || l4 + UDP_HLEN > l3End) return MALFORMED('UDP header beyond the frame or the IP total length');
    const ulen = f.readUInt16BE(l4 + 4);
    if (ulen < UDP_HLEN) return MALFORMED('UDP length < 8');
    if (l4 + ulen > l3End) return MALFORMED('UDP length beyond the IP total length');
    dport = f.readUInt16BE(l4 + 2);
  } else if (proto === IPPROTO_ICMP) {
    return icmpVerdict(w, f, l4, l3End);
  } else {
    // Row "IPv4 not for a service: ...": any protocol but TCP, UDP and ICMP.
    return PASS('pass_no_service', 'IP protocol neither TCP, UDP nor ICMP');
  }
  return serviceVerdict(w, f.readUInt32BE(l2 + 16), dport, proto);
}

/** The rows "TCP/UDP to a configured VIP:port/protocol" and "not for a service", both families. */
function serviceVerdict(w: CompiledWorld, daddr: number | string, dport: number, proto: number): ModelVerdict {
  // Row "not for a service: other ports ...": the exact VIP:port/protocol, else the VIP's port-0 service (service_for).
  const s = serviceFor(w, daddr, dport, proto);
  if (!s) return PASS('pass_no_service', 'no service for the destination address, port and protocol');
  // Rows "TCP/UDP to a configured VIP:port/protocol": tx_existing / tx_new, or drop_no_real when no real can take it.
  if (s.realMacs.length === 0)
    return { cls: 'forward', action: 'XDP_DROP', counters: ['drop_no_real'], service: s, why: 'service with no real that can take a connection' };
  return { cls: 'forward', action: 'XDP_TX', counters: ['tx_existing', 'tx_new', 'tx_stateless'], service: s, why: 'TCP/UDP to a service' };
}

function serviceFor(w: CompiledWorld, vip: number | string, port: number, proto: number): ModelService | undefined {
  return w.svc.get(`${vip}:${port}:${proto}`) ?? w.svc.get(`${vip}:0:${proto}`);
}

/** Rows "ICMP ..." (icmp_error in bpf/icmp.h, parse_icmphdr and parse_icmp_quote in bpf/parsing.h). */
function icmpVerdict(w: CompiledWorld, f: Buffer, l4: number, l3End: number): ModelVerdict {
  const len = f.length;
  if (l4 + ICMP_HLEN > len || l4 + ICMP_HLEN > l3End) return MALFORMED('ICMP header beyond the frame or the IP total length');
  // Row "IPv4 not for a service: ... ICMP other than errors (echo requests: the kernel answers)".
  if (!ICMP_ERRORS.has(f[l4]!)) return PASS('pass_no_service', 'ICMP other than an error about a flow');
  // Row "ICMP error with a bad quote": the quoted IPv4 header and 8 bytes after it must lie in the message.
  const q = l4 + ICMP_HLEN;
  if (q + IPV4_MIN > len) return MALFORMED('ICMP quote without a whole IPv4 header');
  if (f[q]! >> 4 !== 4 || (f[q]! & 15) < 5) return MALFORMED('ICMP quote with a bad IPv4 version or ihl');
  const qt = q + (f[q]! & 15) * 4;
  if (qt + ICMP_QUOTE > len || qt + ICMP_QUOTE > l3End) return MALFORMED('ICMP quote without 8 bytes after its IPv4 header');
  // Row "ICMP error quoting no connection": a later fragment quotes no ports; only TCP and UDP have connections.
  const qproto = f[q + 9]!;
  if (f.readUInt16BE(q + 6) & IP_OFFSET || (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP))
    return PASS('pass_icmp_no_flow', 'ICMP quote of a later fragment or of neither TCP nor UDP');
  // The quote is the real's reply (VIP:port -> client): its source is the connection's VIP and service port.
  const s = serviceFor(w, f.readUInt32BE(q + 12), f.readUInt16BE(qt), qproto);
  if (!s || s.realMacs.length === 0) return PASS('pass_icmp_no_flow', 'ICMP quote of a flow of no service that can have connections');
  // Row "ICMP error quoting a connection": to its real (tx_icmp), or passed if the table does not hold it.
  return {
    cls: 'icmp_error',
    action: 'XDP_TX',
    orPass: true,
    counters: ['tx_icmp', 'pass_icmp_no_flow'],
    service: s,
    why: 'ICMP error quoting a flow of a service',
  };
}

/**
 * The IPv6 rows, in the order of ipv6_parse() (bpf/ipv6.h): the header, the extension-header walk, the upper layer,
 * ICMPv6, the source address; l2: where the IPv6 header starts (behind any VLAN tags). The model holds no connection
 * table: an ICMPv6 error is modelled as quoting no tracked flow, which is what the fuzzer's frames quote.
 */
function modelVerdict6(w: CompiledWorld, f: Buffer, l2: number): ModelVerdict {
  const len = f.length;
  if (len < l2 + IPV6_HLEN) return MALFORMED('too short for an IPv6 header');
  if (f[l2]! >> 4 !== 6) return MALFORMED('IPv6 version is not 6');
  const plen = f.readUInt16BE(l2 + 4);
  if (!plen || l2 + IPV6_HLEN + plen > len) return MALFORMED('IPv6 payload length 0 or beyond the frame');
  const end = l2 + IPV6_HLEN + plen;
  let off = l2 + IPV6_HLEN;
  let next = f[l2 + 6]!;
  const isExt = (n: number) => n === NEXTHDR.HOP || n === NEXTHDR.ROUTING || n === NEXTHDR.DEST || n === NEXTHDR.AH || n === NEXTHDR.FRAGMENT;
  for (let i = 0; i < IPV6_EXT_MAX && isExt(next); i++) {
    if (next === NEXTHDR.HOP && i) return MALFORMED('IPv6 hop-by-hop options not first');
    if (off > IPV6_L4_MAX_OFF) return PASS('pass_ipv6_ext', 'IPv6 extension chain too long');
    if (off + 8 > len || off + 8 > end) return MALFORMED('IPv6 extension header beyond the frame or the payload');
    let hlen: number;
    if (next === NEXTHDR.FRAGMENT) {
      if (f.readUInt16BE(off + 2) & 0xfff9) return PASS('pass_fragment6', 'IPv6 fragment');
      hlen = 8;
    } else hlen = next === NEXTHDR.AH ? (f[off + 1]! + 2) * 4 : (f[off + 1]! + 1) * 8;
    if (off + hlen > end) return MALFORMED('IPv6 extension header beyond the frame or the payload');
    next = f[off]!;
    off += hlen;
  }
  if (isExt(next) || off > IPV6_L4_MAX_OFF) return PASS('pass_ipv6_ext', 'IPv6 extension chain too long');
  let dport: number;
  if (next === IPPROTO_TCP) {
    if (off + TCP_MIN > len || off + TCP_MIN > end) return MALFORMED('TCP header beyond the frame or the IP total length');
    const doff = f[off + 12]! >> 4;
    if (doff < 5) return MALFORMED('TCP doff < 5');
    if (off + doff * 4 > end) return MALFORMED('TCP options beyond the IP total length');
    dport = f.readUInt16BE(off + 2);
  } else if (next === IPPROTO_UDP) {
    if (off + UDP_HLEN > len || off + UDP_HLEN > end) return MALFORMED('UDP header beyond the frame or the IP total length');
    const ulen = f.readUInt16BE(off + 4);
    if (ulen < UDP_HLEN) return MALFORMED('UDP length < 8');
    if (off + ulen > end) return MALFORMED('UDP length beyond the IP total length');
    dport = f.readUInt16BE(off + 2);
  } else if (next === NEXTHDR.ICMPV6) {
    if (off + 8 > len || off + 8 > end) return MALFORMED('ICMPv6 header beyond the frame or the payload');
    const type = f[off]!;
    if (type !== 1 && type !== 2) return PASS('pass_no_service', 'ICMPv6 other than an error (neighbour discovery, echo)');
    if (off + 8 + IPV6_HLEN + 4 > len || off + 8 + IPV6_HLEN + 4 > end) return MALFORMED('ICMPv6 error quote beyond the frame or the payload');
    return PASS('pass_icmp6_no_flow', 'ICMPv6 error quoting no tracked flow');
  } else return PASS('pass_no_service', 'IPv6 next header neither TCP, UDP nor ICMPv6');
  if (f.readBigUInt64BE(l2 + 8) === 0n) return MALFORMED('IPv6 source with a zero first half');
  return serviceVerdict(w, bytesToIp(f.subarray(l2 + 24, l2 + 40)), dport, next);
}

/**
 * What is wrong with the datapath's output of a frame, or null: a passed or dropped frame must be bit-identical
 * ("XDP_PASS, untouched"); a transmitted one may differ only in its 12 MAC bytes, its destination one of the
 * service's reals and its source the NIC MAC ("rewritten MACs"; "IPv4 options are forwarded untouched; Ethernet
 * padding is kept").
 */
export function outputProblem(w: CompiledWorld, v: ModelVerdict, input: Buffer, output: Buffer): string | null {
  if (output.length !== input.length) return `output is ${output.length} bytes, input ${input.length}`;
  if (v.action !== 'XDP_TX' || (v.orPass && input.equals(output)))
    return input.equals(output) ? null : `${v.action} frame changed (first difference at byte ${firstDiff(input, output)})`;
  if (!input.subarray(12).equals(output.subarray(12))) return `bytes after the MACs changed (first difference at byte ${firstDiff(input, output)})`;
  const dst = output.toString('hex', 0, 6);
  if (!w.realMacs.get(v.service!)!.has(dst)) return `destination MAC ${dst} is not a real of ${v.service!.vip}:${v.service!.port}/${v.service!.proto}`;
  if (!output.subarray(6, 12).equals(w.nic)) return `source MAC ${output.toString('hex', 6, 12)} is not the NIC MAC`;
  return null;
}

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
