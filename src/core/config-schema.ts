// SPDX-License-Identifier: Apache-2.0
// config-schema.ts: the config's zod schema: every field, its default and the message naming it when its value is refused (cross-field checks: config.ts).

import { z } from 'zod';
import { ACCEPT_MACS } from './abi';
import { CONN_DEFAULT_MAX, isPrimeSize, MAX_REALS, MAX_SERVICES, MH_DEFAULT_SIZE, VLAN_ID_MAX } from './limits';
import { canonicalIp, isIPv4, isIPv6, isUsableUnicast } from './net/addr';
import { IFNAME_PROBLEM, isIfName } from './net/ifname';
import { isNetmask } from './net/prefix';
import { isMac } from './packets';
import { SCHEDULERS } from './sched';
import { syncSchema } from './syncconfig';

/** A DNS name (or an IPv4 literal) as a Host header carries it, without the port. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** "A.B.C.D:PORT" (metrics.listen), or "off". */
export function isListen(s: string): boolean {
  if (s === 'off') return true;
  const m = /^(.+):(\d{1,5})$/.exec(s);
  return !!m && isIPv4(m[1]!) && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}

/**
 * A VIP or a real of either family (IPv6 beside IPv4, as IPVS-DR serves both), kept in canonical text (RFC 5952) so
 * "2001:DB8::1" and "2001:db8:0::1" are one address everywhere they are compared.
 */
const unicastAny = z
  .string()
  .superRefine((s, ctx) => {
    const v6 = s.includes(':');
    if (!(v6 ? isIPv6(s) : isIPv4(s))) ctx.addIssue({ code: 'custom', message: v6 ? 'is not an IPv6 address' : 'is not an IPv4 address' });
    else if (!isUsableUnicast(s)) ctx.addIssue({ code: 'custom', message: 'is not a usable unicast address' });
  })
  .transform((s) => (s.includes(':') ? canonicalIp(s) : s));

const ms = (lo: number, hi: number) => z.number().int('must be an integer').min(lo, `is outside ${lo}..${hi}`).max(hi, `is outside ${lo}..${hi}`);

/** An HTTP status range "LO-HI" within 100..599, LO <= HI. */
const statusRange = z
  .string()
  .regex(/^\d{3}-\d{3}$/, { message: 'must be a status code 100..599 or a range "LO-HI"', abort: true })
  .refine(
    (r) => {
      const [lo, hi] = r.split('-').map(Number) as [number, number];
      return lo >= 100 && hi <= 599 && lo <= hi;
    },
    { message: 'is not a range of 100..599 with LO <= HI' },
  );

