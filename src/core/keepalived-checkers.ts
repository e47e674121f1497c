// SPDX-License-Identifier: Apache-2.0
// keepalived-checkers.ts: one keepalived checker (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, UDP_CHECK) as one xlvs check, with keepalived's defaults and inheritance made explicit.

import type { CheckConfig, ServiceConfig } from './config';
import { asText, hexBytes, type KaNode, kaBool, scriptWords, shellNote } from './keepalived-parse';
import { CHECKER_NOT_MAPPED, CHECKER_OUTCOMES, NO_CHECKER, type Note, notDone, skipReason, URL_SKIPS } from './keepalived-skips';
import { canonicalIp, isIP, isIPv6, isUsableUnicast } from './net/addr';

/** A Host value that is an address, not a name (TLS sends no SNI for it): "10.0.0.1[:port]", "[2001:db8::1][:port]" or a bare IPv6 address. */
function isIPLiteral(host: string): boolean {
  return isIP(host) || isIP(host.replace(/:\d*$/, '').replace(/^\[(.*)\]$/, '$1'));
}

export type CheckType = NonNullable<CheckConfig['type']>;

/**
 * keepalived's checkers and the xlvs check type each becomes (null: nothing in xlvs does it). A Map, so a keyword
 * named like an object property (toString, constructor, __proto__) is no checker.
 */
export const CHECKERS: ReadonlyMap<string, CheckType | null> = new Map<string, CheckType | null>([
  ['TCP_CHECK', 'tcp'],
  ['HTTP_GET', 'http'],
  ['SSL_GET', 'https'],
  ['MISC_CHECK', 'exec'],
  ['DNS_CHECK', 'dns'],
  ['UDP_CHECK', 'udp'],
  ['SMTP_CHECK', null],
  ['BFD_CHECK', null],
  ['PING_CHECK', null],
  ['FILE_CHECK', null],
]);
/** Check settings keepalived takes from the checker, else from its real_server, else from its virtual_server. */
export const INHERITED = new Set(['delay_loop', 'connect_timeout', 'retry', 'delay_before_retry', 'warmup', 'alpha', 'virtualhost', 'inhibit_on_failure']);
/** Checker statements read by the conversion (by type; the rest are listed). */
const CHECKER_KEYS: Record<CheckType, Set<string>> = (() => {
  const timing = ['retry', 'nb_get_retry', 'delay_before_retry', 'warmup', 'delay_loop', 'alpha'];
  const conn = ['connect_ip', 'connect_port', 'connect_timeout', ...timing];
  return {
    tcp: new Set(conn),
    http: new Set([...conn, 'virtualhost', 'url']),
    https: new Set([...conn, 'virtualhost', 'url', 'enable_sni', 'sni_name']),
    udp: new Set([...conn, 'payload', 'require_reply']),
    dns: new Set([...conn, 'type', 'name']),
    exec: new Set([...timing, 'misc_path', 'misc_timeout']),
  };
})();
/** keepalived's defaults: delay_loop 60 s, connect_timeout 5 s, HTTP status 200-299, DNS query type SOA. */
const KA_DELAY_LOOP_S = 60;
const KA_CONNECT_TIMEOUT_S = 5;
const KA_HTTP_STATUS = ['200-299'];
const KA_DNS_TYPE = 'SOA';
const DNS_TYPES = new Set(['A', 'AAAA', 'NS', 'SOA', 'TXT', 'MX']);

const seconds = (ms: number): string => `${ms / 1000} s`;

interface CheckerContext {
  svc: ServiceConfig;
  /** Inherited statements of the real_server and of the virtual_server. */
  realLevel: Map<string, KaNode>;
  vsLevel: Map<string, KaNode>;
  note: Note;
  /** The real_server's own port, when it differs from the service's (keepalived's checkers connect to it). */
  port?: number;
}

/**
 * One keepalived checker -> one xlvs check with every field keepalived decides (its defaults included), or
 * undefined when xlvs cannot run it. `used` lists the inherited statements it read.
 */
