// SPDX-License-Identifier: Apache-2.0
// drprobe.ts: the director's probes of its real servers through a raw packet socket (DR path, ARP, reply route) and the doctor that runs them all.

import { randomInt } from 'node:crypto';
import * as os from 'node:os';
import type { Config } from '../core/config';
import {
  type DoctorCheck,
  type DoctorReport,
  doctorAnnounce,
  doctorArpVip,
  doctorDrPath,
  doctorHoldsVip,
  doctorMac,
  doctorMtu,
  doctorOnLink,
  doctorReplyRoute,
  doctorVlanDevice,
  doctorVlanProbesSkipped,
  spareCandidates,
  type TcpProbeResult,
  type UdpProbeResult,
} from '../core/doctor';
import { UsageError } from '../core/errors';
import { doctorNdpVip } from '../core/ndp';
import { needsSolicit, usableMac } from '../core/neighbours';
import { isIPv6 } from '../core/net/addr';
import { inPrefix, maskAddress } from '../core/net/prefix';
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpWhoHas,
  buildIcmpEcho,
  buildTcp,
  buildUdp,
  ICMP_ECHO_REPLY,
  ICMP_UNREACH,
  IPPROTO_UDP,
  type ParsedFrame,
  parseFrame,
  probeFilter,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from '../core/packets';
import type { MtuProbe } from '../core/realserver-probes';
import { realDevices, vlanDevice } from '../core/vlan';
import { ownAddress6 } from './arpguard';
import { heldAddresses, interfaceAddresses, interfaceExists, interfaceInfo, ipJson, requireRoot, routeTo } from './host';
import { native, type PacketSocket } from './native';
import { ndpVipProbe } from './ndpprobe';
import { dumpNeighbours, Solicitor } from './neighbours';
import { probeMtu } from './realserver';

interface Waiter {
  pick(f: ParsedFrame): boolean;
  done(err?: Error): void;
}

/**
 * One packet socket shared by every probe of a run: a single receive loop hands each frame to every waiting probe,
 * so probes of many reals run at once and none steals another's answer.
 */
export class ProbeSocket {
  private readonly sock: PacketSocket;
  private readonly waiters = new Set<Waiter>();
  private readonly loop: Promise<void>;
  private closed = false;
  private failure: Error | undefined;

