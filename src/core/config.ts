// SPDX-License-Identifier: Apache-2.0
// config.ts: the director's YAML config parsed and validated: the schema (config-schema.ts), then cross-field checks, errors naming the field and value.

import { z } from 'zod';
import { CS, CS_COUNT } from './abi';
import { checkProblems, effectiveCheck } from './config-checks';
import { type Issue, issueProblems } from './config-issues';
import { type Config, real, type ServiceConfig, schema, service } from './config-schema';
import { readYamlMapping } from './configyaml';
import { UsageError } from './errors';
import { MAX_REALS, MAX_SERVICES } from './limits';
import { familyOf } from './net/addr';
import { serviceId } from './net/label';
import { syncBackupProblem } from './syncdp';
import { vlanProblems } from './vlan';

export { effectiveCheck, type ResolvedCheck, statusCodes } from './config-checks';
export { issueProblems } from './config-issues';
export { type CheckConfig, type Config, isListen, type RealConfig, SCHED_FLAGS, SCHEDULER_NAMES, type ServiceConfig } from './config-schema';

/** The schema's parts the API's request bodies are derived from (src/core/apibody.ts), so both reject alike. */
export { real as realSchema, schema as configSchema, service as serviceSchema };

/** The schema with the services left unparsed: each is parsed on its own, or not at all when it is known valid. */
const topSchema = schema.extend({ services: z.array(z.unknown()).max(MAX_SERVICES, `has more than ${MAX_SERVICES} services`).default([]) });

/**
 * Service objects a validation produced. Nothing writes into a validated config (edits copy the service they change,
 * see controller.ts own()), so a service met again unchanged is not parsed again: an API change at 10,000 services
 * re-parses one service, not all of them. The cross-service checks below still run on every validation.
 */
const validServices = new WeakSet<object>();

function parseConfigObject(input: unknown): { success: true; data: Config } | { success: false; issues: Issue[] } {
  const top = topSchema.safeParse(input);
  const issues: Issue[] = top.success ? [] : [...top.error.issues];
  const raw =
    input !== null && typeof input === 'object' && Array.isArray((input as { services?: unknown }).services) ? (input as { services: unknown[] }).services : [];
  const services: ServiceConfig[] = [];
  // Past the limit the count is the problem: parsing a million services first only delays saying so.
  if (raw.length > MAX_SERVICES) return { success: false, issues };
  raw.forEach((item, i) => {
    if (item !== null && typeof item === 'object' && validServices.has(item)) {
      services.push(item as ServiceConfig);
      return;
    }
    const r = service.safeParse(item);
    if (r.success) services.push(r.data);
    else for (const is of r.error.issues) issues.push({ ...is, path: ['services', i, ...is.path] } as Issue);
  });
  if (issues.length || !top.success) return { success: false, issues };
  for (const sv of services) validServices.add(sv);
  return { success: true, data: { ...top.data, services } };
}

/**
 * Services whose own checks (reals, check, thresholds, family) found nothing: a change at 10,000 services checks the
 * service it made, and only the cross-service checks (duplicates, totals) walk them all.
 */
const cleanServices = new WeakSet<ServiceConfig>();
const serviceKeys = new WeakMap<ServiceConfig, string>();

/** serviceId() of a validated service, kept with it (the duplicate check meets every service on every validation). */
export function serviceKeyOf(s: ServiceConfig): string {
  let k = serviceKeys.get(s);
  if (k === undefined) serviceKeys.set(s, (k = serviceId(s)));
  return k;
}

/** One service parsed on its own (a validated one as it is); undefined when it does not parse. */
export function parseService(item: unknown): ServiceConfig | undefined {
  if (item !== null && typeof item === 'object' && validServices.has(item)) return item as ServiceConfig;
  const r = service.safeParse(item);
  if (!r.success) return undefined;
  validServices.add(r.data);
  return r.data;
}

/** Validates an already-parsed document; throws UsageError listing every problem. */
export function validateConfig(input: unknown): Config {
  const r = parseConfigObject(input);
  const problems: string[] = [];
  if (!r.success) throw new UsageError('invalid config', issueProblems(input, r.issues));
  const cfg = r.data;
  const seenSvc = new Map<string, number>();
  cfg.services.forEach((s, i) => {
    const k = serviceKeyOf(s);
    const prev = seenSvc.get(k);
    if (prev !== undefined) problems.push(`services[${i}]: duplicate service ${k} (also services[${prev}])`);
    else seenSvc.set(k, i);
    problems.push(...serviceProblems(s, i));
  });
  problems.push(...vlanProblems(cfg));
  const totalReals = cfg.services.reduce((n, s) => n + s.reals.length, 0);
  if (totalReals > MAX_REALS) problems.push(`services: ${totalReals} reals in all, more than ${MAX_REALS}`);
  const perCpu = cfg.sync?.backup ? syncBackupProblem(cfg.conn_table_per_cpu) : undefined;
  if (perCpu) problems.push(`sync.backup: ${perCpu}`);
  if (problems.length) throw new UsageError('invalid config', problems);
  return cfg;
}

/**
 * The problems of one service on its own, at services[i] (reals, check, thresholds, family); none for a service
 * object found clean before: it is the same object unchanged (nothing writes into a validated service).
 */
