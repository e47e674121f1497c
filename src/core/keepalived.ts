// keepalived.ts: converts keepalived.conf virtual_server/real_server blocks into an xlvs config, listing by line number everything it could not map and why.

import { stringify } from 'yaml';
import { Config, SCHEDULER_NAMES, SCHED_FLAGS, isIPv4, isNetmask, validateConfig } from './config';
import { UsageError } from './errors';

export interface KaNode {
  key: string;
  args: string[];
  line: number;
  /** Last line of the block (the closing brace); equal to line for a plain statement. */
  endLine: number;
  children?: KaNode[];
}

export interface Unmapped {
  line: number;
  endLine?: number;
  what: string;
  reason: string;
}

interface Token {
  t: string;
  line: number;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    let s = raw;
    // keepalived comments start with # or ! anywhere outside a quoted string.
    let inQuote = false;
    for (let j = 0; j < s.length; j++) {
      if (s[j] === '"') inQuote = !inQuote;
      else if (!inQuote && (s[j] === '#' || s[j] === '!')) {
        s = s.slice(0, j);
        break;
      }
    }
    const re = /"([^"]*)"|([{}])|([^\s{}"]+)/g;
    for (let m = re.exec(s); m; m = re.exec(s)) out.push({ t: m[1] ?? m[2] ?? m[3]!, line });
  });
  return out;
}

/** The block structure of a keepalived.conf: one node per statement (a line's words), braces opening children. */
export function parseKeepalived(text: string): KaNode[] {
  const toks = tokenize(text);
  let i = 0;
  const block = (depth: number, openLine: number): KaNode[] => {
    const nodes: KaNode[] = [];
    while (i < toks.length) {
      const tok = toks[i]!;
      if (tok.t === '}') {
        if (depth === 0) throw new UsageError(`line ${tok.line}: "}" without a matching "{"`);
        i++;
        return nodes;
      }
      if (tok.t === '{') {
        // A brace on its own line opens the previous statement's block.
        const prev = nodes[nodes.length - 1];
        if (!prev || prev.children) throw new UsageError(`line ${tok.line}: "{" without a statement`);
        i++;
        prev.children = block(depth + 1, tok.line);
        prev.endLine = toks[i - 1]!.line;
        continue;
      }
      const line = tok.line;
      const words: string[] = [];
      while (i < toks.length && toks[i]!.line === line && toks[i]!.t !== '{' && toks[i]!.t !== '}') words.push(toks[i++]!.t);
      const node: KaNode = { key: words[0]!, args: words.slice(1), line, endLine: line };
      if (i < toks.length && toks[i]!.t === '{' && toks[i]!.line === line) {
        i++;
        node.children = block(depth + 1, line);
        node.endLine = toks[i - 1]!.line;
      }
      nodes.push(node);
    }
    if (depth > 0) throw new UsageError(`line ${openLine}: "{" is never closed`);
    return nodes;
  };
  return block(0, 0);
}

const CHECKS = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'BFD_CHECK', 'UDP_CHECK', 'PING_CHECK', 'FILE_CHECK']);
const CHECK_TUNING = new Set(['connect_timeout', 'retry', 'nb_get_retry', 'delay_before_retry', 'warmup', 'delay_loop', 'inhibit_on_failure', 'alpha', 'omega', 'notify_up', 'notify_down', 'smtp_alert', 'virtualhost', 'connect_port', 'bindto', 'bind_port', 'ha_suspend']);
const NO_HEALTH = 'health checks are not in xlvs yet (every real is used while its MAC resolves)';
/** keepalived's scheduler when a virtual_server names none (IPVS_DEF_SCHED, as ipvsadm's). */
const KA_DEFAULT_SCHEDULER = 'wlc';
/** keepalived's persistence timeout when persistence_timeout has no value, or only persistence_granularity is given (libipvs's 6*60). */
const KA_PERSISTENT_TIMEOUT = 360;

