// SPDX-License-Identifier: Apache-2.0
// keepalived-services.ts: keepalived.conf -> xlvs config: each virtual_server (each member of its group) and its real_servers as a service, everything else listed by line with why it is not converted.

import { Document, isScalar, visit } from 'yaml';
import { type Config, type RealConfig, SCHED_FLAGS, SCHEDULER_NAMES, type ServiceConfig, validateConfig } from './config';
import { UsageError } from './errors';
import { CHECKERS, INHERITED } from './keepalived-checkers';
import { convertChecks, type RealBlock } from './keepalived-checks';
import { type Built, dropDuplicates, expandGroup, readGroups } from './keepalived-groups';
import { type IncludeFs, includeResolver, NO_FILES } from './keepalived-include';
import { describe, type KaNode, parseKeepalived } from './keepalived-parse';
import { convertQuorum, type QuorumNodes, quorumSlot } from './keepalived-quorum';
import {
  at,
  kindOf,
  type Note,
  notDone,
  ownSetting,
  REAL_SERVER_SKIPS,
  skipReason,
  TOP_LEVEL_SKIPS,
  type Unmapped,
  VIRTUAL_SERVER_SKIPS,
} from './keepalived-skips';
import { canonicalIp, isIP, isIPv6 } from './net/addr';
import { isNetmask } from './net/prefix';

/** What an import made of a keepalived.conf, as counts. */
export interface ImportSummary {
  /** Services in the printed config, and how many of them were converted with an approximation. */
  services: number;
  approximated: number;
  /** virtual_servers (or group members) not converted, and statements dropped from the converted ones. */
  droppedServices: number;
  dropped: number;
  approximations: number;
  ignored: number;
}

/** keepalived's scheduler when a virtual_server names none (IPVS_DEF_SCHED, as ipvsadm's). */
const KA_DEFAULT_SCHEDULER = 'wlc';
/** keepalived's persistence timeout when persistence_timeout has no value, or only persistence_granularity is given (libipvs's 6*60). */
const KA_PERSISTENT_TIMEOUT = 360;

/** What convertKeepalived reads besides the text. */
export interface KeepalivedImportOptions {
  /** The director interface; otherwise the first vrrp_instance's `interface`. */
  iface?: string;
  /** The imported file's path: relative include patterns in it are relative to its directory. */
  file?: string;
  /** Where included files are read from; without it every include matches nothing (and is listed as dropped). */
  fs?: IncludeFs;
}

/**
 * keepalived.conf -> xlvs config. Includes are followed (through `opts.fs`), each virtual_server becomes a service,
 * a `virtual_server group NAME` one service per VIP:port of the group. Statements that configure something xlvs
 * does not do, or does differently, are listed, never silently dropped.
 */