export function convertChecker(ck: KaNode, ctx: CheckerContext): { check: CheckConfig; used: KaNode[] } | undefined {
  const { svc } = ctx;
  const type = CHECKERS.get(ck.key);
  if (!type) {
    ctx.note(ck, skipReason(NO_CHECKER, ck.key) ?? notDone(ck.key), ck.key);
    return undefined;
  }
  // Notes are kept until the checker converts; one that cannot be converted is listed for that reason alone.
  const pending: Parameters<Note>[] = [];
  const note: Note = (...a) => void pending.push(a);
  let fatal: Parameters<Note> | undefined;
  const fail: Note = (...a) => void (fatal ??= a);
  const own = new Map<string, KaNode>();
  for (const c of ck.children ?? []) own.set(c.key === 'nb_get_retry' ? 'retry' : c.key, c);
  const used: KaNode[] = [];
  const inherited = (k: string): KaNode | undefined => {
    const n = own.get(k) ?? ctx.realLevel.get(k) ?? ctx.vsLevel.get(k);
    if (n) used.push(n);
    return n;
  };
  // A bad number is a keepalived config error, after which keepalived's default stands.
  const value = (n: KaNode | undefined, dflt: number, integer = false): number => {
    if (!n) return dflt;
    const v = n.args[0] ?? '';
    if ((integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(v)) return Number(v);
    note(
      n,
      `${v || 'no value'} is not ${integer ? 'a whole number' : 'a number of seconds'} (keepalived refuses it too); keepalived's default, ${dflt}, is used`,
      undefined,
      'ignored',
    );
    return dflt;
  };

  const loopNode = inherited('delay_loop');
  const loopS = value(loopNode, KA_DELAY_LOOP_S);
  let interval = Math.round(loopS * 1000);
  if (interval < 50 || interval > 3_600_000) {
    interval = Math.min(Math.max(interval, 50), 3_600_000);
    note(loopNode ?? ck, 'xlvs checks every 50 ms .. 1 h', undefined, { as: `interval_ms ${interval}` });
  }
  let timeoutS: number;
  let timeoutFrom: string;
  if (type === 'exec') {
    // keepalived: misc_timeout, else (or 0) the virtual_server's delay_loop, not the checker's own.
    const mt = own.get('misc_timeout');
    const t = value(mt, 0, true);
    if (t > 0) [timeoutS, timeoutFrom] = [t, `misc_timeout ${t} s`];
    else {
      const vsLoop = ctx.vsLevel.get('delay_loop');
      if (vsLoop) used.push(vsLoop);
      timeoutS = value(vsLoop, KA_DELAY_LOOP_S);
      timeoutFrom = `keepalived's timeout without misc_timeout, the virtual_server's delay_loop (${timeoutS} s),`;
    }
  } else {
    const ct = inherited('connect_timeout');
    timeoutS = value(ct, KA_CONNECT_TIMEOUT_S);
    timeoutFrom = ct ? `connect_timeout ${timeoutS} s` : `keepalived's default connect_timeout, ${KA_CONNECT_TIMEOUT_S} s,`;
  }
  let timeout = Math.max(10, Math.round(timeoutS * 1000));
  if (timeout >= interval) {
    timeout = interval - 1;
    note(ck, `${timeoutFrom} is not shorter than delay_loop ${seconds(interval)}: xlvs needs timeout_ms < interval_ms`, ck.key, {
      as: `timeout_ms ${timeout}`,
    });
  }
  // keepalived takes a real down after the first failure and `retry` more (MISC_CHECK: 0, DNS_CHECK: 3, else 1).
  const retryNode = inherited('retry');
  let fall = value(retryNode, type === 'exec' ? 0 : type === 'dns' ? 3 : 1, true) + 1;
  if (fall > 100) {
    note(retryNode!, `xlvs's fall is at most 100 (keepalived: retry + 1 = ${fall} failures)`, undefined, { as: 'fall 100' });
    fall = 100;
  }
  const retryDelay = inherited('delay_before_retry');
  if (retryDelay && fall > 1)
    note(retryDelay, 'xlvs has no retry delay', undefined, { as: `the next check one interval (delay_loop, ${seconds(interval)}) after a failure` });
  // keepalived spreads the first checks over warmup, by default over delay_loop.
  const warmNode = inherited('warmup');
  let jitter = Math.round(value(warmNode, interval / 1000) * 1000);
  if (jitter > 3_600_000) {
    note(warmNode!, "xlvs's jitter_ms is at most 1 h", undefined, { as: 'jitter_ms 3600000' });
    jitter = 3_600_000;
  }
  // alpha: every real starts failed and needs one good check, as xlvs's initial: down with rise 1.
  const alphaNode = inherited('alpha');
  const alpha = alphaNode ? kaBool(alphaNode) : false;
  if (alpha === undefined) note(alphaNode!, `${alphaNode!.args[0]} is not yes/no (keepalived refuses it too)`, undefined, 'ignored');
  const check: CheckConfig = {
    type,
    mode: 'direct',
    interval_ms: interval,
    timeout_ms: timeout,
    rise: 1,
    fall,
    jitter_ms: jitter,
    ...(alpha ? { initial: 'down' as const } : {}),
  };

  if (type !== 'exec') {
    const ip = own.get('connect_ip');
    // A check address of the service's family: the DR real it stands for is of that family too.
    const fam = isIPv6(svc.vip) ? 'IPv6' : 'IPv4';
    if (ip && !(isUsableUnicast(ip.args[0] ?? '') && isIPv6(ip.args[0]!) === isIPv6(svc.vip)))
      fail(ip, `${ip.args[0]} is not an ${fam} unicast address: the ${ck.key} of line ${ck.line} is not converted`);
    else if (ip) check.address = canonicalIp(ip.args[0]!);
    const cp = own.get('connect_port');
    const p = Number(cp?.args[0]);
    if (cp && !(Number.isInteger(p) && p >= 1 && p <= 65535)) fail(cp, `${cp.args[0]} is not a port: the ${ck.key} of line ${ck.line} is not converted`);
    else if (cp) check.port = p;
    else if (ctx.port) check.port = ctx.port;
    else if (svc.port === 0) fail(ck, 'the service is port 0 (every port) and the checker names no connect_port: there is no port to check', ck.key);
  }
  if (type === 'http' || type === 'https') httpFields(ck, own, check, inherited, note, fail);
  else if (type === 'exec') execFields(ck, own, check, note, fail);
  else if (type === 'dns') dnsFields(own, check, note);
  else if (type === 'udp') udpFields(ck, own, check, note, fail);
  if (fatal) {
    ctx.note(...fatal);
    return undefined;
  }
  for (const c of ck.children ?? []) {
    const unmapped = skipReason(CHECKER_NOT_MAPPED, c.key);
    if (unmapped !== undefined) note(c, unmapped, undefined, CHECKER_OUTCOMES.get(c.key) ?? 'dropped');
    else if (!CHECKER_KEYS[type].has(c.key)) note(c, notDone(c.key));
  }
  for (const a of pending) ctx.note(...a);
  return { check, used };
}

/** HTTP_GET/SSL_GET: the first url (path, status_code, virtualhost, regex), the Host header and SNI. */
function httpFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, inherited: (k: string) => KaNode | undefined, note: Note, fail: Note): void {
  // keepalived drops a url without a path, and a checker left with no url.
  let url: KaNode | undefined;
  for (const u of (ck.children ?? []).filter((c) => c.key === 'url')) {
    if (!u.children?.some((c) => c.key === 'path')) note(u, 'no path: keepalived ignores this url too', 'url', 'ignored');
    else if (url) note(u, `xlvs checks one URL per real, here the url of line ${url.line}; keepalived also needed this one to pass`, 'url');
    else url = u;
  }
  if (!url) return fail(ck, `no url with a path: keepalived ignores this ${ck.key} too`, ck.key, 'ignored');
  let path = '';
  const status: (number | string)[] = [];
  let vhost: string | undefined;
  let regex: string | undefined;
  let noMatch: KaNode | undefined;
  for (const c of url.children ?? []) {
    const skipped = skipReason(URL_SKIPS, c.key);
    if (skipped !== undefined) {
      note(c, skipped);
      continue;
    }
    switch (c.key) {
      case 'path':
        path = c.args.join(' ');
        break;
      case 'status_code':
        // keepalived: codes and ranges (200-299) of 100..599.
        for (const a of c.args) {
          const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
          const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
          if (!m || lo < 100 || hi > 599 || lo > hi)
            note(c, `${a} is not a status code or range of 100..599 (keepalived refuses it too)`, undefined, 'ignored');
          // Kept as written: a range stays a range in the YAML.
          else status.push(lo === hi ? lo : `${lo}-${hi}`);
        }
        break;
      case 'virtualhost':
        vhost = c.args[0];
        break;
      case 'regex':
        regex = c.args.join(' ');
        try {
          new RegExp(regex);
        } catch {
          note(c, 'not a regular expression JavaScript takes: the body is not matched');
          regex = undefined;
        }
        break;
      case 'regex_no_match':
        noMatch = c;
        break;
      default:
        note(c, notDone(c.key));
    }
  }
  if (noMatch) {
    note(noMatch, regex !== undefined ? 'xlvs cannot invert body_regex: the regex is dropped' : 'there is no regex to invert');
    regex = undefined;
  }
  if (!path.startsWith('/')) return fail(url, `path ${path} does not start with /, which xlvs needs: the ${ck.key} of line ${ck.line} is not converted`, 'url');
  check.path = path;
  check.status = status.length ? [...new Set(status)] : KA_HTTP_STATUS;
  if (regex !== undefined) check.body_regex = regex;
  // Host: the url's virtualhost, else the checker's, the real_server's or the virtual_server's.
  const host = vhost ?? inherited('virtualhost')?.args[0];
  if (host !== undefined) check.host = host;
  if (check.type === 'https') {
    // keepalived sends SNI only with enable_sni (or sni_name), and never verifies the server's certificate.
    const en = own.get('enable_sni');
    const name = own.get('sni_name')?.args[0];
    const sni = en ? kaBool(en) : false;
    if (sni === undefined) note(en!, `${en!.args[0]} is not yes/no (keepalived refuses it too)`);
    if ((sni || name !== undefined) && (name ?? host) !== undefined) check.sni = name ?? host!;
    else if (!sni && name === undefined && host !== undefined && !isIPLiteral(host))
      note(ck, 'keepalived sends no SNI without enable_sni; xlvs sends the host as the TLS server name', ck.key, { as: `sni ${host}` });
    check.verify = false;
  }
}