function describe(n: KaNode): string {
  return [n.key, ...n.args].join(' ');
}

/**
 * keepalived.conf -> xlvs config. `iface` overrides the director interface; otherwise the first vrrp_instance's
 * `interface` is used. Statements that configure something xlvs does not do are listed, never silently dropped.
 */
export function convertKeepalived(text: string, opts: { iface?: string } = {}): { config: Config; yaml: string; unmapped: Unmapped[] } {
  const nodes = parseKeepalived(text);
  const unmapped: Unmapped[] = [];
  const skip = (n: KaNode, reason: string, what = describe(n)) => unmapped.push({ line: n.line, ...(n.endLine !== n.line ? { endLine: n.endLine } : {}), what, reason });
  let iface = opts.iface;
  const services: Config['services'] = [];

  for (const top of nodes) {
    switch (top.key) {
      case 'virtual_server':
        break;
      case 'vrrp_instance': {
        const ifn = top.children?.find((c) => c.key === 'interface')?.args[0];
        if (!iface && ifn) iface = ifn;
        skip(top, 'VRRP (moving the VIP between directors) stays with keepalived; run it alongside xlvs with manage_vips: false');
        continue;
      }
      case 'include':
        skip(top, 'included files are not followed: import each one');
        continue;
      case 'virtual_server_group':
        skip(top, 'virtual server groups are not in xlvs: list each VIP:port as its own service');
        continue;
      default:
        skip(top, `${top.key} is keepalived's own setting, not a load-balancing rule`);
        continue;
    }
    // virtual_server IP PORT | fwmark N | group NAME
    if (top.args[0] === 'fwmark' || top.args[0] === 'group') {
      skip(top, top.args[0] === 'fwmark' ? 'firewall-mark services are not in xlvs' : 'virtual server groups are not in xlvs');
      continue;
    }
    // virtual_server IP [PORT]: no port, or 0, is every port of the VIP (keepalived makes such a service persistent).
    const [vip, portStr] = top.args;
    if (!vip || !isIPv4(vip) || (portStr !== undefined && !(/^\d+$/.test(portStr) && Number(portStr) <= 65535)) || top.args.length > 2) {
      skip(top, 'expected "virtual_server IPv4 PORT" (IPv6 and other forms are not in xlvs)');
      continue;
    }
    const port = Number(portStr ?? 0);
    const kids = top.children ?? [];
    const kind = kids.find((c) => c.key === 'lb_kind' || c.key === 'lvs_method');
    if (kind && kind.args[0]?.toUpperCase() !== 'DR') {
      skip(top, `${describe(kind)} (line ${kind.line}): xlvs is a direct-routing (DR) director; NAT and TUN services are not converted`);
      continue;
    }
    // keepalived forwards by NAT unless told otherwise; converting is still the likely intent, but say so.
    if (!kind) unmapped.push({ line: top.line, what: describe(top), reason: 'no lb_kind/lvs_method (keepalived\'s default is NAT): converted as DR; check that the real servers hold the VIP and do not answer ARP for it' });
    const protoNode = kids.find((c) => c.key === 'protocol');
    const proto = (protoNode?.args[0] ?? 'TCP').toUpperCase();
    if (proto !== 'TCP' && proto !== 'UDP') {
      skip(top, `protocol ${proto} (line ${protoNode!.line}) is not in xlvs (TCP and UDP only)`);
      continue;
    }
    const svc: Config['services'][number] = { vip, port, protocol: proto === 'TCP' ? 'tcp' : 'udp', scheduler: KA_DEFAULT_SCHEDULER, maglev_size: 65537, reals: [] };
    // The scheduler first: keepalived reads the flag keywords against it (in file order; here in any order).
    const schedNode = kids.filter((c) => c.key === 'lb_algo' || c.key === 'lvs_sched').pop();
    const sched = schedNode?.args[0] ?? '';
    const schedOk = (SCHEDULER_NAMES as readonly string[]).includes(sched);
    if (schedOk) svc.scheduler = sched as typeof svc.scheduler;
    const flags = new Set<string>();
    let persistTimeout: number | undefined;
    let persistMask: string | undefined;
    for (const c of kids) {
      switch (c.key) {
        case 'protocol':
        case 'lb_kind':
        case 'lvs_method':
          break;
        case 'lb_algo':
        case 'lvs_sched': {
          const s = c.args[0] ?? '';
          if (c !== schedNode) skip(c, `overridden by ${describe(schedNode!)} (line ${schedNode!.line})`);
          else if (!schedOk) skip(c, ['lblc', 'lblcr', 'twos'].includes(s) ? `scheduler ${s} is not in xlvs; the service uses ${KA_DEFAULT_SCHEDULER} (keepalived's default)` : `unknown scheduler ${s} (keepalived ignores it too); the service uses ${KA_DEFAULT_SCHEDULER}`);
          break;
        }
        case 'persistence_timeout': {
          // keepalived: no value is its default; xlvs (like ipvsadm) takes 1 s .. 31 days.
          const t = c.args[0] === undefined ? KA_PERSISTENT_TIMEOUT : /^\d+$/.test(c.args[0]) ? Number(c.args[0]) : NaN;
          if (t >= 1 && t <= 2678400) persistTimeout = t;
          else skip(c, `persistence_timeout ${c.args[0]} is outside 1..2678400 seconds`);
          break;
        }
        case 'persistence_granularity': {
          const m = c.args[0] ?? '';
          if (isNetmask(m)) persistMask = m;
          else skip(c, `persistence_granularity ${m} is not an IPv4 netmask of contiguous ones (e.g. 255.255.255.0)`);
          break;
        }
        case 'persistence_engine':
          skip(c, 'persistence engines (SIP) are not in xlvs');
          break;
        case 'nat_mask':
          skip(c, 'nat_mask only applies to NAT; direct routing does not need it');
          break;
        case 'ops':
          skip(c, 'one-packet scheduling is not in xlvs yet');
          break;
        case 'sorry_server':
        case 'sorry_server_inhibit':
        case 'sorry_server_lvs_method':
          skip(c, 'there is no sorry server in xlvs yet (it needs health checks to know when to use it)');
          break;
        case 'quorum':
        case 'quorum_up':
        case 'quorum_down':
        case 'hysteresis':
          skip(c, `quorum needs health checks, which are not in xlvs yet`);
          break;
        case 'hashed':
        case 'flag-1':
        case 'flag-2':
        case 'flag-3':
        case 'sh-port':
        case 'sh-fallback':
        case 'mh-port':
        case 'mh-fallback': {
          const owner = svc.scheduler;
          if (c.key === 'hashed') skip(c, 'hashed is a flag IPVS keeps for itself (setting it has no effect)');
          else if ((c.key === 'flag-1' || c.key === 'flag-2') && (owner === 'sh' || owner === 'mh')) flags.add(`${owner}-${c.key === 'flag-1' ? 'fallback' : 'port'}`);
          else if (c.key.startsWith('flag-')) skip(c, `${c.key} means nothing to scheduler ${owner} (flag-1 and flag-2 are the fallback and port flags of sh and mh)`);
          else if (c.key.startsWith(`${owner}-`)) flags.add(c.key);
          else skip(c, `${c.key} is a flag of ${c.key.slice(0, 2)}, not of the service's scheduler ${owner} (keepalived ignores it too)`);
          break;
        }
        case 'real_server': {
          const [rip, rportStr] = c.args;
          if (!rip || !isIPv4(rip)) {
            skip(c, 'expected "real_server IPv4 PORT"');
            break;
          }
          if (rportStr !== undefined && Number(rportStr) !== port) {
            skip(c, `real port ${rportStr} differs from the service port ${port}: direct routing cannot change the port`);
            break;
          }
          let weight = 1;
          let upper = 0;
          let lower = 0;
          let lowerNode: KaNode | undefined;
          let skipReal: string | undefined;
          const threshold = (r: KaNode): number | undefined => {
            const n = /^\d+$/.test(r.args[0] ?? '') ? Number(r.args[0]) : NaN;
            if (n <= 2147483647) return n;
            skip(r, `${r.key} ${r.args[0]} is outside 0..2147483647`);
            return undefined;
          };
          for (const r of c.children ?? []) {
            if (r.key === 'lb_kind' || r.key === 'lvs_method') {
              if (r.args[0]?.toUpperCase() !== 'DR') skipReal = `${describe(r)} (line ${r.line}): only direct routing (DR) reals are converted`;
            } else if (r.key === 'weight') {
              const w = Number(r.args[0]);
              if (Number.isInteger(w) && w >= 0 && w <= 65535) weight = w;
              else skip(r, `weight ${r.args[0]} is outside 0..65535; the real keeps weight 1`);
            } else if (r.key === 'uthreshold') upper = threshold(r) ?? upper;
            else if (r.key === 'lthreshold') {
              const n = threshold(r);
              if (n !== undefined) [lower, lowerNode] = [n, r];
            } else if (CHECKS.has(r.key)) skip(r, NO_HEALTH, r.key);
            else if (CHECK_TUNING.has(r.key)) skip(r, NO_HEALTH);
            else skip(r, `${r.key} is not something xlvs does`);
          }
          // IPVS refuses a lower threshold above the upper one (ERANGE), so keepalived could not add such a real either.
          if (lowerNode && lower > upper) {
            skip(lowerNode, upper ? `lthreshold ${lower} is above uthreshold ${upper} (IPVS refuses that); the real keeps only its uthreshold` : `lthreshold ${lower} needs a uthreshold at least as high (IPVS refuses it alone)`);
            lower = 0;
          }
          if (skipReal) skip(c, skipReal);
          else svc.reals.push({ address: rip, weight, ...(upper ? { upper_threshold: upper } : {}), ...(lower ? { lower_threshold: lower } : {}) });
          break;
        }
        default:
          if (CHECKS.has(c.key)) skip(c, NO_HEALTH, c.key);
          else if (CHECK_TUNING.has(c.key)) skip(c, NO_HEALTH);
          else skip(c, `${c.key} is not something xlvs does`);
      }
    }
    if (persistTimeout === undefined && persistMask !== undefined) persistTimeout = KA_PERSISTENT_TIMEOUT;
    if (persistTimeout === undefined && port === 0) {
      unmapped.push({ line: top.line, what: describe(top), reason: `port 0 (every port) without persistence_timeout: keepalived makes it persistent (${KA_PERSISTENT_TIMEOUT} s), and so does the import` });
      persistTimeout = KA_PERSISTENT_TIMEOUT;
    }
    if (persistTimeout !== undefined) svc.persistence = { timeout: persistTimeout, netmask: persistMask ?? '255.255.255.255' };
    // Listed only when set, except for mh: xlvs's default there is mh-port, keepalived's (IPVS's) is no flag.
    if (flags.size || svc.scheduler === 'mh') svc.sched_flags = SCHED_FLAGS.filter((f) => flags.has(f));
    services.push(svc);
  }
  if (!iface) throw new UsageError('--interface: keepalived.conf names no vrrp_instance interface; pass --interface NAME (the NIC on the real servers\' segment)');
  // Validated like any config, so what is printed is what `xlvs daemon` accepts.
  const config = validateConfig({ interface: iface, services });
  const yaml = `# converted from keepalived.conf by "xlvs import keepalived"; what could not be mapped is listed on stderr\n${stringify({ interface: config.interface, services: config.services })}`;
  return { config, yaml, unmapped: unmapped.sort((a, b) => a.line - b.line) };
}
