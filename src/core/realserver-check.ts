// SPDX-License-Identifier: Apache-2.0
// realserver-check.ts: `realserver check`: every requirement of an LVS-DR real server judged on the host as read, with a fix for each failure.

import { type CheckResult, hintsBlock, MARK, table } from './checkreport';
import { formatHostPort, isIPv4, isIPv6 } from './net/addr';
import { dropsRequestsFor, hidesSenderFor, QUIET_ARP_IGNORE, type RsHost, sysctlDotted, sysctlKey, vipPrefixLen } from './realserver-host';
import { evaluateDefaultRoute6, evaluateNdpVip } from './realserver-ndp';
import { type Listener, listenerServes, type MtuProbe } from './realserver-probes';

export interface CheckInput {
  vips: string[];
  dev: string;
  director?: string;
  port?: number;
  protocol: 'tcp' | 'udp';
  /** The director's MTU, to compare the NIC's with. */
  mtu?: number;
}

function effective(host: RsHost, dev: string, name: string): { value: number | undefined; text: string } {
  const all = host.sysctl[sysctlKey('all', name)];
  const own = host.sysctl[sysctlKey(dev, name)];
  // The kernel takes the larger of conf/all and conf/<dev> for these three.
  const value = all === undefined || own === undefined ? undefined : Math.max(all, own);
  return { value, text: `${sysctlDotted(sysctlKey('all', name))}=${all ?? '?'}, ${sysctlDotted(sysctlKey(dev, name))}=${own ?? '?'}` };
}

function setupHint(vip: string, dev: string): string {
  return `xlvs realserver setup --vip ${vip} --dev ${dev}`;
}

/** Every requirement of an LVS-DR real server, one result each, for each VIP. */
export function evaluateCheck(host: RsHost, input: CheckInput, probes: { listeners?: Listener[]; mtu?: MtuProbe } = {}): CheckResult[] {
  const out: CheckResult[] = [];
  const dev = input.dev;
  for (const vip of input.vips) {
    const v6 = isIPv6(vip);
    const answers = v6 ? 'neighbour solicitations' : 'ARP';
    const full = vipPrefixLen(vip);
    const held = host.addrs.filter((a) => a.local === vip);
    const lo = held.find((a) => a.dev === 'lo');
    const elsewhere = held.filter((a) => a.dev !== 'lo');
    if (elsewhere.length) {
      out.push({
        check: 'vip-on-lo',
        vip,
        status: 'fail',
        detail: `${vip} is on ${elsewhere.map((a) => `${a.dev} (/${a.prefixlen})`).join(', ')}: this host answers ${answers} for it there and takes the director's place`,
        hint: `ip addr del ${vip}/${elsewhere[0]!.prefixlen} dev ${elsewhere[0]!.dev}; then ${setupHint(vip, dev)}`,
      });
    } else if (!lo) {
      out.push({
        check: 'vip-on-lo',
        vip,
        status: 'fail',
        detail: `${vip} is not on lo: frames the director sends for it are dropped`,
        hint: `${setupHint(vip, dev)}   (or: ip addr add ${vip}/${full} dev lo${v6 ? ' nodad' : ''})`,
      });
    } else if (lo.prefixlen !== full) {
      out.push({
        check: 'vip-on-lo',
        vip,
        status: 'fail',
        detail: `${vip} is on lo as /${lo.prefixlen}, which makes the whole range local${v6 ? ' (the real can no longer reach its neighbours in it)' : ''}`,
        hint: `ip addr del ${vip}/${lo.prefixlen} dev lo && ip addr add ${vip}/${full} dev lo${v6 ? ' nodad' : ''}`,
      });
    } else {
      out.push({ check: 'vip-on-lo', vip, status: 'pass', detail: `${vip}/${full} on lo` });
    }
    if (v6) {
      // IPv6 has no ARP: the kernel is silent in neighbour discovery for lo's addresses unless told otherwise.
      out.push(...evaluateNdpVip(host, vip, dev));
      continue;
    }

    const ign = effective(host, dev, 'arp_ignore');
    const rule = dropsRequestsFor(host.arpRules, vip, dev);
    if (ign.value !== undefined && QUIET_ARP_IGNORE.has(ign.value)) {
      out.push({ check: 'arp-ignore', vip, status: 'pass', detail: `does not answer ARP for ${vip} (${ign.text})` });
    } else if (rule) {
      out.push({ check: 'arp-ignore', vip, status: 'pass', detail: `does not answer ARP for ${vip} (nft table arp ${rule.table} drops requests for it)` });
    } else {
      out.push({
        check: 'arp-ignore',
        vip,
        status: 'fail',
        detail: `answers ARP for ${vip} on ${dev} (${ign.text}, no arp rule drops requests for it): the router may send clients here instead of to the director`,
        hint: `${setupHint(vip, dev)}   (or: sysctl -w ${sysctlDotted(sysctlKey('all', 'arp_ignore'))}=1 ${sysctlDotted(sysctlKey(dev, 'arp_ignore'))}=1)`,
      });
    }

    const ann = effective(host, dev, 'arp_announce');
    const hide = hidesSenderFor(host.arpRules, vip, dev);
    if (ann.value === 2) {
      out.push({ check: 'arp-announce', vip, status: 'pass', detail: `never uses ${vip} as ARP sender (${ann.text})` });
    } else if (hide) {
      out.push({
        check: 'arp-announce',
        vip,
        status: 'pass',
        detail: `never uses ${vip} as ARP sender (nft table arp ${hide.table} ${hide.action === 'drop' ? 'drops' : `rewrites it to ${hide.mangleTo}`})`,
      });
    } else {
      out.push({
        check: 'arp-announce',
        vip,
        status: 'fail',
        detail: `ARP requests for replies from ${vip} carry ${vip} as sender (${ann.text}): neighbours learn ${vip} at this host's MAC`,
        hint: `${setupHint(vip, dev)}   (or: sysctl -w ${sysctlDotted(sysctlKey('all', 'arp_announce'))}=2 ${sysctlDotted(sysctlKey(dev, 'arp_announce'))}=2)`,
      });
    }
  }

  if (input.vips.some(isIPv6)) out.push(evaluateDefaultRoute6(host, dev, input.director));
  if (input.vips.some(isIPv4)) evaluateRoutes4(host, input, out);
  evaluateProbes(host, input, probes, out);
  return out;
}

