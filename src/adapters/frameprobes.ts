// SPDX-License-Identifier: Apache-2.0
// frameprobes.ts: the director's frame probes of a real: a SYN or datagram to the VIP at the real's MAC, an echo from a chosen source (IPv4 or IPv6), ARP.

import { randomInt } from 'node:crypto';
import type { TcpProbeResult, UdpProbeResult } from '../core/doctor';
import { canonicalIp, isIPv6 } from '../core/net/addr';
import { ipOf } from '../core/packetparse';
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpWhoHas,
  buildIcmpEcho,
  buildTcp,
  buildUdp,
  ICMP_ECHO_REPLY,
  ICMP_UNREACH,
  ICMP6_ECHO_REPLY,
  ICMP6_UNREACH,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from '../core/packets';
import type { Endpoint, ProbeSocket } from './probesocket';

/**
 * A SYN to vip:port sent to the real's MAC, as the director forwards a client's (an IPv6 VIP: from the director's
 * IPv6 address in dir). SYN-ACK: the real holds the VIP and
 * listens; RST: it holds the VIP but nothing listens. After a SYN-ACK we send the RST ourselves, so the half-open
 * connection ends even when the director's kernel drops the SYN-ACK as a martian (it holds the VIP while xlvs runs).
 */
export async function tcpProbe(
  ps: ProbeSocket,
  dir: Endpoint,
  realMac: string,
  vip: string,
  port: number,
  o: { timeoutMs: number; mss: number },
): Promise<TcpProbeResult> {
  const sport = randomInt(32768, 61000);
  const isn = randomInt(0, 2 ** 32 - 1);
  const [v, d] = [canonicalIp(vip), canonicalIp(dir.ip)];
  const answer = ps.collect(
    o.timeoutMs,
    (f) => {
      const ip = ipOf(f, v);
      const t = ip?.tcp;
      return f.srcMac === realMac && ip && ip.saddr === v && ip.daddr === d && t && t.sport === port && t.dport === sport ? t : undefined;
    },
    true,
  );
  const l3 = { dstMac: realMac, srcMac: dir.mac, saddr: dir.ip, daddr: vip, id: randomInt(0, 65536) };
  const syn = buildTcp({ ...l3, sport, dport: port, seq: isn, flags: TCP_SYN, mss: o.mss });
  ps.send(syn);
  // One retransmission, like a client's, in case the first was lost while the real resolved the director's MAC.
  const resend = setTimeout(() => ps.send(syn), Math.floor(o.timeoutMs / 2));
  const [t] = await answer;
  clearTimeout(resend);
  if (!t) return { kind: 'timeout' };
  if ((t.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
    ps.send(buildTcp({ ...l3, sport, dport: port, seq: (isn + 1) >>> 0, flags: TCP_RST }));
    return { kind: 'synack', ...(t.mss !== undefined ? { mss: t.mss } : {}) };
  }
  if (t.flags & TCP_RST) return { kind: 'rst' };
  return { kind: 'timeout' };
}

/** A datagram to vip:port at the real's MAC: any reply passes, a port unreachable fails, silence proves nothing. */
export async function udpProbe(ps: ProbeSocket, dir: Endpoint, realMac: string, vip: string, port: number, o: { timeoutMs: number }): Promise<UdpProbeResult> {
  const sport = randomInt(32768, 61000);
  const [v, d] = [canonicalIp(vip), canonicalIp(dir.ip)];
  const unreach = isIPv6(v) ? ICMP6_UNREACH : ICMP_UNREACH;
  const answer = ps.collect(
    o.timeoutMs,
    (f): UdpProbeResult | undefined => {
      const ip = ipOf(f, v);
      if (f.srcMac !== realMac || !ip || ip.daddr !== d) return undefined;
      const u = ip.udp;
      if (u && u.sport === port && u.dport === sport) return { kind: 'reply' };
      const q = ip.icmp?.type === unreach ? ip.icmp.quoted : undefined;
      if (q && q.proto === IPPROTO_UDP && q.daddr === v && q.dport === port && q.sport === sport) return { kind: 'unreachable' };
      return undefined;
    },
    true,
  );
  ps.send(
    buildUdp({
      dstMac: realMac,
      srcMac: dir.mac,
      saddr: dir.ip,
      daddr: vip,
      sport,
      dport: port,
      id: randomInt(0, 65536),
      payload: Buffer.from('xlvs doctor probe\n'),
    }),
  );
  const [r] = await answer;
  return r ?? { kind: 'silent' };
}

/**
 * An echo request for vip from `src`, sent to the real's MAC. Reports whether the reply reached the director and the
 * sender addresses of every ARP request the real broadcast meanwhile (and whether one asked for `src`). An IPv6 VIP
 * gets an ICMPv6 echo; no ARP is gathered for it (none of IPv6's neighbour discovery is ARP).
 */
export async function echoProbe(
  ps: ProbeSocket,
  dirMac: string,
  realMac: string,
  src: string,
  vip: string,
  o: { timeoutMs: number; waitFull?: boolean },
): Promise<{ replied: boolean; arpSenders: string[]; askedForSrc: boolean }> {
  const ident = randomInt(1, 65536);
  const [v, s] = [canonicalIp(vip), canonicalIp(src)];
  const v6 = isIPv6(v);
  const echoReply = v6 ? ICMP6_ECHO_REPLY : ICMP_ECHO_REPLY;
  const replies = ps.collect(
    o.timeoutMs,
    (f) => {
      const ip = ipOf(f, v);
      const ic = ip?.icmp;
      return f.srcMac === realMac && f.dstMac === dirMac && ip && ip.saddr === v && ip.daddr === s && ic?.type === echoReply && ic.ident === ident
        ? true
        : undefined;
    },
    !o.waitFull,
  );
  const arps = v6
    ? Promise.resolve([])
    : ps.collect(o.timeoutMs, (f) => (f.srcMac === realMac && f.arp?.op === ARP_REQUEST && f.arp.sha === realMac ? f.arp : undefined));
  ps.send(
    buildIcmpEcho({ dstMac: realMac, srcMac: dirMac, saddr: src, daddr: vip, ident, seq: 1, id: randomInt(0, 65536), payload: Buffer.from('xlvs doctor') }),
  );
  const [r, a] = await Promise.all([replies, arps]);
  return { replied: r.length > 0, arpSenders: a.map((x) => x.spa), askedForSrc: a.some((x) => x.tpa === src) };
}

/** Broadcasts "who has vip" from the director and collects every reply for ms: the MACs that claim the VIP. */
export async function arpVipProbe(ps: ProbeSocket, dir: Endpoint, vip: string, ms: number): Promise<{ mac: string; spa: string }[]> {
  const replies = ps.collect(ms, (f) => (f.arp?.op === ARP_REPLY && f.arp.spa === vip ? { mac: f.arp.sha, spa: f.arp.spa } : undefined));
  ps.send(arpWhoHas(dir.mac, dir.ip, vip));
  return replies;
}

/**
 * A candidate nobody answers ARP for within ms, or null. A real keeps trying to resolve a spare address for 3 s
 * (INCOMPLETE) and sends no new ARP for it meanwhile, so back-to-back runs must not reuse one: the pick rotates
 * through the silent candidates every half second, which with 8 of them never repeats within 4 s.
 */
export async function pickSpare(ps: ProbeSocket, dir: Endpoint, candidates: string[], ms: number): Promise<string | null> {
  const answered = await Promise.all(
    candidates.map(async (c) => {
      const r = ps.collect(ms, (f) => (f.arp?.op === ARP_REPLY && f.arp.spa === c ? true : undefined), true);
      ps.send(arpWhoHas(dir.mac, dir.ip, c));
      return (await r).length > 0;
    }),
  );
  const silent = candidates.filter((_, i) => !answered[i]);
  return silent.length ? silent[Math.floor(Date.now() / 500) % silent.length]! : null;
}
