// SPDX-License-Identifier: Apache-2.0
// verdictmodel.ts: the README's "How a frame is handled" table as a function of a frame's bytes: which verdict counter a frame bumps and, when forwarded, what its output may be.

/*
 * Pure: no I/O. The checks run in the order of xlvs_xdp (bpf/xlvs.bpf.c) and its parsers (bpf/parsing.h), so
 * a frame that breaks two rules gets the counter of the first one the datapath tests. The fuzzer
 * (src/core/framefuzz.ts, test/bpf/fuzz.test.ts, `npm run fuzz`) holds the datapath to this model.
 */

import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

export const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const IPV4_MIN = 20;
const TCP_MIN = 20;
const UDP_HLEN = 8;
const IP_MF = 0x2000;
const IP_OFFSET = 0x1fff;

/** The verdict classes of the README table: five pass counters, and "forward" (tx_existing, tx_new or drop_no_real). */
export const VERDICT_CLASSES = ['pass_not_ipv4', 'pass_not_for_us', 'pass_malformed', 'pass_fragment', 'pass_no_service', 'forward'] as const;
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
  /** The service a forwarded frame belongs to. */
  service?: ModelService;
  /** The rule that decided, in the words of the README row. */
  why: ModelRule;
}

/** Every rule of modelVerdict(), by its `why`, in the order it is tested: a fuzz run reports how often each one decided a frame. */
export const MODEL_RULES = [
  'too short for an Ethernet header',
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
  'IP protocol neither TCP nor UDP',
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
  // Row "ARP, IPv6, VLAN-tagged frames, other ethertypes": the ethertype is read as is, tags are not unwrapped.
  if (f.readUInt16BE(12) !== ETH_P_IP) return PASS('pass_not_ipv4', 'ethertype is not IPv4');
  // Row "IPv4 addressed to another host's MAC ... or to a broadcast or multicast MAC": checked before the IPv4 header is (for_director).
  if (!w.forUs.has(f.toString('hex', 0, 6))) return PASS('pass_not_for_us', 'destination MAC is neither the NIC MAC nor an accept_macs MAC');
  // Row "too short for its headers, IPv4 ihl < 5 or version ≠ 4, total length beyond the frame" (parse_iphdr):
  if (len < ETH_HLEN + IPV4_MIN) return MALFORMED('too short for an IPv4 header');
  const vihl = f[ETH_HLEN]!;
  if (vihl >> 4 !== 4) return MALFORMED('IPv4 version is not 4');
  const hdr = (vihl & 15) * 4;
  if (hdr < IPV4_MIN) return MALFORMED('IPv4 ihl < 5');
  if (ETH_HLEN + hdr > len) return MALFORMED('IPv4 options beyond the frame');
  const tot = f.readUInt16BE(ETH_HLEN + 2);
  if (ETH_HLEN + tot > len) return MALFORMED('IPv4 total length beyond the frame');
  // (The kernel's ip_rcv drops a total length shorter than the header too: the same row.)
  if (tot < hdr) return MALFORMED('IPv4 total length shorter than its header');
  // Row "IPv4 fragments (first or later)": MF set or a non-zero offset; DF and the reserved bit are no fragment.
  if (f.readUInt16BE(ETH_HLEN + 6) & (IP_MF | IP_OFFSET)) return PASS('pass_fragment', 'IPv4 fragment');
  const proto = f[ETH_HLEN + 9]!;
  const l4 = ETH_HLEN + hdr;
  const l3End = ETH_HLEN + tot; // Ethernet padding after the datagram is no header ("Ethernet padding is kept")
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
  } else {
    // Row "IPv4 not for a service: ... ICMP to the VIP": any protocol but TCP and UDP.
    return PASS('pass_no_service', 'IP protocol neither TCP nor UDP');
  }
  // Row "IPv4 not for a service: other ports ...": the exact VIP:port/protocol, else the VIP's port-0 service (service_for).
  const daddr = f.readUInt32BE(ETH_HLEN + 16);
  const s = w.svc.get(`${daddr}:${dport}:${proto}`) ?? w.svc.get(`${daddr}:0:${proto}`);
  if (!s) return PASS('pass_no_service', 'no service for the destination address, port and protocol');
  // Rows "TCP/UDP to a configured VIP:port/protocol": tx_existing / tx_new, or drop_no_real when no real can take it.
  if (s.realMacs.length === 0)
    return { cls: 'forward', action: 'XDP_DROP', counters: ['drop_no_real'], service: s, why: 'service with no real that can take a connection' };
  return { cls: 'forward', action: 'XDP_TX', counters: ['tx_existing', 'tx_new'], service: s, why: 'TCP/UDP to a service' };
}

/**
 * What is wrong with the datapath's output of a frame, or null: a passed or dropped frame must be bit-identical
 * ("XDP_PASS, untouched"); a transmitted one may differ only in its 12 MAC bytes, its destination one of the
 * service's reals and its source the NIC MAC ("rewritten MACs"; "IPv4 options are forwarded untouched; Ethernet
 * padding is kept").
 */
export function outputProblem(w: CompiledWorld, v: ModelVerdict, input: Buffer, output: Buffer): string | null {
  if (output.length !== input.length) return `output is ${output.length} bytes, input ${input.length}`;
  if (v.action !== 'XDP_TX') return input.equals(output) ? null : `${v.action} frame changed (first difference at byte ${firstDiff(input, output)})`;
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