/** rp_filter and the IPv4 default route: what IPv4 replies to clients off the segment need. */
function evaluateRoutes4(host: RsHost, input: CheckInput, out: CheckResult[]): void {
  const dev = input.dev;
  const rp = effective(host, dev, 'rp_filter');
  const defaults = host.defaultRoutes;
  if (rp.value === undefined) {
    out.push({ check: 'rp-filter', status: 'skip', detail: `cannot read rp_filter (${rp.text})` });
  } else if (rp.value === 0) {
    out.push({ check: 'rp-filter', status: 'pass', detail: `off (${rp.text})` });
  } else if (defaults.length === 0) {
    out.push({
      check: 'rp-filter',
      status: 'fail',
      detail: `${rp.value === 1 ? 'strict' : 'loose'} (${rp.text}) and no default route: packets from clients off the segment are dropped as unroutable`,
      hint: `add a default route via the router on ${dev}, or sysctl -w ${sysctlDotted(sysctlKey('all', 'rp_filter'))}=0 ${sysctlDotted(sysctlKey(dev, 'rp_filter'))}=0`,
    });
  } else if (rp.value === 1 && !defaults.some((d) => d.dev === dev)) {
    out.push({
      check: 'rp-filter',
      status: 'fail',
      detail: `strict (${rp.text}) and the default route leaves by ${defaults[0]!.dev}, not ${dev}: client packets arriving on ${dev} are dropped`,
      hint: `sysctl -w ${sysctlDotted(sysctlKey('all', 'rp_filter'))}=2 ${sysctlDotted(sysctlKey(dev, 'rp_filter'))}=2   (loose), or route clients back out of ${dev}`,
    });
  } else {
    out.push({
      check: 'rp-filter',
      status: 'pass',
      detail: `${rp.value === 1 ? 'strict' : 'loose'} (${rp.text}), and clients route back out of ${defaults[0]!.dev}`,
    });
  }

  if (defaults.length === 0) {
    out.push({
      check: 'default-route',
      status: 'fail',
      detail: 'no default route: replies to clients off the segment have no way out',
      hint: `ip route add default via <router> dev ${dev}`,
    });
  } else {
    const viaDirector = input.director ? defaults.find((d) => d.gateway === input.director) : undefined;
    const desc = defaults.map((d) => `${d.gateway ? `via ${d.gateway} ` : ''}dev ${d.dev}`).join(', ');
    if (viaDirector) {
      out.push({
        check: 'default-route',
        status: 'fail',
        detail: `default route ${desc} goes through the director: DR replies must go straight to the router`,
        hint: `ip route replace default via <router> dev ${dev}`,
      });
    } else {
      out.push({
        check: 'default-route',
        status: 'pass',
        detail: `default route ${desc}${input.director ? `, not the director ${input.director}` : ' (give --director to check it is not the director)'}`,
      });
    }
  }
}