/** MISC_CHECK: misc_path as argv. */
function execFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, note: Note, fail: Note): void {
  const mp = own.get('misc_path');
  // One quoted string holds the program and its arguments; unquoted, the words are already split.
  const argv = !mp ? [] : mp.args.length === 1 ? scriptWords(mp.args[0]!) : mp.args;
  if (!mp || !argv.length) return fail(ck, 'no misc_path: keepalived ignores this MISC_CHECK too', ck.key, 'ignored');
  check.argv = argv;
  const sh = shellNote(mp.args.join(' '));
  if (sh) note(mp, sh, undefined, 'note');
  const user = own.get('user');
  if (user) note(user, `keepalived ran it as ${user.args.join(' ')}`, undefined, { as: "a check run as xlvs's own user" });
}

/** DNS_CHECK: type (keepalived's default SOA) and name (default ".") of the query. */
function dnsFields(own: Map<string, KaNode>, check: CheckConfig, note: Note): void {
  check.query_name = own.get('name')?.args[0] ?? '.';
  const t = own.get('type');
  const qt = (t?.args[0] ?? KA_DNS_TYPE).toUpperCase();
  if (DNS_TYPES.has(qt)) check.query_type = qt as CheckConfig['query_type'];
  else {
    note(t!, "xlvs queries A, AAAA, NS, SOA, TXT or MX (either way the answer's rcode decides)", undefined, { as: 'query_type A' });
    check.query_type = 'A';
  }
}