/** A health check as written: every field optional so a real's `check` can override just a few of its service's. */
const check = z.strictObject({
  type: z.enum(['tcp', 'http', 'https', 'udp', 'dns', 'exec'], { message: 'is not a known check type (known: tcp, http, https, udp, dns, exec)' }).optional(),
  /** dr: probe VIP:port at the real's MAC (the path clients take); direct: the real's own address. */
  mode: z.enum(['dr', 'direct'], { message: 'must be dr or direct' }).optional(),
  interval_ms: ms(50, 3_600_000).optional(),
  timeout_ms: ms(10, 3_600_000).optional(),
  rise: ms(1, 100).optional(),
  fall: ms(1, 100).optional(),
  jitter_ms: ms(0, 3_600_000).optional(),
  initial: z.enum(['up', 'down'], { message: 'must be up or down' }).optional(),
  address: unicastAny.optional(),
  port: ms(1, 65535).optional(),
  path: z.string().startsWith('/', 'must start with /').optional(),
  /** Codes (200) and ranges ("200-299", as keepalived's status_code writes them) of 100..599. */
  status: z
    .array(z.union([ms(100, 599), statusRange], { message: 'must be a status code 100..599 or a range "LO-HI"' }))
    .min(1, 'must list at least one status')
    .optional(),
  body_regex: z
    .string()
    .refine(
      (r) => {
        try {
          new RegExp(r);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'is not a valid regular expression' },
    )
    .optional(),
  host: z.string().min(1).optional(),
  sni: z.string().min(1).optional(),
  verify: z.boolean().optional(),
  payload: z.string().optional(),
  expect: z.string().optional(),
  query_name: z.string().min(1).optional(),
  query_type: z.enum(['A', 'AAAA', 'NS', 'SOA', 'TXT', 'MX'], { message: 'must be A, AAAA, NS, SOA, TXT or MX' }).optional(),
  argv: z.array(z.string()).min(1, 'must not be empty').optional(),
});
export type CheckConfig = z.infer<typeof check>;

export const SCHEDULER_NAMES = SCHEDULERS;
export const SCHED_FLAGS = ['mh-port', 'mh-fallback', 'sh-port', 'sh-fallback'] as const;
const seconds = (hi: number) => z.number().int('must be an integer').min(1, `is outside 1..${hi}`).max(hi, `is outside 1..${hi}`);
const count32 = z.number().int('must be an integer').min(0, 'is outside 0..2147483647').max(2147483647, 'is outside 0..2147483647');

const real = z.strictObject({
  address: unicastAny,
  weight: z.number().int('must be an integer').min(0, 'is outside 0..65535').max(65535, 'is outside 0..65535').default(1),
  /** ipvsadm -x: no new connections once active + inactive reach this (0: no limit). */
  upper_threshold: count32.optional(),
  /** ipvsadm -y: new connections again once active + inactive fall below this (0: below 3/4 of upper). */
  lower_threshold: count32.optional(),
  /** Overrides of the service's check for this real only. */
  check: check.optional(),
});

const service = z.strictObject({
  vip: unicastAny,
  /** 0: every port of the VIP ("all ports"; needs persistence, as in ipvsadm). */
  port: z.number().int('must be an integer').min(0, 'is outside 0..65535').max(65535, 'is outside 0..65535'),
  protocol: z.enum(['tcp', 'udp'], { message: 'must be tcp or udp' }).default('tcp'),
  scheduler: z.enum(SCHEDULER_NAMES, { message: `is not a known scheduler (known: ${SCHEDULER_NAMES.join(', ')})` }).default('mh'),
  /** ipvsadm -b. Absent: mh-port for mh (xlvs spreads connections, not clients), none otherwise; [] is IPVS's mh. */
  sched_flags: z.array(z.enum(SCHED_FLAGS, { message: `is not a scheduler flag (known: ${SCHED_FLAGS.join(', ')})` })).optional(),
  /** ipvsadm -p/-M: a client network's new connections follow its earlier ones for `timeout` seconds after its last packet. */
  persistence: z
    .strictObject({
      timeout: seconds(2678400).default(300),
      /** IPv4 services: a dotted netmask; IPv6 services: a prefix length 1..128 (ipvsadm -M 64), 128 when absent. */
      netmask: z
        .union([
          z.string().refine(isNetmask, { message: 'is not a netmask (contiguous ones, e.g. 255.255.255.0)' }),
          z.number().int('must be an integer').min(1, 'is outside 1..128').max(128, 'is outside 1..128'),
        ])
        .default('255.255.255.255'),
    })
    .optional(),
  /** A new or recovered real ramps from a small share to its full weight over this many seconds (0: at once). */
  slow_start_s: z.number().int('must be an integer').min(0, 'is outside 0..86400').max(86400, 'is outside 0..86400').optional(),
  maglev_size: z.number().refine(isPrimeSize, { message: 'must be a prime between 251 and 1048573' }).default(MH_DEFAULT_SIZE),
  reals: z.array(real).max(MAX_REALS, `has more than ${MAX_REALS} reals`).default([]),
  /** Health check of every real (absent: reals are not checked and always count as up). */
  check: check.optional(),
  /** What a real's existing connections do when its check fails: keep them, or expire them (IPVS expire_nodest_conn). */
  on_down: z.enum(['keep', 'expire'], { message: 'must be keep or expire' }).optional(),
  /** Lost when fewer than `min` reals are up, regained at min + hysteresis; each change runs its hook (argv, no shell). */
  quorum: z
    .strictObject({
      min: z.number().int('must be an integer').min(1, 'must be at least 1'),
      hysteresis: z.number().int('must be an integer').min(0, 'must be at least 0').default(0),
      up: z.array(z.string()).min(1, 'must not be empty').optional(),
      down: z.array(z.string()).min(1, 'must not be empty').optional(),
    })
    .optional(),
  /** Takes new connections only while every real is down (it must be on-link like a real). */
  sorry_server: unicastAny.optional(),
  /**
   * The 802.1Q VLAN of the interface (a trunk) the VIP and reals are on: the VIP goes on, and the reals' MACs are
   * resolved on, the VLAN device <interface>.<vlan>; frames keep their tag. Absent: the interface itself.
   */
  vlan: z.number().int('must be an integer').min(1, `is outside 1..${VLAN_ID_MAX}`).max(VLAN_ID_MAX, `is outside 1..${VLAN_ID_MAX}`).optional(),
});

const schema = z.strictObject({
  interface: z.string().refine(isIfName, { message: IFNAME_PROBLEM }),
  xdp_mode: z.enum(['auto', 'native', 'generic'], { message: 'must be auto, native or generic' }).default('auto'),
  manage_vips: z.boolean().default(true),
  /**
   * Destination MACs besides the interface's own that frames are forwarded for: keepalived's use_vmac MAC
   * (00:00:5e:00:01:<VRID in hex>). Frames to any other MAC belong to another host and are passed untouched.
   */
  accept_macs: z
    .array(
      z
        .string()
        .refine(isMac, { message: 'is not a MAC address (aa:bb:cc:dd:ee:ff)' })
        .refine((m) => !/^(00:){5}00$/.test(m) && (parseInt(m.slice(0, 2), 16) & 1) === 0, { message: 'must be a unicast MAC' }),
    )
    .max(ACCEPT_MACS, `at most ${ACCEPT_MACS} MACs`)
    .default([]),
  conn_table_size: z
    .number()
    .int('must be an integer')
    .min(1024, 'must be at least 1024')
    .max(1 << 26, `must be at most ${1 << 26}`)
    .default(CONN_DEFAULT_MAX),
  /**
   * Entries of the IPv6 connection table (64 bytes each, beside the IPv4 table's 32-byte ones); absent: a quarter of
   * conn_table_size (1,048,576 entries, 64 MiB, with the default conn_table_size).
   */
  conn_table6_size: z
    .number()
    .int('must be an integer')
    .min(1024, 'must be at least 1024')
    .max(1 << 26, `must be at most ${1 << 26}`)
    .optional(),
  conn_table_per_cpu: z.boolean().default(false),
  /**
   * New connections per second each CPU records for mh, sh and dh services (Katran's new-connection rate limit):
   * past it, their new flows are forwarded by the hash without a connection entry, so a SYN flood cannot evict live
   * flows. Every scheduler's new flows count; other schedulers always record. 0: no limit.
   */
  new_conn_budget: z.number().int('must be an integer').min(0, 'must be 0 or more').max(100_000_000, 'must be at most 100000000').default(125_000),
  /** Idle timeouts in seconds (ipvsadm --set tcp tcpfin udp). */
  timeouts: z
    .strictObject({
      tcp: seconds(2678400).default(900),
      tcp_fin: seconds(2678400).default(120),
      udp: seconds(2678400).default(300),
    })
    .default({ tcp: 900, tcp_fin: 120, udp: 300 }),
  /** How often idle connections and persistence templates are expired (the precision of the timeouts). */
  sweep_interval_ms: z.number().int('must be an integer').min(100, 'is outside 100..60000').max(60000, 'is outside 100..60000').default(1000),
  /** ARP guard: how often the director asks who has each VIP (0: off); another MAC answering is an error event. */
  arp_guard_interval_ms: z
    .number()
    .int('must be an integer')
    .refine((n) => n === 0 || (n >= 200 && n <= 3_600_000), { message: 'must be 0 (off) or 200..3600000' })
    .default(2000),
  /** Prometheus /metrics and the status page; loopback by default so nothing is exposed unless asked for. */
  metrics: z
    .strictObject({
      listen: z.string().refine(isListen, { message: 'is not HOST:PORT (an IPv4 address and a port in 1..65535), or "off"' }).default('127.0.0.1:9258'),
      /** Host header names answered besides the listen address and loopback (a DNS-rebound name is refused). */
      allowed_hosts: z
        .array(z.string().regex(HOSTNAME, 'is not a host name (letters, digits, hyphens and dots, no port)'))
        .max(64, 'has more than 64 names')
        .default([]),
    })
    .default({ listen: '127.0.0.1:9258', allowed_hosts: [] }),
  /**
   * Active/active with BGP (the daemon only): each VIP that can be served is a /32 route in this kernel table, which
   * BIRD's kernel protocol learns and exports to the router (contrib/bird/); withdrawn when it cannot, or on drain.
   */
  bgp: z
    .strictObject({
      table: z
        .number()
        .int('must be an integer')
        .min(1, 'is outside 1..4294967295')
        .max(0xffffffff, 'is outside 1..4294967295')
        .refine((t) => t < 253 || t > 255, { message: "is one of the kernel's own tables (253 default, 254 main, 255 local)" }),
    })
    .optional(),
  /** Connection sync with peer directors, IPVS's sync protocol v1 (ipvsadm --start-daemon master|backup). */
  sync: syncSchema.optional(),
  services: z.array(service).max(MAX_SERVICES, `has more than ${MAX_SERVICES} services`).default([]),
});

export type Config = z.infer<typeof schema>;
export type ServiceConfig = Config['services'][number];
export type RealConfig = ServiceConfig['reals'][number];

export { real, schema, service };
