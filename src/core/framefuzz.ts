// SPDX-License-Identifier: Apache-2.0
// framefuzz.ts: the datapath fuzzer's seeded random frames: valid templates of every kind the datapath tells apart, and header mutations.

/*
 * Pure: no I/O. The same seed gives the same frames on any machine, so a failure reported with its seed and
 * frame index is reproduced by `npm run fuzz -- --seed S --frames N`. Mutations aim at the edges the datapath
 * tests (src/core/verdictmodel.ts lists them): every truncation length, each header field at and around its
 * bounds, padding after the datagram, and random byte flips in the headers.
 */

import { buildIpv4, type Ipv4Spec, type Layout, MAX_FRAME } from './framefuzz-ipv4';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './net/proto';
import { ipv4Bytes, macBytes } from './packets';
import { Rng } from './rng';

import { ETH_HLEN } from './verdictmodel';

export interface FuzzService {
  vip: string;
  /** 0: all ports. */
  port: number;
  proto: number;
}

export interface FuzzWorld {
  /** MACs the director forwards for (NIC and accept_macs). */
  directorMacs: string[];
  /** Other hosts' MACs seen on the segment (routers, reals, a second director). */
  otherMacs: string[];
  services: FuzzService[];
  /** IPv4 addresses that are no VIP (the director's own, other hosts). */
  otherAddrs: string[];
  /** Client addresses; a small pool makes flows repeat (tx_existing) as well as start (tx_new). */
  clients: string[];
}

export interface FuzzFrame {
  frame: Buffer;
  /** The template and the mutations applied, for a failure report. */
  recipe: string;
}

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const MULTICAST = ['01:00:5e:00:00:01', '33:33:00:00:00:01', '01:80:c2:00:00:0e'];

export class FrameFuzzer {
  readonly rng: Rng;
  private readonly dirMacs: Buffer[];

  constructor(
    private readonly world: FuzzWorld,
    readonly seed: number,
  ) {
    this.rng = new Rng(seed);
    this.dirMacs = world.directorMacs.map((m) => macBytes(m));
  }

  /** The next frame: a template, then (often) mutations. */
  next(): FuzzFrame {
    const r = this.rng;
    const steps: string[] = [];
    let f: Buffer;
    let lay: Layout | null = null;
    const t = r.int(100);
    if (t < 62) {
      const spec = this.ipv4Spec(steps);
      ({ f, lay } = buildIpv4(spec, r));
    } else if (t < 70) {
      ({ f, lay } = this.icmpError(steps));
    } else if (t < 75) {
      steps.push('arp');
      f = this.arp();
    } else if (t < 84) {
      steps.push('ipv6');
      f = this.ipv6();
      // IPv6 behind tags too: one, QinQ, or three (one more than the datapath looks behind).
      if (r.chance(0.3)) {
        const n = r.chance(0.6) ? 1 : r.chance(0.8) ? 2 : 3;
        const tags = Array.from({ length: n }, () => {
          const t = Buffer.alloc(4);
          t.writeUInt16BE(r.pick([0x8100, 0x88a8]), 0);
          t.writeUInt16BE(r.int(4096), 2);
          return t;
        });
        steps.push(`vlan x${n}`);
        f = Buffer.concat([f.subarray(0, 12), ...tags, f.subarray(12)]);
      }
    } else if (t < 91) {
      // One tag (802.1Q, sometimes 802.1ad or the old 0x9100), QinQ, or three tags (one more than the datapath looks behind).
      const spec = this.ipv4Spec(steps);
      const n = r.chance(0.6) ? 1 : r.chance(0.8) ? 2 : 3;
      spec.tags = Array.from({ length: n }, (_, i) => ({ tpid: i < n - 1 || r.chance(0.7) ? r.pick([0x8100, 0x88a8]) : 0x9100, vid: r.int(4096) }));
      steps.push(`vlan ${spec.tags.map((x) => `${x.tpid.toString(16)}:${x.vid}`).join('/')}`);
      ({ f, lay } = buildIpv4(spec, r));
    } else if (t < 94) {
      const et = r.pick([0x88cc, 0x8847, 0x0842, 0x22f0, 0x0000, 0x05dc, 0xffff, 0x0801, 0x0900, r.int(65536)]);
      steps.push(`ethertype 0x${et.toString(16)}`);
      f = Buffer.concat([this.dstMac(steps), macBytes('02:00:00:00:00:01'), Buffer.from([et >> 8, et & 255]), r.bytes(r.range(0, 80))]);
    } else {
      // Noise: random bytes behind a director MAC and the IPv4 ethertype, or entirely random.
      const n = r.range(ETH_HLEN, 120);
      f = r.bytes(n);
      if (r.chance(0.7)) {
        this.dirMacs[r.int(this.dirMacs.length)]!.copy(f, 0);
        f.writeUInt16BE(0x0800, 12);
        if (n > ETH_HLEN && r.chance(0.7)) f[ETH_HLEN] = 0x40 | (f[ETH_HLEN]! & 15);
      }
      steps.push(`noise ${n}`);
    }
    if (lay) this.mutate(f, lay, steps);
    // Truncation at any length (down to the Ethernet header: nothing delivers less).
    if (r.chance(0.12)) {
      const n = r.range(ETH_HLEN, f.length);
      f = f.subarray(0, n);
      steps.push(`truncate ${n}`);
    }
    if (r.chance(0.08)) {
      // Padding: the IP total length no longer reaches the end of the frame.
      const n = r.range(1, 46);
      f = Buffer.concat([f, r.chance(0.5) ? Buffer.alloc(n) : r.bytes(n)]);
      steps.push(`pad ${n}`);
    }
    if (f.length > MAX_FRAME) f = f.subarray(0, MAX_FRAME);
    return { frame: f, recipe: steps.join(', ') };
  }

