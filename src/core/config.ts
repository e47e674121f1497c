// config.ts: the director's YAML config: schema, defaults, and error messages that name the field and the value.

import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UsageError } from './errors';
import { CONN_DEFAULT_MAX, MAX_REALS, MAX_SERVICES, MH_DEFAULT_SIZE, isPrimeSize } from './limits';

const IFNAME = /^[^\s/:]{1,15}$/;

/** Dotted-quad IPv4 with no leading zeros (so "010.0.0.1" cannot mean octal to one reader and decimal to another). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function isUnicast(s: string): boolean {
  const first = Number(s.split('.')[0]);
  return s !== '0.0.0.0' && s !== '255.255.255.255' && first !== 0 && first < 224 && first !== 127;
}

const ipv4 = z.string().refine(isIPv4, { message: 'is not an IPv4 address' });
const unicast = ipv4.refine(isUnicast, { message: 'is not a usable unicast address' });

const real = z.strictObject({
  address: unicast,
  weight: z.number().int('must be an integer').min(0, 'is outside 0..65535').max(65535, 'is outside 0..65535').default(1),
});

const service = z.strictObject({
  vip: unicast,
  port: z.number().int('must be an integer').min(1, 'is outside 1..65535').max(65535, 'is outside 1..65535'),
  protocol: z.enum(['tcp', 'udp'], { message: 'must be tcp or udp' }).default('tcp'),
  scheduler: z.enum(['mh'], { message: 'is not a known scheduler (known: mh)' }).default('mh'),
  maglev_size: z.number().refine(isPrimeSize, { message: 'must be a prime between 251 and 1048573' }).default(MH_DEFAULT_SIZE),
  reals: z.array(real).max(MAX_REALS, `has more than ${MAX_REALS} reals`).default([]),
});

const schema = z.strictObject({
  interface: z.string().regex(IFNAME, 'is not an interface name'),
  xdp_mode: z.enum(['auto', 'native', 'generic'], { message: 'must be auto, native or generic' }).default('auto'),
  manage_vips: z.boolean().default(true),
  conn_table_size: z.number().int('must be an integer').min(1024, 'must be at least 1024').max(1 << 26, `must be at most ${1 << 26}`).default(CONN_DEFAULT_MAX),
  conn_table_per_cpu: z.boolean().default(false),
  services: z.array(service).max(MAX_SERVICES, `has more than ${MAX_SERVICES} services`).default([]),
});

export type Config = z.infer<typeof schema>;
export type ServiceConfig = Config['services'][number];
export type RealConfig = ServiceConfig['reals'][number];

function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(top level)';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: any = input;
  for (const p of path) v = v == null ? undefined : v[p as any];
  return v;
}

/** Validates an already-parsed document; throws UsageError listing every problem. */
export function validateConfig(input: unknown): Config {
  const r = schema.safeParse(input);
  const problems: string[] = [];
  if (!r.success) {
    for (const issue of r.error.issues) {
      const where = pathString(issue.path);
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push(`${where === '(top level)' ? k : `${where}.${k}`}: unknown key`);
        continue;
      }
      const v = valueAt(input, issue.path);
      const msg = v === undefined ? 'is required' : issue.message;
      problems.push(`${where}: ${v === undefined ? '' : `${JSON.stringify(v)} `}${msg}`);
    }
    throw new UsageError('invalid config', problems);
  }
  const cfg = r.data;
  const seenSvc = new Map<string, number>();
  cfg.services.forEach((s, i) => {
    const k = `${s.vip}:${s.port}/${s.protocol}`;
    const prev = seenSvc.get(k);
    if (prev !== undefined) problems.push(`services[${i}]: duplicate service ${k} (also services[${prev}])`);
    else seenSvc.set(k, i);
    const seenReal = new Map<string, number>();
    s.reals.forEach((rl, j) => {
      const p = seenReal.get(rl.address);
      if (p !== undefined) problems.push(`services[${i}].reals[${j}].address: duplicate real ${rl.address} (also reals[${p}])`);
      else seenReal.set(rl.address, j);
      if (rl.address === s.vip) problems.push(`services[${i}].reals[${j}].address: ${rl.address} is the service's own VIP`);
    });
  });
  const totalReals = cfg.services.reduce((n, s) => n + s.reals.length, 0);
  if (totalReals > MAX_REALS) problems.push(`services: ${totalReals} reals in all, more than ${MAX_REALS}`);
  if (problems.length) throw new UsageError('invalid config', problems);
  return cfg;
}

/** Parses YAML text (`source` names the file in messages). */
export function parseConfig(text: string, source = 'config'): Config {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) {
    throw new UsageError(`${source}: not valid YAML`, doc.errors.map((e) => e.message.split('\n')[0]!));
  }
  const data = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${source}: expected a mapping with "interface" and "services"`);
  }
  try {
    return validateConfig(data);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${source}: ${e.message.split('\n')[0]}`, e.details);
    throw e;
  }
}
