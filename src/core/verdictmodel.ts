// SPDX-License-Identifier: Apache-2.0
// verdictmodel.ts: the README's "How a frame is handled" table as a function of a frame's bytes: which verdict counter a frame bumps and, when forwarded, what its output may be.

/*
 * Pure: no I/O. The checks run in the order of xlvs_xdp (bpf/xlvs.bpf.c) and its parsers (bpf/parsing.h), so
 * a frame that breaks two rules gets the counter of the first one the datapath tests. The fuzzer
 * (src/core/framefuzz.ts, test/bpf/fuzz.test.ts, `npm run fuzz`) holds the datapath to this model.
 */

export const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
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
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/**
 * The verdict classes of the README table: six pass counters, "forward" (tx_existing, tx_new or drop_no_real) and
 * "icmp_error" (tx_icmp when the connection table holds the quoted flow, else pass_icmp_no_flow).
 */
export const VERDICT_CLASSES = [
  'pass_not_ipv4',
  'pass_not_for_us',
  'pass_malformed',
  'pass_fragment',
  'pass_no_service',
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
  /** The verdict counters one of which the frame bumps (tx_existing or tx_new for a forwarded frame: which one depends on the connection table). */
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
  'ethertype is not IPv4',
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

function ipv4U32(s: string): number {
  const p = s.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function compileWorld(world: ModelWorld): CompiledWorld {
  const svc = new Map<string, ModelService>();
  const realMacs = new Map<ModelService, Set<string>>();
  for (const s of world.services) {
    svc.set(`${ipv4U32(s.vip)}:${s.port}:${s.proto}`, s);
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
  // Row "ARP, IPv6, other ethertypes, three or more VLAN tags": the ethertype behind the tags.
  if (et !== ETH_P_IP) return PASS('pass_not_ipv4', 'ethertype is not IPv4');
  // Row "IPv4 addressed to another host's MAC ... or to a broadcast or multicast MAC": checked before the IPv4 header is (for_director).
  if (!w.forUs.has(f.toString('hex', 0, 6))) return PASS('pass_not_for_us', 'destination MAC is neither the NIC MAC nor an accept_macs MAC');
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
  // Row "IPv4 not for a service: other ports ...": the exact VIP:port/protocol, else the VIP's port-0 service (service_for).
  const s = serviceFor(w, f.readUInt32BE(l2 + 16), dport, proto);
  if (!s) return PASS('pass_no_service', 'no service for the destination address, port and protocol');
  // Rows "TCP/UDP to a configured VIP:port/protocol": tx_existing / tx_new, or drop_no_real when no real can take it.
  if (s.realMacs.length === 0)
    return { cls: 'forward', action: 'XDP_DROP', counters: ['drop_no_real'], service: s, why: 'service with no real that can take a connection' };
  return { cls: 'forward', action: 'XDP_TX', counters: ['tx_existing', 'tx_new'], service: s, why: 'TCP/UDP to a service' };
}

function serviceFor(w: CompiledWorld, vip: number, port: number, proto: number): ModelService | undefined {
  return w.svc.get(`${vip}:${port}:${proto}`) ?? w.svc.get(`${vip}:0:${proto}`);
}

/** Rows "ICMP ..." (icmp_error in bpf/xlvs.bpf.c, parse_icmphdr and parse_icmp_quote in bpf/parsing.h). */
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