  private dstMac(steps: string[]): Buffer {
    const r = this.rng;
    const k = r.int(100);
    if (k < 70) return this.dirMacs[k < 55 ? 0 : r.int(this.dirMacs.length)]!;
    let m: string;
    if (k < 82) m = r.pick(this.world.otherMacs);
    else if (k < 88) m = BROADCAST;
    else if (k < 93) m = r.pick(MULTICAST);
    else if (k < 95) m = '00:00:00:00:00:00';
    else {
      // One bit away from a director MAC.
      const b = Buffer.from(r.pick(this.dirMacs));
      b[r.int(6)]! ^= 1 << r.int(8);
      steps.push(`dst ${b.toString('hex')}`);
      return b;
    }
    steps.push(`dst ${m}`);
    return macBytes(m);
  }

  private ipv4Spec(steps: string[]): Ipv4Spec & { dstMac: Buffer } {
    const r = this.rng;
    const w = this.world;
    const dstMac = this.dstMac(steps);
    const k = r.int(100);
    let daddr: string;
    let proto: number;
    let dport: number;
    if (k < 55) {
      const s = r.pick(w.services);
      daddr = s.vip;
      proto = s.proto;
      dport = s.port === 0 ? this.port() : s.port;
      steps.push(`svc ${s.vip}:${s.port}/${s.proto}${s.port === 0 ? ` port ${dport}` : ''}`);
    } else if (k < 70) {
      const s = r.pick(w.services);
      daddr = s.vip;
      proto = r.chance(0.5) ? IPPROTO_TCP : IPPROTO_UDP;
      dport = r.chance(0.3) ? s.port : this.port();
      steps.push(`vip ${daddr} ${proto}:${dport}`);
    } else if (k < 82) {
      daddr = r.chance(0.2) ? `${r.range(1, 223)}.${r.int(256)}.${r.int(256)}.${r.int(256)}` : r.pick(w.otherAddrs);
      proto = r.chance(0.5) ? IPPROTO_TCP : IPPROTO_UDP;
      dport = r.chance(0.5) ? r.pick(w.services).port : this.port();
      steps.push(`other ${daddr} ${proto}:${dport}`);
    } else {
      daddr = r.chance(0.7) ? r.pick(w.services).vip : r.pick(w.otherAddrs);
      proto = r.pick([1, 1, 1, 0, 2, 4, 47, 50, 58, 132, 255, r.int(256)]);
      dport = 0;
      steps.push(`ip ${daddr} proto ${proto}`);
    }
    const flags = r.chance(0.5) ? r.pick([0x02, 0x10, 0x18, 0x11, 0x04, 0x12, 0x14]) : r.int(256);
    return {
      dst: '',
      dstMac,
      saddr: r.pick(w.clients),
      daddr,
      proto,
      sport: r.chance(0.5) ? r.range(40000, 40063) : r.range(1, 65535),
      dport,
      ipOpts: r.chance(0.1) ? 4 * r.range(1, 10) : 0,
      tcpOpts: r.chance(0.2) ? 4 * r.range(1, 10) : 0,
      tcpFlags: flags,
      fragOff: r.chance(0.85) ? 0x4000 : r.pick([0, 0x2000, 0x6000, 1, 185, 0x1fff, 0x8000, 0xc000, 0x3fff, r.int(65536)]),
      payload: r.chance(0.5) ? 0 : r.chance(0.8) ? r.range(1, 64) : r.range(65, 1400),
    };
  }

