// SPDX-License-Identifier: Apache-2.0
// drprobe.ts: the doctor: runs the director's probes of every real of a config, IPv4 and IPv6 (frameprobes.ts, NDP, MTU, routes), and turns them into checks.

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
} from '../core/doctor';
import { UsageError } from '../core/errors';
import { doctorNdpVip } from '../core/ndp';
import { needsSolicit, usableMac } from '../core/neighbours';
import { canonicalIp, isIPv6 } from '../core/net/addr';
import { inPrefix, maskAddress } from '../core/net/prefix';
import type { MtuProbe } from '../core/realserver-probes';
import { realDevices, vlanDevice } from '../core/vlan';
import { ownAddress6 } from './arpguard';
import { arpVipProbe, echoProbe, pickSpare, tcpProbe, udpProbe } from './frameprobes';
import { heldAddresses, interfaceAddresses, interfaceExists, interfaceInfo, ipJson, requireRoot, routeTo } from './host';
import { ndpVipProbe } from './ndpprobe';
import { dumpNeighbours, Solicitor } from './neighbours';
import { type Endpoint, ProbeSocket } from './probesocket';
import { probeMtu } from './realserver';

export interface DoctorOptions {
  /** A spare address on the segment the arp-announce probe may pretend to be; default: picked by ARP. */
  probeAddress?: string;
  /** An address off the segment the reply-route probe pretends to be. */
  offlinkAddress?: string;
  /** The same for IPv6 reals. */
  offlinkAddress6?: string;
  timeoutMs?: number;
}

/** TEST-NET-1 (RFC 5737): never a real client, and dropped at the edge of any network that leaks it. */
export const DEFAULT_OFFLINK = '192.0.2.1';
/** The discard-only prefix 100::/64 (RFC 6666): no host has it, and a router that knows it drops what is sent there. */
export const DEFAULT_OFFLINK6 = '100::1';

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
  const offlink6 = canonicalIp(o.offlinkAddress6 ?? DEFAULT_OFFLINK6);
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
  const reals6 = reals.filter((r) => isIPv6(r));
  // The director's global IPv6 addresses on the NIC, less the VIP6s xlvs up adds there as /128s: an IPv6 real's
  // probes come from one of them, as the director's own IPv4 address is the source of an IPv4 real's.
  const vipSet = new Set(vips.map((v) => canonicalIp(v)));
  const [l6] = reals6.length ? ipJson<any[]>(['-6', 'addr', 'show', 'dev', ifname, 'scope', 'global']) : [];
  const nicAddrs6 = ((l6?.addr_info ?? []) as any[])
    .filter((a) => a.local && !(vipSet.has(canonicalIp(String(a.local))) && Number(a.prefixlen) === 128))
    .map((a) => ({ local: canonicalIp(String(a.local)), prefixlen: Number(a.prefixlen) }));
  const subnets6 = nicAddrs6.map((a) => networkOf(a.local, a.prefixlen));
  const dirIpFor = (real: string): string | undefined => {
    const mine = isIPv6(real) ? nicAddrs6 : nicAddrs;
    return mine.find((a) => inPrefix(real, networkOf(a.local, a.prefixlen)))?.local ?? mine[0]?.local;
  };
  const checks: DoctorCheck[] = [];

  const macs = await resolveMacs(ifname, reals, 3000);
  const realsByMac = new Map<string, string>();
  for (const [r, m] of macs) if (m) realsByMac.set(m, r);

  const dirIps = [...new Set(nicAddrs.map((a) => a.local))];
  const dirIps6 = [...new Set(nicAddrs6.map((a) => a.local))];
  const listen = [...(dirIps.length ? [...dirIps, offlink] : []), ...(dirIps6.length ? [...dirIps6, offlink6] : [])];
  const ps = listen.length ? new ProbeSocket(info.ifindex, listen) : null;
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
        const v6 = isIPv6(real);
        const mac = macs.get(real) ?? null;
        const dirIp = dirIpFor(real);
        const route = routeTo(real);
        const mtuP: Promise<MtuProbe | null> = mac ? probeMtu(real, info.mtu) : Promise.resolve(null);
        const svcs = cfg.services.filter((s) => s.reals.some((r) => r.address === real));
        const myVips = [...new Set(svcs.map((s) => s.vip))];
        const canProbe = ps !== null && mac !== null && dirIp !== undefined;
        const dir: Endpoint = { mac: dirMac, ip: dirIp ?? (v6 ? '::' : '0.0.0.0') };
        const drP = Promise.all(
          svcs.map(async (s) => {
            if (!canProbe) return { s, r: null };
            const r =
              s.protocol === 'tcp'
                ? await tcpProbe(ps!, dir, mac!, s.vip, s.port, { timeoutMs, mss: info.mtu - (v6 ? 60 : 40) })
                : await udpProbe(ps!, dir, mac!, s.vip, s.port, { timeoutMs });
            return { s, r };
          }),
        );
        const vipP = Promise.all(
          myVips.map(async (vip) => {
            if (!canProbe) return { vip, echo: null, announce: null, route: null };
            const [echo, announce, back] = await Promise.all([
              echoProbe(ps!, dirMac, mac!, dir.ip, vip, { timeoutMs }),
              // IPv6 has no arp-announce to check: Linux never takes an address on lo as the source of a neighbour
              // solicitation on another NIC, so a real holding the VIP6 on lo cannot teach it to its neighbours.
              probeAddress && !v6 ? echoProbe(ps!, dirMac, mac!, probeAddress, vip, { timeoutMs }) : Promise.resolve(null),
              // Waits the whole time: a reply routed through the director arrives after one through the router would.
              echoProbe(ps!, dirMac, mac!, v6 ? offlink6 : offlink, vip, { timeoutMs, waitFull: true }),
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
      const v6 = isIPv6(p.real);
      checks.push(doctorMac(p.real, p.mac, ifname));
      checks.push(doctorOnLink(p.real, ifname, p.route, v6 ? subnets6 : subnets));
      const mss = p.dr.map((d) => (d.r && d.r.kind === 'synack' ? d.r.mss : undefined)).find((m) => m !== undefined);
      if (p.mac) checks.push(doctorMtu(p.real, ifname, info.mtu, p.mtu, mss));
      for (const v of p.vipR) {
        const tcpSeen = p.dr.some(
          (d) => d.s.vip === v.vip && d.r !== null && (d.r.kind === 'synack' || d.r.kind === 'rst' || d.r.kind === 'reply' || d.r.kind === 'unreachable'),
        );
        checks.push(doctorHoldsVip(p.real, v.vip, v.echo ? { echo: v.echo.replied, tcp: tcpSeen } : null));
        if (!v6) {
          const senders = v.echo && v.route ? [...v.echo.arpSenders, ...(v.announce?.arpSenders ?? []), ...v.route.arpSenders] : null;
          checks.push(doctorAnnounce(p.real, v.vip, probeAddress, v.announce?.askedForSrc ?? false, senders, (v.echo?.replied ?? false) || tcpSeen));
        }
        checks.push(doctorReplyRoute(p.real, v.vip, v6 ? offlink6 : offlink, v.route ? v.echo!.replied || tcpSeen : null, v.route?.replied ?? false));
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
      offlinkAddress6: offlink6,
      checks,
      ok: !checks.some((c) => c.status === 'fail'),
    };
  } finally {
    await ps?.close();
  }
}