/** UDP_CHECK with require_reply: payload and the expected reply as text (without it, keepalived's silence is up). */
function udpFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, note: Note, fail: Note): void {
  const rr = own.get('require_reply');
  if (!rr)
    return fail(
      ck,
      "without require_reply keepalived counts silence as up (only an ICMP error fails it); xlvs's udp check needs a reply, so this one is not converted",
      ck.key,
    );
  const pl = own.get('payload');
  const bytes = pl ? hexBytes(pl.args) : undefined;
  const text = bytes && !bytes.wildcard ? asText(bytes.bytes) : undefined;
  if (text !== undefined) check.payload = text;
  else
    note(pl ?? ck, pl ? 'xlvs sends a payload of UTF-8 text and this is not' : 'keepalived sends random bytes without a payload', pl ? undefined : ck.key, {
      as: 'an empty datagram',
    });
  if (rr.args.length) {
    const want = hexBytes(rr.args);
    const expect = want && !want.wildcard ? asText(want.bytes) : undefined;
    if (expect === undefined) note(rr, 'xlvs matches replies against UTF-8 text without wildcards', undefined, { as: 'any reply passes' });
    else {
      check.expect = expect;
      note(rr, "keepalived compares the reply's first bytes", undefined, { as: 'expect, found anywhere in the reply' });
    }
  }
}