  /**
   * An ICMP error (or another ICMP type) to a VIP quoting the real's reply of a client flow, often one the run has
   * opened (a pool client and port); sometimes tagged, sometimes with a quote the datapath must refuse.
   */
  private icmpError(steps: string[]): { f: Buffer; lay: Layout } {
    const r = this.rng;
    const w = this.world;
    const spec = this.ipv4Spec(steps);
    const svc = r.pick(w.services);
    const type = r.pick([3, 3, 3, 3, 11, 4, 5, 0, 8, 12, r.int(256)]);
    const qproto = r.chance(0.9) ? svc.proto : r.pick([1, 6, 17, 47]);
    const qopts = r.chance(0.1) ? 4 * r.range(1, 10) : 0;
    const qlen = r.chance(0.8) ? 8 : r.chance(0.7) ? r.range(9, 120) : r.range(0, 7);
    const q = Buffer.alloc(20 + qopts + qlen);
    q[0] = r.chance(0.95) ? 0x40 | ((20 + qopts) / 4) : r.int(256);
    q.writeUInt16BE(r.range(28, 1500), 2);
    q.writeUInt16BE(r.chance(0.85) ? 0x4000 : r.pick([0, 0x2000, 185, 0x1fff, 0x6000]), 6);
    q[8] = 64;
    q[9] = qproto;
    ipv4Bytes(r.chance(0.9) ? svc.vip : r.pick(w.otherAddrs)).copy(q, 12);
    ipv4Bytes(r.pick(w.clients)).copy(q, 16);
    const t = 20 + qopts;
    if (qlen >= 4) {
      q.writeUInt16BE(svc.port === 0 || r.chance(0.1) ? this.port() : svc.port, t);
      q.writeUInt16BE(r.chance(0.8) ? r.range(40000, 40063) : r.range(1, 65535), t + 2);
    }
    for (let i = t + 4; i < q.length; i++) q[i] = r.int(256);
    // Sometimes not even the quoted IP header fits in the message.
    const quote = r.chance(0.04) ? q.subarray(0, r.range(0, 19)) : q;
    spec.proto = 1;
    spec.daddr = r.chance(0.8) ? svc.vip : r.pick(w.otherAddrs);
    spec.saddr = r.pick(w.otherAddrs);
    spec.payload = quote.length;
    if (r.chance(0.15)) spec.tags = [{ tpid: 0x8100, vid: r.int(4096) }];
    steps.push(`icmp type ${type} quoting ${svc.vip}:${svc.port}/${qproto} ihl ${q[0]! & 15} +${qlen}${quote === q ? '' : ` cut to ${quote.length}`}`);
    const built = buildIpv4(spec, r);
    built.f[built.lay.l4] = type;
    built.f[built.lay.l4 + 1] = r.pick([0, 1, 3, 4, r.int(256)]);
    quote.copy(built.f, built.lay.l4 + 8);
    return built;
  }