export function convertKeepalived(
  text: string,
  opts: KeepalivedImportOptions = {},
): { config: Config; yaml: string; unmapped: Unmapped[]; summary: ImportSummary } {
  const unmapped: Unmapped[] = [];
  const seen = new Set<string>();
  // One entry per statement and reason, however many checks (or group members) inherit the statement.
  const skip: Note = (n, reason, what = describe(n), outcome) => {
    const key = `${n.file ?? ''}\0${n.line}\0${what}\0${reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    unmapped.push({ ...at(n), what, reason, ...kindOf(outcome) });
  };
  const nodes = parseKeepalived(text, { include: includeResolver(opts.fs ?? NO_FILES, skip, opts.file) });
  const groups = readGroups(nodes, skip, opts.file);
  const used = new Set<string>();
  let iface = opts.iface;
  const built: Built[] = [];

  for (const top of nodes) {
    if (top.key === 'vrrp_instance') {
      const ifn = top.children?.find((c) => c.key === 'interface')?.args[0];
      if (!iface && ifn) iface = ifn;
    }
    // Read by readGroups; what no virtual_server uses is listed below.
    if (top.key === 'virtual_server_group') continue;
    if (top.key !== 'virtual_server') {
      // Top-level statements other than virtual servers are keepalived's own (VRRP, global_defs, scripts): nothing of
      // the load balancing is lost with them.
      skip(top, skipReason(TOP_LEVEL_SKIPS, top.key) ?? ownSetting(top.key), undefined, 'ignored');
      continue;
    }
    if (top.args[0] === 'group') {
      built.push(...expandGroup(top, groups, used, skip, (addr, services) => convertTracked(top, addr, skip, services), opts.file));
      continue;
    }
    const one = convertTracked(top, undefined, skip);
    if (one.svc) built.push({ svc: one.svc, approx: one.approx, top });
  }
  for (const [name, g] of groups)
    if (!used.has(name)) skip(g.node, `no virtual_server uses group ${name}: keepalived makes no service of it either`, undefined, 'ignored');
  const kept = dropDuplicates(built, skip, opts.file);
  if (!iface)
    throw new UsageError("--interface: keepalived.conf names no vrrp_instance interface; pass --interface NAME (the NIC on the real servers' segment)");
  // Validated like any config, so what is printed is what `xlvs daemon` accepts.
  const config = validateConfig({ interface: iface, services: kept.map((b) => b.svc) });
  // Lists of plain values (status codes, argv, flags) on one line each, however long.
  const doc = new Document({ interface: config.interface, services: config.services });
  visit(doc, {
    Seq: (_, node) => {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
  });
  const yaml = `# converted from keepalived.conf by "xlvs import keepalived"; what was dropped or approximated is listed on stderr\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
  const count = (f: (u: Unmapped) => boolean) => unmapped.filter(f).length;
  const summary: ImportSummary = {
    services: config.services.length,
    approximated: kept.filter((b) => b.approx).length,
    droppedServices: unmapped.reduce((k, u) => k + (u.service ? (u.services ?? 1) : 0), 0),
    dropped: count((u) => u.kind === 'dropped' && !u.service),
    approximations: count((u) => u.kind === 'approximated'),
    ignored: count((u) => u.kind === 'ignored'),
  };
  // The imported file's statements first, then each included file's (in the order first read), each by line.
  const files = [...new Set(unmapped.map((u) => u.file ?? ''))];
  if (files.includes('')) files.unshift('');
  unmapped.sort((a, b) => files.indexOf(a.file ?? '') - files.indexOf(b.file ?? '') || a.line - b.line);
  return { config, yaml, unmapped, summary };
}

/** One virtual_server converted at an address (a group member's) or its own, noting whether anything was approximated. */
function convertTracked(top: KaNode, addr: { vip: string; port: number } | undefined, skip: Note, services?: number): { svc?: ServiceConfig; approx: boolean } {
  let approx = false;
  const note: Note = (n, reason, what, outcome) => {
    if (typeof outcome === 'object' && 'as' in outcome) approx = true;
    // A whole group dropped is one entry standing for every service the group would have made.
    if (outcome === 'service' && services !== undefined && services > 1) skip(n, `${reason} (the ${services} services of the group)`, what, { services });
    else skip(n, reason, what, outcome);
  };
  const svc = convertVirtualServer(top, addr, note);
  return svc ? { svc, approx } : { approx };
}

/** One virtual_server block (at a group member's address, when given) -> one service, or undefined when xlvs cannot serve it (listed). */
function convertVirtualServer(top: KaNode, addr: { vip: string; port: number } | undefined, skip: Note): ServiceConfig | undefined {
  // virtual_server IP PORT | fwmark N | group NAME (a group's members come as addr)
  if (top.args[0] === 'fwmark') {
    skip(top, 'firewall-mark services are not in xlvs', undefined, 'service');
    return undefined;
  }
  // virtual_server IP [PORT]: no port, or 0, is every port of the VIP (keepalived makes such a service persistent).
  // IP is either family, as keepalived writes it (2001:db8::1, no brackets); kept in canonical text.
  const [vipArg, portStr] = top.args;
  if (!addr && (!vipArg || !isIP(vipArg) || (portStr !== undefined && !(/^\d+$/.test(portStr) && Number(portStr) <= 65535)) || top.args.length > 2)) {
    skip(top, 'expected "virtual_server IP PORT" (an IPv4 or IPv6 address; other forms are not in xlvs)', undefined, 'service');
    return undefined;
  }
  const vip = addr?.vip ?? canonicalIp(vipArg!);
  const v6 = isIPv6(vip);
  const port = addr?.port ?? Number(portStr ?? 0);
  // Entries about the block as a whole name its first line only.
  const head: KaNode = { ...top, endLine: top.line };
  const kids = top.children ?? [];
  const kind = kids.find((c) => c.key === 'lb_kind' || c.key === 'lvs_method');
  if (kind && kind.args[0]?.toUpperCase() !== 'DR') {
    skip(top, `${describe(kind)} (line ${kind.line}): xlvs is a direct-routing (DR) director; NAT and TUN services are not converted`, undefined, 'service');
    return undefined;
  }
  // keepalived forwards by NAT unless told otherwise; converting is still the likely intent, but say so.
  if (!kind)
    skip(head, "no lb_kind/lvs_method (keepalived's default is NAT): check that the real servers hold the VIP and do not answer ARP for it", undefined, {
      as: 'a direct-routing (DR) service',
    });
  const protoNode = kids.find((c) => c.key === 'protocol');
  const proto = (protoNode?.args[0] ?? 'TCP').toUpperCase();
  if (proto !== 'TCP' && proto !== 'UDP') {
    skip(top, `protocol ${proto} (line ${protoNode!.line}) is not in xlvs (TCP and UDP only)`, undefined, 'service');
    return undefined;
  }
  const svc: ServiceConfig = { vip, port, protocol: proto === 'TCP' ? 'tcp' : 'udp', scheduler: KA_DEFAULT_SCHEDULER, maglev_size: 65537, reals: [] };
  // The scheduler first: keepalived reads the flag keywords against it (in file order; here in any order).
  const schedNode = kids.filter((c) => c.key === 'lb_algo' || c.key === 'lvs_sched').pop();
  const sched = schedNode?.args[0] ?? '';
  const schedOk = (SCHEDULER_NAMES as readonly string[]).includes(sched);
  if (schedOk) svc.scheduler = sched as typeof svc.scheduler;
  const flags = new Set<string>();
  let persistTimeout: number | undefined;
  let persistMask: string | number | undefined;
  const vsLevel = new Map<string, KaNode>();
  const realBlocks: RealBlock[] = [];
  const q: QuorumNodes = {};
  for (const c of kids) {
    const skipped = skipReason(VIRTUAL_SERVER_SKIPS, c.key);
    const slot = quorumSlot(c.key);
    if (skipped !== undefined) {
      skip(c, skipped);
      continue;
    }
    if (slot) {
      q[slot] = c;
      continue;
    }
    switch (c.key) {
      case 'protocol':
      case 'lb_kind':
      case 'lvs_method':
        // Read above.
        break;
      case 'lb_algo':
      case 'lvs_sched': {
        const s = c.args[0] ?? '';
        if (c !== schedNode) skip(c, `overridden by ${describe(schedNode!)} (line ${schedNode!.line})`, undefined, 'ignored');
        else if (!schedOk)
          skip(
            c,
            ['lblc', 'lblcr', 'twos'].includes(s)
              ? `scheduler ${s} is not in xlvs; the service uses ${KA_DEFAULT_SCHEDULER} (keepalived's default)`
              : `unknown scheduler ${s} (keepalived ignores it too); the service uses ${KA_DEFAULT_SCHEDULER}`,
            undefined,
            ['lblc', 'lblcr', 'twos'].includes(s) ? { as: `scheduler ${KA_DEFAULT_SCHEDULER}` } : 'ignored',
          );
        break;
      }
      case 'persistence_timeout': {
        // keepalived: no value is its default; xlvs (like ipvsadm) takes 1 s .. 31 days.
        const t = c.args[0] === undefined ? KA_PERSISTENT_TIMEOUT : /^\d+$/.test(c.args[0]) ? Number(c.args[0]) : NaN;
        if (t >= 1 && t <= 2678400) persistTimeout = t;
        else skip(c, `persistence_timeout ${c.args[0]} is outside 1..2678400 seconds (keepalived refuses it too)`, undefined, 'ignored');
        break;
      }
      case 'persistence_granularity': {
        const m = c.args[0] ?? '';
        // keepalived reads an IPv6 service's granularity as a prefix length 1..128, an IPv4 one's as a netmask.
        if (v6) {
          if (/^\d{1,3}$/.test(m) && Number(m) >= 1 && Number(m) <= 128) persistMask = Number(m);
          else
            skip(
              c,
              `persistence_granularity ${m} is not a prefix length 1..128, as an IPv6 service takes it (keepalived refuses it too)`,
              undefined,
              'ignored',
            );
        } else if (isNetmask(m)) persistMask = m;
        else
          skip(
            c,
            `persistence_granularity ${m} is not an IPv4 netmask of contiguous ones (e.g. 255.255.255.0; keepalived refuses it too)`,
            undefined,
            'ignored',
          );
        break;
      }
      case 'flag-1':
      case 'flag-2':
      case 'flag-3':
      case 'sh-port':
      case 'sh-fallback':
      case 'mh-port':
      case 'mh-fallback': {
        const owner = svc.scheduler;
        if ((c.key === 'flag-1' || c.key === 'flag-2') && (owner === 'sh' || owner === 'mh')) flags.add(`${owner}-${c.key === 'flag-1' ? 'fallback' : 'port'}`);
        else if (c.key.startsWith('flag-'))
          skip(c, `${c.key} means nothing to scheduler ${owner} (flag-1 and flag-2 are the fallback and port flags of sh and mh)`, undefined, 'ignored');
        else if (c.key.startsWith(`${owner}-`)) flags.add(c.key);
        else skip(c, `${c.key} is a flag of ${c.key.slice(0, 2)}, not of the service's scheduler ${owner} (keepalived ignores it too)`, undefined, 'ignored');
        break;
      }
      case 'real_server': {
        // A group's members share one entry per real and reason, so the reason names the group, not the member.
        const rb = convertRealServer(c, port, skip, vip, addr ? `the members of group ${top.args[1]}` : `the virtual_server ${vip}`);
        if (rb) {
          svc.reals.push(rb.real);
          realBlocks.push(rb);
        }
        break;
      }
      default:
        if (INHERITED.has(c.key)) vsLevel.set(c.key, c);
        else if (CHECKERS.has(c.key)) skip(c, 'a checker belongs in a real_server block (keepalived refuses it here)', c.key, 'ignored');
        else skip(c, notDone(c.key));
    }
  }
  convertChecks(svc, vsLevel, realBlocks, skip);
  convertQuorum(svc, q, skip);
  if (persistTimeout === undefined && persistMask !== undefined) persistTimeout = KA_PERSISTENT_TIMEOUT;
  if (persistTimeout === undefined && port === 0) {
    // keepalived makes a plain virtual_server persistent here, but not a group's (IPVS then serves every port without
    // persistence); xlvs needs persistence for every-port services either way.
    if (addr)
      skip(
        head,
        'a group member with port 0 (every port) and no persistence_timeout: keepalived leaves it non-persistent, ' +
          'xlvs needs persistence for every-port services',
        undefined,
        { as: `persistence_timeout ${KA_PERSISTENT_TIMEOUT}` },
      );
    else
      skip(
        head,
        `port 0 (every port) without persistence_timeout: keepalived makes it persistent (${KA_PERSISTENT_TIMEOUT} s), and so does the import`,
        undefined,
        'note',
      );
    persistTimeout = KA_PERSISTENT_TIMEOUT;
  }
  if (persistTimeout !== undefined)
    svc.persistence = { timeout: persistTimeout, netmask: persistMask ?? (v6 ? 128 : '255.255.255.255') } as ServiceConfig['persistence'];
  // Listed only when set, except for mh: xlvs's default there is mh-port, keepalived's (IPVS's) is no flag.
  if (flags.size || svc.scheduler === 'mh') svc.sched_flags = SCHED_FLAGS.filter((f) => flags.has(f));
  return svc;
}

/**
 * One real_server block -> the real (address, weight, thresholds) with its checkers and inherited check settings
 * for convertChecks, or undefined when it cannot be a DR real of the service (listed).
 */
function convertRealServer(c: KaNode, port: number, skip: Note, vip: string, service: string): RealBlock | undefined {
  const [ripText, rportStr] = c.args;
  if (!ripText || !isIP(ripText)) {
    skip(c, 'expected "real_server IP PORT" (an IPv4 or IPv6 address)');
    return undefined;
  }
  const rip = canonicalIp(ripText);
  // IPVS-DR keeps the family: a real of the other family cannot take the service's packets.
  if (isIPv6(rip) !== isIPv6(vip)) {
    skip(c, `real ${rip} is IPv${isIPv6(rip) ? 6 : 4} and ${service} IPv${isIPv6(vip) ? 6 : 4}: direct routing keeps the address family`);
    return undefined;
  }
  // keepalived resets a DR real's port to the service's (IPVS-DR cannot rewrite it), after its checkers took the real's
  // address and port as written: they go on probing the port as written.
  let checkPort: number | undefined;
  if (rportStr !== undefined && !/^\d+$/.test(rportStr)) {
    skip(c, 'expected "real_server IP PORT" (an IPv4 or IPv6 address)');
    return undefined;
  }
  if (rportStr !== undefined && Number(rportStr) !== 0 && Number(rportStr) !== port) {
    checkPort = Number(rportStr);
    if (checkPort > 65535) {
      skip(c, `real port ${rportStr} is not a port`);
      return undefined;
    }
    skip(
      c,
      `port ${rportStr} of real ${rip} ignored: in DR the real receives the service port${port ? `, ${port}` : 's (every port)'} ` +
        `(keepalived resets it); its checks still probe port ${rportStr}, as keepalived's did`,
      describe(c),
      'note',
    );
  }
  let weight = 1;
  let upper = 0;
  let lower = 0;
  let lowerNode: KaNode | undefined;
  let skipReal: string | undefined;
  const tuning = new Map<string, KaNode>();
  const checkers: KaNode[] = [];
  const threshold = (r: KaNode): number | undefined => {
    const n = /^\d+$/.test(r.args[0] ?? '') ? Number(r.args[0]) : NaN;
    if (n <= 2147483647) return n;
    skip(r, `${r.key} ${r.args[0]} is outside 0..2147483647 (keepalived refuses it too)`, undefined, 'ignored');
    return undefined;
  };
  for (const r of c.children ?? []) {
    const skipped = skipReason(REAL_SERVER_SKIPS, r.key);
    if (r.key === 'lb_kind' || r.key === 'lvs_method') {
      if (r.args[0]?.toUpperCase() !== 'DR') skipReal = `${describe(r)} (line ${r.line}): only direct routing (DR) reals are converted`;
    } else if (r.key === 'weight') {
      const w = Number(r.args[0]);
      if (Number.isInteger(w) && w >= 0 && w <= 65535) weight = w;
      else skip(r, `weight ${r.args[0]} is outside 0..65535; the real keeps weight 1`, undefined, { as: 'weight 1' });
    } else if (r.key === 'uthreshold') upper = threshold(r) ?? upper;
    else if (r.key === 'lthreshold') {
      const n = threshold(r);
      if (n !== undefined) [lower, lowerNode] = [n, r];
    } else if (CHECKERS.has(r.key)) checkers.push(r);
    else if (INHERITED.has(r.key)) tuning.set(r.key, r);
    else if (skipped !== undefined) skip(r, skipped);
    else skip(r, notDone(r.key));
  }
  // IPVS refuses a lower threshold above the upper one (ERANGE), so keepalived could not add such a real either.
  if (lowerNode && lower > upper) {
    skip(
      lowerNode,
      upper
        ? `lthreshold ${lower} is above uthreshold ${upper} (IPVS refuses that); the real keeps only its uthreshold`
        : `lthreshold ${lower} needs a uthreshold at least as high (IPVS refuses it alone)`,
      undefined,
      'ignored',
    );
    lower = 0;
  }
  if (skipReal) {
    skip(c, skipReal);
    return undefined;
  }
  const real: RealConfig = { address: rip, weight, ...(upper ? { upper_threshold: upper } : {}), ...(lower ? { lower_threshold: lower } : {}) };
  return { real, node: c, tuning, checkers, ...(checkPort ? { checkPort } : {}) };
}