  /** Receives ARP and IPv4 addressed to one of `addresses` on the interface. */
  constructor(ifindex: number, addresses: string[]) {
    this.sock = new (native().PacketSocket)(ifindex, { filter: probeFilter(addresses, os.endianness()) });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let b: Buffer | null;
      try {
        b = await this.sock.recv(250);
      } catch (e) {
        if (this.closed) return;
        this.failure = e as Error;
        for (const w of [...this.waiters]) w.done(this.failure);
        return;
      }
      if (!b) continue;
      const f = parseFrame(b);
      if (!f) continue;
      for (const w of [...this.waiters]) if (w.pick(f)) w.done();
    }
  }

  send(frame: Buffer): void {
    this.sock.send(frame);
  }

  /**
   * Frames for which pick returns a value, gathered for ms; with `first`, resolves at the first one. Register before
   * sending the probe, so a quick answer cannot slip past.
   */
  collect<T>(ms: number, pick: (f: ParsedFrame) => T | undefined, first = false): Promise<T[]> {
    if (this.failure) return Promise.reject(this.failure);
    const got: T[] = [];
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        pick: (f) => {
          const v = pick(f);
          if (v === undefined) return false;
          got.push(v);
          return first;
        },
        done: (err) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          if (err) reject(err);
          else resolve(got);
        },
      };
      // As in checkers.ts: a frame that arrived before the deadline but was not read yet (the receive runs on the
      // thread pool, the pick on this loop) is still an answer; drain() reads whatever the socket holds first.
      const timer = setTimeout(() => void this.drain().then(() => w.done()), ms);
      this.waiters.add(w);
    });
  }

  private draining: Promise<void> | undefined;

  /** Hands every frame already queued on the socket to the waiters (shared by the probes that time out together). */
  private drain(): Promise<void> {
    this.draining ??= (async () => {
      try {
        for (let i = 0; i < 64 && !this.closed; i++) {
          const b = await this.sock.recv(0);
          if (!b) break;
          const f = parseFrame(b);
          if (f) for (const w of [...this.waiters]) if (w.pick(f)) w.done();
        }
      } catch {
        // The receive loop reports socket failures.
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sock.close();
    await this.loop;
    for (const w of [...this.waiters]) w.done();
  }
}

export interface Endpoint {
  mac: string;
  ip: string;
}

/**
 * A SYN to vip:port sent to the real's MAC, as the director forwards a client's. SYN-ACK: the real holds the VIP and
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
  const answer = ps.collect(
    o.timeoutMs,
    (f) => {
      const ip = f.ipv4;
      const t = ip?.tcp;
      return f.srcMac === realMac && ip && ip.saddr === vip && ip.daddr === dir.ip && t && t.sport === port && t.dport === sport ? t : undefined;
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
  const answer = ps.collect(
    o.timeoutMs,
    (f): UdpProbeResult | undefined => {
      if (f.srcMac !== realMac || !f.ipv4 || f.ipv4.daddr !== dir.ip) return undefined;
      const u = f.ipv4.udp;
      if (u && u.sport === port && u.dport === sport) return { kind: 'reply' };
      const q = f.ipv4.icmp?.type === ICMP_UNREACH ? f.ipv4.icmp.quoted : undefined;
      if (q && q.proto === IPPROTO_UDP && q.daddr === vip && q.dport === port && q.sport === sport) return { kind: 'unreachable' };
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
 * sender addresses of every ARP request the real broadcast meanwhile (and whether one asked for `src`).
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
  const replies = ps.collect(
    o.timeoutMs,
    (f) => {
      const ip = f.ipv4;
      const ic = ip?.icmp;
      return f.srcMac === realMac && f.dstMac === dirMac && ip && ip.saddr === vip && ip.daddr === src && ic?.type === ICMP_ECHO_REPLY && ic.ident === ident
        ? true
        : undefined;
    },
    !o.waitFull,
  );
  const arps = ps.collect(o.timeoutMs, (f) => (f.srcMac === realMac && f.arp?.op === ARP_REQUEST && f.arp.sha === realMac ? f.arp : undefined));
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
async function pickSpare(ps: ProbeSocket, dir: Endpoint, candidates: string[], ms: number): Promise<string | null> {
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

export interface DoctorOptions {
  /** A spare address on the segment the arp-announce probe may pretend to be; default: picked by ARP. */
  probeAddress?: string;
  /** An address off the segment the reply-route probe pretends to be. */
  offlinkAddress?: string;
  timeoutMs?: number;
}

/** TEST-NET-1 (RFC 5737): never a real client, and dropped at the edge of any network that leaks it. */
export const DEFAULT_OFFLINK = '192.0.2.1';

function networkOf(local: string, prefixlen: number): string {
  return `${maskAddress(local, prefixlen)}/${prefixlen}`;
}

async function resolveMacs(ifname: string, reals: string[], ms: number): Promise<Map<string, string | null>> {
  const sol = new Solicitor();
  const deadline = Date.now() + ms;
  const out = new Map<string, string | null>();
  let first = true;
  try {
    for (;;) {
      const dump = dumpNeighbours(ifname);
      for (const r of reals) {
        const e = dump.get(r);
        out.set(r, usableMac(e));
        // The first round solicits even what looks usable, so a STALE entry holding an old MAC is re-confirmed.
        if (first || needsSolicit(e)) sol.solicit(r);
      }
      first = false;
      if (reals.every((r) => out.get(r)) || Date.now() >= deadline) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    sol.close();
  }
  return out;
}

/**
 * Checks everything the director needs from each real of the config: MAC, on-link, MTU, the VIP held and answered
 * for at the real's MAC, ARP kept quiet and replies routed past the director. Needs only the config: it works the
 * same whether `xlvs up` is attached (frames we send leave by TX, which XDP does not see; answers come to the
 * director's own address, which is no service, so XDP passes them).
 */
export async function runDoctor(cfg: Config, o: DoctorOptions = {}): Promise<DoctorReport> {
  const ifname = cfg.interface;
  if (!interfaceExists(ifname)) throw new UsageError('invalid config', [`interface: ${JSON.stringify(ifname)} does not exist on this host`]);
  requireRoot('xlvs doctor');
  const timeoutMs = o.timeoutMs ?? 1000;
  const offlink = o.offlinkAddress ?? DEFAULT_OFFLINK;
  const info = interfaceInfo(ifname);
  const vips = [...new Set(cfg.services.map((s) => s.vip))];
  const [link] = ipJson<any[]>(['-4', 'addr', 'show', 'dev', ifname]);
  const own = ((link?.addr_info ?? []) as any[]).map((a) => ({ local: String(a.local), prefixlen: Number(a.prefixlen) }));
  // The VIPs xlvs up adds are /32s on the same NIC; they are not where the director talks to its reals from.
  const nicAddrs = own.filter((a) => !(vips.includes(a.local) && a.prefixlen === 32));
  const subnets = nicAddrs.map((a) => networkOf(a.local, a.prefixlen));
  // Reals of services on a VLAN (services[].vlan) are on their VLAN device: MAC and route checked there, no frame probes.
  const devices = realDevices(cfg);
  const vlanChecks: DoctorCheck[] = [];
  const seenDev = new Set<string>();
  for (const s of cfg.services) {
    const dev = vlanDevice(ifname, s.vlan);
    if (!s.vlan || seenDev.has(dev)) continue;
    seenDev.add(dev);
    const exists = interfaceExists(dev);
    vlanChecks.push(doctorVlanDevice(ifname, s.vlan, dev, exists, exists ? interfaceAddresses(dev) : []));
  }
  for (const [real, dev] of devices) {
    if (dev === ifname) continue;
    const exists = seenDev.has(dev) && interfaceExists(dev);
    const mac = exists ? ((await resolveMacs(dev, [real], 3000)).get(real) ?? null) : null;
    vlanChecks.push(doctorMac(real, mac, dev));
    if (exists) {
      const [l] = ipJson<any[]>(['-4', 'addr', 'show', 'dev', dev]);
      const sn = ((l?.addr_info ?? []) as any[]).map((a) => networkOf(String(a.local), Number(a.prefixlen)));
      vlanChecks.push(doctorOnLink(real, dev, routeTo(real), sn));
    }
    vlanChecks.push(doctorVlanProbesSkipped(real, dev));
  }
  const reals = [...new Set(cfg.services.flatMap((s) => s.reals.map((r) => r.address)))].filter((r) => (devices.get(r) ?? ifname) === ifname);
  const dirIpFor = (real: string): string | undefined => nicAddrs.find((a) => inPrefix(real, networkOf(a.local, a.prefixlen)))?.local ?? nicAddrs[0]?.local;
  const checks: DoctorCheck[] = [];

  const macs = await resolveMacs(ifname, reals, 3000);
  const realsByMac = new Map<string, string>();
  for (const [r, m] of macs) if (m) realsByMac.set(m, r);

  const dirIps = [...new Set(nicAddrs.map((a) => a.local))];
  const ps = dirIps.length ? new ProbeSocket(info.ifindex, [...dirIps, offlink]) : null;
  try {
    const dirMac = info.mac.toLowerCase();
    const mainDir: Endpoint | null = nicAddrs[0] ? { mac: dirMac, ip: nicAddrs[0].local } : null;

    let probeAddress: string | null = o.probeAddress ?? null;
    if (!probeAddress && ps && mainDir && subnets[0]) {
      const taken = new Set<string>([...own.map((a) => a.local), ...reals, ...vips]);
      for (const r of ipJson<any[]>(['-4', 'route', 'show', 'default'])) if (r.gateway) taken.add(String(r.gateway));
      for (const [addr, e] of dumpNeighbours(ifname)) if (e.mac) taken.add(addr);
      probeAddress = await pickSpare(ps, mainDir, spareCandidates(subnets[0], taken, 8), 300);
    }

    // Runs alongside the per-real probes: an answer for the VIP is a fault whatever prompted it. IPv4 VIPs are asked
    // by ARP, IPv6 VIPs by a neighbour solicitation from the director's own IPv6 address (null: none to send from).
    const vips4 = vips.filter((v) => !isIPv6(v));
    const vips6 = vips.filter((v) => isIPv6(v));
    const arpP =
      ps && mainDir
        ? Promise.all(vips4.map(async (vip) => ({ vip, replies: await arpVipProbe(ps, mainDir, vip, timeoutMs) })))
        : Promise.resolve(vips4.map((vip) => ({ vip, replies: [] as { mac: string; spa: string }[] })));
    const src6 = vips6.length ? ownAddress6(ifname, new Set(vips6)) : null;
    const ndpP = Promise.all(vips6.map(async (vip) => ({ vip, answers: src6 ? await ndpVipProbe(info.ifindex, dirMac, src6, vip, timeoutMs) : null })));
    const perReal = await Promise.all(
      reals.map(async (real) => {
        const mac = macs.get(real) ?? null;
        const dirIp = dirIpFor(real);
        const route = routeTo(real);
        const mtuP: Promise<MtuProbe | null> = mac ? probeMtu(real, info.mtu) : Promise.resolve(null);
        const svcs = cfg.services.filter((s) => s.reals.some((r) => r.address === real));
        const myVips = [...new Set(svcs.map((s) => s.vip))];
        const canProbe = ps !== null && mac !== null && dirIp !== undefined;
        const dir: Endpoint = { mac: dirMac, ip: dirIp ?? '0.0.0.0' };
        const drP = Promise.all(
          svcs.map(async (s) => {
            if (!canProbe) return { s, r: null };
            const r =
              s.protocol === 'tcp'
                ? await tcpProbe(ps!, dir, mac!, s.vip, s.port, { timeoutMs, mss: info.mtu - 40 })
                : await udpProbe(ps!, dir, mac!, s.vip, s.port, { timeoutMs });
            return { s, r };
          }),
        );
        const vipP = Promise.all(
          myVips.map(async (vip) => {
            if (!canProbe) return { vip, echo: null, announce: null, route: null };
            const [echo, announce, back] = await Promise.all([
              echoProbe(ps!, dirMac, mac!, dir.ip, vip, { timeoutMs }),
              probeAddress ? echoProbe(ps!, dirMac, mac!, probeAddress, vip, { timeoutMs }) : Promise.resolve(null),
              // Waits the whole time: a reply routed through the director arrives after one through the router would.
              echoProbe(ps!, dirMac, mac!, offlink, vip, { timeoutMs, waitFull: true }),
            ]);
            return { vip, echo, announce, route: back };
          }),
        );
        const [mtu, dr, vipR] = await Promise.all([mtuP, drP, vipP]);
        return { real, mac, route, mtu, dr, vipR };
      }),
    );

    const holding = new Set(own.map((a) => a.local));
    const arpR = await arpP;

    for (const p of perReal) {
      checks.push(doctorMac(p.real, p.mac, ifname));
      checks.push(doctorOnLink(p.real, ifname, p.route, subnets));
      const mss = p.dr.map((d) => (d.r && d.r.kind === 'synack' ? d.r.mss : undefined)).find((m) => m !== undefined);
      if (p.mac) checks.push(doctorMtu(p.real, ifname, info.mtu, p.mtu, mss));
      for (const v of p.vipR) {
        const tcpSeen = p.dr.some(
          (d) => d.s.vip === v.vip && d.r !== null && (d.r.kind === 'synack' || d.r.kind === 'rst' || d.r.kind === 'reply' || d.r.kind === 'unreachable'),
        );
        checks.push(doctorHoldsVip(p.real, v.vip, v.echo ? { echo: v.echo.replied, tcp: tcpSeen } : null));
        const senders = v.echo && v.route ? [...v.echo.arpSenders, ...(v.announce?.arpSenders ?? []), ...v.route.arpSenders] : null;
        checks.push(doctorAnnounce(p.real, v.vip, probeAddress, v.announce?.askedForSrc ?? false, senders, (v.echo?.replied ?? false) || tcpSeen));
        checks.push(doctorReplyRoute(p.real, v.vip, offlink, v.route ? v.echo!.replied || tcpSeen : null, v.route?.replied ?? false));
      }
      for (const d of p.dr) checks.push(doctorDrPath(d.s, p.real, d.r));
    }
    for (const a of arpR) checks.push(doctorArpVip(a.vip, dirMac, a.replies, realsByMac, holding.has(a.vip)));
    const held6 = vips6.length ? new Set(heldAddresses(ifname)) : new Set<string>();
    for (const n of await ndpP) checks.push(doctorNdpVip(n.vip, dirMac, n.answers, realsByMac, held6.has(n.vip)));
    checks.push(...vlanChecks);

    return {
      interface: ifname,
      directorMac: dirMac,
      directorAddress: nicAddrs[0] ? `${nicAddrs[0].local}/${nicAddrs[0].prefixlen}` : null,
      mtu: info.mtu,
      xdp: info.xdp ?? null,
      probeAddress,
      offlinkAddress: offlink,
      checks,
      ok: !checks.some((c) => c.status === 'fail'),
    };
  } finally {
    await ps?.close();
  }
}