  private port(): number {
    return this.rng.chance(0.5) ? this.rng.pick([0, 1, 22, 53, 80, 443, 8080, 65535]) : this.rng.range(0, 65535);
  }

  private arp(): Buffer {
    const r = this.rng;
    const b = Buffer.alloc(42);
    (r.chance(0.6) ? macBytes(BROADCAST) : r.pick(this.dirMacs)).copy(b, 0);
    macBytes('02:00:00:00:00:01').copy(b, 6);
    b.writeUInt16BE(0x0806, 12);
    b.writeUInt16BE(1, 14);
    b.writeUInt16BE(0x0800, 16);
    b[18] = 6;
    b[19] = 4;
    b.writeUInt16BE(r.range(1, 2), 20);
    macBytes('02:00:00:00:00:01').copy(b, 22);
    ipv4Bytes(r.pick(this.world.otherAddrs)).copy(b, 28);
    ipv4Bytes(r.pick(this.world.services).vip).copy(b, 38);
    return r.chance(0.5) ? Buffer.concat([b, Buffer.alloc(18)]) : b;
  }

  /**
   * An IPv6 frame: TCP, UDP or ICMPv6 (neighbour discovery, echo, errors with a quote) behind zero to eight extension
   * headers (a fragment header among them at times), then at times a wrong payload length, a truncation or a zeroed
   * source half: each rule of the model's IPv6 rows gets frames at and around its bound.
   */
  private ipv6(): Buffer {
    const r = this.rng;
    const proto = r.pick([6, 6, 17, 58, 6, 17, 58, 59]); // 59: no next header
    let l4: Buffer;
    if (proto === 58) {
      const type = r.pick([1, 2, 2, 128, 129, 135, 136, 3]);
      const quote = r.bytes(r.pick([0, 20, 44, 48, 60]));
      if (quote.length >= 40) quote[0] = 0x60;
      if (quote.length >= 8) quote[6] = r.pick([6, 17, 58]);
      l4 = Buffer.concat([Buffer.from([type, 0, 0, 0, 0, 0, 5, 0x78]), quote]);
    } else if (proto === 59) {
      l4 = r.bytes(8);
    } else {
      l4 = Buffer.alloc(proto === 6 ? 20 : 8);
      l4.writeUInt16BE(r.range(1024, 65535), 0);
      l4.writeUInt16BE(r.pick(this.world.services).port, 2);
      if (proto === 6) {
        l4[12] = r.chance(0.9) ? 0x50 : r.pick([0x40, 0xf0]);
        l4[13] = 0x02;
      } else l4.writeUInt16BE(r.chance(0.9) ? 8 : r.pick([0, 7, 9]), 4);
    }
    const n = r.chance(0.5) ? 0 : r.range(1, 8);
    const exts: Buffer[] = [];
    const types: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = r.pick([0, 43, 60, 60, 51, 44]);
      const e = Buffer.alloc(t === 44 ? 8 : t === 51 ? 16 : 8 * r.range(1, 3));
      if (t === 51) e[1] = 2;
      else if (t !== 44) e[1] = e.length / 8 - 1;
      else if (r.chance(0.6)) e.writeUInt16BE((r.int(3) << 3) | r.int(2), 2); // offset 0..2, M: a first, later or atomic fragment
      types.push(t);
      exts.push(e);
    }
    types.push(proto);
    exts.forEach((e, i) => {
      e[0] = types[i + 1]!;
    });
    const body = Buffer.concat([...exts, l4]);
    const b = Buffer.alloc(14 + 40);
    r.pick(this.dirMacs).copy(b, 0);
    macBytes('02:00:00:00:00:01').copy(b, 6);
    b.writeUInt16BE(0x86dd, 12);
    b[14] = r.chance(0.95) ? 0x60 : 0x45; // sometimes an IPv4-looking header behind the IPv6 ethertype
    b.writeUInt16BE(r.chance(0.85) ? body.length : r.pick([0, body.length - 1, body.length + 1, r.int(body.length + 1), r.int(65536)]) & 0xffff, 18);
    b[20] = types[0]!;
    b[21] = 64;
    r.bytes(32).copy(b, 22);
    if (r.chance(0.05)) b.fill(0, 22, 30); // a source the datapath cannot track
    const f = Buffer.concat([b, body]);
    return r.chance(0.1) ? f.subarray(0, r.range(14, f.length)) : f;
  }

  /** Zero to three mutations of an IPv4 frame's header fields, at and around each bound the datapath checks. */
  private mutate(f: Buffer, lay: Layout, steps: string[]): void {
    const r = this.rng;
    const n = r.chance(0.55) ? 0 : r.range(1, 3);
    for (let i = 0; i < n; i++) {
      const ip = lay.ip;
      const hdr = (f[ip]! & 15) * 4;
      const l4 = ip + hdr;
      const tot = f.readUInt16BE(ip + 2);
      const frameL3 = f.length - ip;
      switch (r.int(10)) {
        case 0: {
          const v = r.pick([0, 4, 4, 5, 6, 15]);
          f[ip] = (v << 4) | (f[ip]! & 15);
          steps.push(`version ${v}`);
          break;
        }
        case 1: {
          const v = r.pick([0, 1, 4, 5, 6, 15, hdr / 4 - 1, hdr / 4 + 1].filter((x) => x >= 0 && x <= 15));
          f[ip] = (f[ip]! & 0xf0) | v;
          steps.push(`ihl ${v}`);
          break;
        }
        case 2:
        case 3: {
          const l4min = lay.proto === IPPROTO_TCP ? 20 : lay.proto === IPPROTO_UDP ? 8 : 0;
          const v =
            r.pick([0, 1, hdr - 1, hdr, hdr + l4min - 1, hdr + l4min, tot - 1, tot + 1, frameL3, frameL3 - 1, frameL3 + 1, 0xffff, r.int(65536)]) & 0xffff;
          f.writeUInt16BE(v, ip + 2);
          steps.push(`tot_len ${v}`);
          break;
        }
        case 4: {
          const v = r.pick([0, 0x4000, 0x8000, 0x2000, 0x6000, 1, 0x1fff, 0x3fff, 0xa000, r.int(65536)]);
          f.writeUInt16BE(v, ip + 6);
          steps.push(`frag_off 0x${v.toString(16)}`);
          break;
        }
        case 5: {
          if (l4 + 12 >= f.length) break;
          const v = r.int(16);
          f[l4 + 12] = (v << 4) | (f[l4 + 12]! & 15);
          steps.push(`doff ${v}`);
          break;
        }
        case 6: {
          if (l4 + 6 > f.length) break;
          const ulen = f.readUInt16BE(l4 + 4);
          const v = r.pick([0, 7, 8, 9, ulen - 1, ulen + 1, tot - hdr, tot - hdr + 1, tot - hdr - 1, 0xffff, r.int(65536)]) & 0xffff;
          f.writeUInt16BE(v, l4 + 4);
          steps.push(`udp_len ${v}`);
          break;
        }
        case 7: {
          const v = r.pick([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 0, r.int(256)]);
          f[ip + 9] = v;
          steps.push(`proto ${v}`);
          break;
        }
        case 8: {
          // A random byte of the headers flipped (Ethernet, IPv4 with options, and the first 20 bytes after).
          const end = Math.min(f.length, l4 + 20);
          const at = r.int(end);
          const x = r.range(1, 255);
          f[at]! ^= x;
          steps.push(`flip ${at}^0x${x.toString(16)}`);
          break;
        }
        default: {
          // ethertype (an IPv4 frame behind another ethertype, or near misses)
          const v = r.pick([0x0800, 0x0801, 0x0008, 0x8100, 0x86dd, 0x0806]);
          f.writeUInt16BE(v, 12);
          steps.push(`ethertype 0x${v.toString(16)}`);
        }
      }
    }
  }
}