/** The listener and MTU checks, for whatever --port, --director and --mtu asked. */
function evaluateProbes(host: RsHost, input: CheckInput, probes: { listeners?: Listener[]; mtu?: MtuProbe }, out: CheckResult[]): void {
  const dev = input.dev;

  if (input.port !== undefined && probes.listeners) {
    const onPort = probes.listeners.filter((l) => l.port === input.port && l.proto === input.protocol);
    for (const vip of input.vips) {
      const serving = onPort.filter((l) => listenerServes(l, vip));
      const what = `${input.protocol} ${formatHostPort(vip, input.port)}`;
      if (serving.length) {
        out.push({
          check: 'listener',
          vip,
          status: 'pass',
          detail: `${what} served by a socket on ${serving.map((l) => formatHostPort(l.address, l.port)).join(', ')}`,
        });
      } else {
        const others = onPort.map((l) => formatHostPort(l.address, l.port));
        out.push({
          check: 'listener',
          vip,
          status: 'fail',
          detail: others.length
            ? `nothing takes ${what}: the service listens on ${others.join(', ')} only`
            : `nothing listens on ${input.protocol} port ${input.port}`,
          hint: isIPv6(vip)
            ? `bind the service to [${vip}]:${input.port} or to [::]:${input.port}`
            : `bind the service to ${vip}:${input.port} or to 0.0.0.0:${input.port}`,
        });
      }
    }
  }

  const nicMtu = host.devices[dev]?.mtu;
  if (input.mtu !== undefined || probes.mtu) {
    const fails: string[] = [];
    const passes: string[] = [];
    if (input.mtu !== undefined && nicMtu !== undefined) {
      (nicMtu === input.mtu ? passes : fails).push(`${dev} MTU ${nicMtu}${nicMtu === input.mtu ? ' = ' : ' differs from '}the director's ${input.mtu}`);
    }
    const p = probes.mtu;
    let skip: string | undefined;
    if (p) {
      if (p.passed) passes.push(`DF packets of ${p.size} bytes reach ${p.target}`);
      else if (!p.reachable) skip = `${p.target} does not answer ping`;
      else
        fails.push(
          `DF packets of ${p.size} bytes (${dev}'s MTU) do not reach ${p.target}; the largest that did was ${p.largest ?? '?'} bytes, about the director's MTU`,
        );
    }
    if (fails.length) {
      out.push({
        check: 'mtu',
        status: 'fail',
        detail: [...fails, ...passes].join('; '),
        hint: `give ${dev} the segment's MTU: ip link set dev ${dev} mtu ${input.mtu ?? "<the director's MTU>"} (the director, the router and every real must agree)`,
      });
    } else if (passes.length) {
      out.push({ check: 'mtu', status: 'pass', detail: [...passes, ...(skip ? [skip] : [])].join('; ') });
    } else if (skip) {
      out.push({ check: 'mtu', status: 'skip', detail: skip });
    }
  }
}

export function renderCheckText(results: CheckResult[], head: string): string {
  const rows = [['CHECK', 'VIP', 'RESULT', 'DETAIL'], ...results.map((r) => [r.check, r.vip ?? '', MARK[r.status], r.detail])];
  const failed = results.filter((r) => r.status === 'fail').length;
  const verdict = failed ? `${failed} check${failed > 1 ? 's' : ''} failed` : 'ready for LVS-DR';
  return `${head}\n${table(rows)}\n${hintsBlock(results.map((r) => ({ label: `${r.check}${r.vip ? ` ${r.vip}` : ''}`, hint: r.hint, status: r.status })))}${verdict}\n`;
}