export function serviceProblems(s: ServiceConfig, i: number): string[] {
  if (cleanServices.has(s)) return [];
  const p: string[] = [];
  const seenReal = new Map<string, number>();
  s.reals.forEach((rl, j) => {
    const dup = seenReal.get(rl.address);
    if (dup !== undefined) p.push(`services[${i}].reals[${j}].address: duplicate real ${rl.address} (also reals[${dup}])`);
    else seenReal.set(rl.address, j);
    if (rl.address === s.vip) p.push(`services[${i}].reals[${j}].address: ${rl.address} is the service's own VIP`);
    if (rl.check && !s.check) p.push(`services[${i}].reals[${j}].check: overrides need a check on the service`);
    if (s.check) p.push(...checkProblems(effectiveCheck(s, rl), s, `services[${i}].reals[${j}].check`));
  });
  if (s.quorum && !s.check) p.push(`services[${i}].quorum: needs a check on the service`);
  if (s.port === 0 && !s.persistence) p.push(`services[${i}].port: 0 (all ports) needs persistence, as in ipvsadm`);
  for (const fl of s.sched_flags ?? []) {
    const owner = fl.slice(0, 2);
    if (owner !== s.scheduler) p.push(`services[${i}].sched_flags: "${fl}" is a flag of ${owner}, not of ${s.scheduler}`);
  }
  if (s.slow_start_s && (s.scheduler === 'rr' || s.scheduler === 'lc'))
    p.push(
      `services[${i}].slow_start_s: scheduler ${s.scheduler} ignores weights, so slow start would do nothing (use ${s.scheduler === 'rr' ? 'wrr' : 'wlc'})`,
    );
  s.reals.forEach((rl, j) => {
    if (rl.lower_threshold && !rl.upper_threshold) p.push(`services[${i}].reals[${j}].lower_threshold: ${rl.lower_threshold} needs an upper_threshold`);
    else if (rl.upper_threshold && rl.lower_threshold && rl.lower_threshold > rl.upper_threshold)
      p.push(`services[${i}].reals[${j}].lower_threshold: ${rl.lower_threshold} is above upper_threshold ${rl.upper_threshold}`);
  });
  if (s.sorry_server && seenReal.has(s.sorry_server)) p.push(`services[${i}].sorry_server: ${s.sorry_server} is also one of the service's reals`);
  p.push(...familyProblems(s, `services[${i}]`));
  if (!p.length) cleanServices.add(s);
  return p;
}

/** IPVS-DR forwards within one family: a service's reals (and sorry server) are of its VIP's; persistence's netmask is of it too. */
function familyProblems(s: ServiceConfig, where: string): string[] {
  const fam = familyOf(s.vip);
  const p: string[] = [];
  const other = (a: string) => familyOf(a) !== fam;
  s.reals.forEach((rl, j) => {
    if (other(rl.address))
      p.push(
        `${where}.reals[${j}].address: ${rl.address} is IPv${familyOf(rl.address)}, the service's VIP ${s.vip} IPv${fam} ` +
          '(a service and its reals are of one family)',
      );
  });
  if (s.sorry_server && other(s.sorry_server))
    p.push(`${where}.sorry_server: ${s.sorry_server} is IPv${familyOf(s.sorry_server)}, the service's VIP ${s.vip} IPv${fam}`);
  const m = s.persistence?.netmask;
  if (fam === 6 && typeof m === 'string' && m !== '255.255.255.255')
    p.push(`${where}.persistence.netmask: "${m}" is a dotted IPv4 netmask; an IPv6 service takes a prefix length 1..128 (e.g. 64)`);
  if (fam === 4 && typeof m === 'number')
    p.push(`${where}.persistence.netmask: ${m} is a prefix length; an IPv4 service takes a dotted netmask (e.g. 255.255.255.0)`);
  return p;
}

/** An IPv6 service's persistence prefix length (128 when none was given), as the datapath's persist_plen6 takes it. */
export function persistPrefix6(s: Pick<ServiceConfig, 'persistence'>): number {
  const m = s.persistence?.netmask;
  return typeof m === 'number' ? m : 128;
}

/**
 * Idle timeout in seconds per connection state (indexed by abi CS): the three ipvsadm --set values, and IPVS's
 * fixed 60 s for SYN_RECV and 10 s for CLOSE. The datapath's sweeper and `xlvsadm -L -c` both use this table.
 */
export function stateTimeouts(t: { tcp: number; tcp_fin: number; udp: number }): number[] {
  const a = new Array<number>(CS_COUNT).fill(0);
  a[CS.SYN_RECV] = 60;
  a[CS.ESTABLISHED] = t.tcp;
  a[CS.FIN_WAIT] = t.tcp_fin;
  a[CS.CLOSE] = 10;
  a[CS.UDP] = t.udp;
  return a;
}

/** The scheduler flags in force: xlvs's default for mh is mh-port (per-connection spreading, as before flags existed). */
export function schedFlags(s: Pick<ServiceConfig, 'scheduler' | 'sched_flags'>): string[] {
  return s.sched_flags ?? (s.scheduler === 'mh' ? ['mh-port'] : []);
}

/** Parses YAML text (`source` names the file in messages). */
export function parseConfig(text: string, source = 'config'): Config {
  const data = readYamlMapping(text, source);
  try {
    return validateConfig(data);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${source}: ${e.message.split('\n')[0]}`, e.details);
    throw e;
  }
}
