// keepalived.ts: converts keepalived.conf virtual_server/real_server blocks into an xlvs config, listing by line number everything it could not map and why.

import { Document, isScalar, visit } from 'yaml';
import { CheckConfig, Config, RealConfig, SCHEDULER_NAMES, SCHED_FLAGS, ServiceConfig, effectiveCheck, isIPv4, isNetmask, validateConfig } from './config';
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

/** keepalived's checkers and the xlvs check type each becomes (null: nothing in xlvs does it). */
const CHECKERS: Record<string, CheckType | null> = {
  TCP_CHECK: 'tcp', HTTP_GET: 'http', SSL_GET: 'https', MISC_CHECK: 'exec', DNS_CHECK: 'dns', UDP_CHECK: 'udp',
  SMTP_CHECK: null, BFD_CHECK: null, PING_CHECK: null, FILE_CHECK: null,
};
const NO_CHECKER: Record<string, string> = {
  SMTP_CHECK: 'there is no SMTP check in xlvs (an exec check can run one)',
  BFD_CHECK: 'there is no BFD in xlvs',
  PING_CHECK: 'there is no ICMP echo check in xlvs (a tcp check of the service port says more)',
  FILE_CHECK: 'xlvs has no checks or weights driven by a file',
};
/** Check settings keepalived takes from the checker, else from its real_server, else from its virtual_server. */
const INHERITED = new Set(['delay_loop', 'connect_timeout', 'retry', 'delay_before_retry', 'warmup', 'alpha', 'virtualhost', 'inhibit_on_failure']);
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
const CHECKER_NOT_MAPPED: Record<string, string> = {
  bindto: 'xlvs checks from the director\'s own address, with a source port the kernel picks',
  bind_if: 'xlvs checks from the director\'s own address, with a source port the kernel picks',
  bind_port: 'xlvs checks from the director\'s own address, with a source port the kernel picks',
  fwmark: 'xlvs does not mark its check packets',
  log_all_failures: 'xlvs logs each change of state with the failure that caused it, not every failed check',
  http_protocol: 'xlvs sends HTTP/1.1 requests with Connection: close',
  fast_recovery: 'xlvs checks one URL, once per interval',
  tls_compliant: 'sending close_notify is not an xlvs setting',
  misc_dynamic: 'xlvs takes no weights from exit codes: exit 0 is up and anything else down, so a script that exits 2..255 for "up, weight N" keeps its real down; make it exit 0 when up',
  min_reply_length: 'xlvs does not check the length of the reply',
  max_reply_length: 'xlvs does not check the length of the reply',
};
/** keepalived's defaults: delay_loop 60 s, connect_timeout 5 s, HTTP status 200-299, DNS query type SOA. */
const KA_DELAY_LOOP_S = 60;
const KA_CONNECT_TIMEOUT_S = 5;
const KA_HTTP_STATUS = Array.from({ length: 100 }, (_, i) => 200 + i);
const KA_DNS_TYPE = 'SOA';
const DNS_TYPES = new Set(['A', 'AAAA', 'NS', 'SOA', 'TXT', 'MX']);
/** keepalived's scheduler when a virtual_server names none (IPVS_DEF_SCHED, as ipvsadm's). */
const KA_DEFAULT_SCHEDULER = 'wlc';
/** keepalived's persistence timeout when persistence_timeout has no value, or only persistence_granularity is given (libipvs's 6*60). */
const KA_PERSISTENT_TIMEOUT = 360;
const DR_HINT = 'converted with mode: direct, as keepalived connects to the real\'s own address; mode: dr (xlvs\'s default for a tcp check: a SYN to VIP:port at the real\'s MAC, the path clients take) also fails a real that lost the VIP, and is recommended';
const INHIBIT = 'keepalived sets a failed real\'s weight to 0 instead of removing it, so its connections go on; xlvs keeps a down real\'s connections unless on_down: expire, and the service says on_down: keep';

type CheckType = NonNullable<CheckConfig['type']>;
type CheckKey = keyof CheckConfig;
type Resolved = ReturnType<typeof effectiveCheck>;
type Note = (n: KaNode, reason: string, what?: string) => void;

/** Each check field with its name in the resolved check, in the order the YAML lists them. */
const FIELDS: [CheckKey, keyof Resolved][] = [
  ['type', 'type'], ['mode', 'mode'], ['interval_ms', 'intervalMs'], ['timeout_ms', 'timeoutMs'], ['rise', 'rise'], ['fall', 'fall'],
  ['jitter_ms', 'jitterMs'], ['initial', 'initial'], ['address', 'address'], ['port', 'port'], ['path', 'path'], ['status', 'status'],
  ['body_regex', 'bodyRegex'], ['host', 'host'], ['sni', 'sni'], ['verify', 'verify'], ['payload', 'payload'], ['expect', 'expect'],
  ['query_name', 'queryName'], ['query_type', 'queryType'], ['argv', 'argv'],
];
const COMMON: CheckKey[] = ['type', 'mode', 'interval_ms', 'timeout_ms', 'rise', 'fall', 'jitter_ms', 'initial'];
/** The fields a check of each type uses besides the common ones. */
const RELEVANT: Record<CheckType, CheckKey[]> = {
  tcp: ['address', 'port'],
  http: ['address', 'port', 'path', 'status', 'body_regex', 'host'],
  https: ['address', 'port', 'path', 'status', 'body_regex', 'host', 'sni', 'verify'],
  udp: ['address', 'port', 'payload', 'expect'],
  dns: ['address', 'port', 'query_name', 'query_type'],
  exec: ['argv'],
};

function describe(n: KaNode): string {
  return [n.key, ...n.args].join(' ');
}

const seconds = (ms: number): string => `${ms / 1000} s`;

function isUnicastV4(s: string): boolean {
  const first = Number(s.split('.')[0]);
  return isIPv4(s) && s !== '255.255.255.255' && first !== 0 && first !== 127 && first < 224;
}

/** keepalived's <BOOL>: no value is true; undefined for a word it does not take. */
function kaBool(n: KaNode): boolean | undefined {
  const v = n.args[0]?.toLowerCase();
  if (v === undefined || v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  return undefined;
}

/**
 * A script's argv as keepalived 2.x builds it: words split at unquoted whitespace, quotes keep spaces, backslash
 * escapes. keepalived then execve()s the words itself, without a shell, as xlvs does.
 */
function scriptWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      const e = s[++i]!;
      cur += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
      inWord = true;
    } else if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '\'' || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      [cur, inWord] = ['', false];
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Shell syntax in a script line, which keepalived 1.x (system(), so /bin/sh -c) interpreted and 2.x passes on as text. */
function shellNote(raw: string): string | undefined {
  const chars = [...new Set(raw.replace(/'[^']*'/g, '').match(/[|&;<>()$`*?~]/g) ?? [])];
  if (!chars.length) return undefined;
  return `it holds shell syntax (${chars.join(' ')}): keepalived 2.x runs it without a shell, as xlvs does, so these reach the program as plain characters (keepalived 1.x ran it with /bin/sh -c; if it relies on that, write argv: [/bin/sh, -c, "..."])`;
}

/** keepalived's free-form hex (UDP_CHECK payload, require_reply): "Ab12f 3" is AB 12 0F 03; an x nibble matches anything. */
function hexBytes(words: string[]): { bytes: number[]; wildcard: boolean } | undefined {
  const bytes: number[] = [];
  let wildcard = false;
  for (const w of words) {
    for (let i = 0; i < w.length; i += 2) {
      const pair = w.slice(i, i + 2);
      if (!/^[0-9a-fA-FxX]{1,2}$/.test(pair)) return undefined;
      if (/[xX]/.test(pair)) wildcard = true;
      bytes.push(parseInt(pair.replace(/[xX]/g, '0'), 16));
    }
  }
  return bytes.length ? { bytes, wildcard } : undefined;
}

/** The bytes as text, when they are UTF-8 that reads back the same (xlvs's payload and expect are text). */
function asText(bytes: number[]): string | undefined {
  const b = Buffer.from(bytes);
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : undefined;
}

interface CheckerContext {
  svc: ServiceConfig;
  /** Inherited statements of the real_server and of the virtual_server. */
  realLevel: Map<string, KaNode>;
  vsLevel: Map<string, KaNode>;
  note: Note;
}

/**
 * One keepalived checker -> one xlvs check with every field keepalived decides (its defaults included), or
 * undefined when xlvs cannot run it. `used` lists the inherited statements it read.
 */
function convertChecker(ck: KaNode, ctx: CheckerContext): { check: CheckConfig; used: KaNode[] } | undefined {
  const { svc } = ctx;
  const type = CHECKERS[ck.key];
  if (!type) {
    ctx.note(ck, NO_CHECKER[ck.key]!, ck.key);
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
    note(n, `${v || 'no value'} is not ${integer ? 'a whole number' : 'a number of seconds'} (keepalived refuses it too); keepalived's default, ${dflt}, is used`);
    return dflt;
  };

  const loopNode = inherited('delay_loop');
  const loopS = value(loopNode, KA_DELAY_LOOP_S);
  let interval = Math.round(loopS * 1000);
  if (interval < 50 || interval > 3_600_000) {
    interval = Math.min(Math.max(interval, 50), 3_600_000);
    note(loopNode ?? ck, `xlvs checks every 50 ms .. 1 h: interval_ms ${interval}`);
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
    note(ck, `${timeoutFrom} is not shorter than delay_loop ${seconds(interval)}: xlvs needs timeout_ms < interval_ms, so timeout_ms is ${timeout}`, ck.key);
  }
  // keepalived takes a real down after the first failure and `retry` more (MISC_CHECK: 0, DNS_CHECK: 3, else 1).
  const retryNode = inherited('retry');
  let fall = value(retryNode, type === 'exec' ? 0 : type === 'dns' ? 3 : 1, true) + 1;
  if (fall > 100) {
    note(retryNode!, `xlvs's fall is at most 100 (keepalived: retry + 1 = ${fall} failures)`);
    fall = 100;
  }
  const retryDelay = inherited('delay_before_retry');
  if (retryDelay && fall > 1) note(retryDelay, `xlvs has no retry delay: after a failure it checks again one interval (delay_loop, ${seconds(interval)}) later`);
  // keepalived spreads the first checks over warmup, by default over delay_loop.
  const warmNode = inherited('warmup');
  let jitter = Math.round(value(warmNode, interval / 1000) * 1000);
  if (jitter > 3_600_000) {
    note(warmNode!, 'xlvs\'s jitter_ms is at most 1 h');
    jitter = 3_600_000;
  }
  // alpha: every real starts failed and needs one good check, as xlvs's initial: down with rise 1.
  const alphaNode = inherited('alpha');
  const alpha = alphaNode ? kaBool(alphaNode) : false;
  if (alpha === undefined) note(alphaNode!, `${alphaNode!.args[0]} is not yes/no (keepalived refuses it too)`);
  const check: CheckConfig = { type, mode: 'direct', interval_ms: interval, timeout_ms: timeout, rise: 1, fall, jitter_ms: jitter, ...(alpha ? { initial: 'down' as const } : {}) };

  if (type !== 'exec') {
    const ip = own.get('connect_ip');
    if (ip && !isUnicastV4(ip.args[0] ?? '')) fail(ip, `${ip.args[0]} is not an IPv4 unicast address: the ${ck.key} of line ${ck.line} is not converted`);
    else if (ip) check.address = ip.args[0]!;
    const cp = own.get('connect_port');
    const p = Number(cp?.args[0]);
    if (cp && !(Number.isInteger(p) && p >= 1 && p <= 65535)) fail(cp, `${cp.args[0]} is not a port: the ${ck.key} of line ${ck.line} is not converted`);
    else if (cp) check.port = p;
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
    if (CHECKER_NOT_MAPPED[c.key]) note(c, CHECKER_NOT_MAPPED[c.key]!);
    else if (!CHECKER_KEYS[type].has(c.key)) note(c, `${c.key} is not something xlvs does`);
  }
  for (const a of pending) ctx.note(...a);
  return { check, used };
}

/** HTTP_GET/SSL_GET: the first url (path, status_code, virtualhost, regex), the Host header and SNI. */
function httpFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, inherited: (k: string) => KaNode | undefined, note: Note, fail: Note): void {
  // keepalived drops a url without a path, and a checker left with no url.
  let url: KaNode | undefined;
  for (const u of (ck.children ?? []).filter((c) => c.key === 'url')) {
    if (!u.children?.some((c) => c.key === 'path')) note(u, 'no path: keepalived ignores this url too', 'url');
    else if (url) note(u, `xlvs checks one URL per real, here the url of line ${url.line}; keepalived also needed this one to pass`, 'url');
    else url = u;
  }
  if (!url) return fail(ck, `no url with a path: keepalived ignores this ${ck.key} too`, ck.key);
  let path = '';
  let status: number[] = [];
  let vhost: string | undefined;
  let regex: string | undefined;
  let noMatch: KaNode | undefined;
  for (const c of url.children ?? []) {
    switch (c.key) {
      case 'path':
        path = c.args.join(' ');
        break;
      case 'status_code':
        // keepalived: codes and ranges (200-299) of 100..599.
        for (const a of c.args) {
          const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
          const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
          if (!m || lo < 100 || hi > 599 || lo > hi) note(c, `${a} is not a status code or range of 100..599 (keepalived refuses it too)`);
          else for (let s = lo; s <= hi; s++) status.push(s);
        }
        break;
      case 'virtualhost':
        vhost = c.args[0];
        break;
      case 'digest':
        note(c, 'xlvs does not compare an MD5 digest of the page; only the status (and body_regex) are checked');
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
      case 'regex_options':
      case 'regex_min_offset':
      case 'regex_max_offset':
      case 'regex_stack':
        note(c, 'not in xlvs: body_regex is a JavaScript regular expression matched against the first 64 KiB of the body');
        break;
      case 'tls_compliant':
        note(c, CHECKER_NOT_MAPPED.tls_compliant!);
        break;
      default:
        note(c, `${c.key} is not something xlvs does`);
    }
  }
  if (noMatch) {
    note(noMatch, regex !== undefined ? 'xlvs cannot invert body_regex: the regex is dropped' : 'there is no regex to invert');
    regex = undefined;
  }
  if (!path.startsWith('/')) return fail(url, `path ${path} does not start with /, which xlvs needs: the ${ck.key} of line ${ck.line} is not converted`, 'url');
  check.path = path;
  check.status = status.length ? [...new Set(status)].sort((a, b) => a - b) : KA_HTTP_STATUS;
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
    else if (!sni && name === undefined && host !== undefined && !isIPv4(host.replace(/:\d*$/, ''))) note(ck, `keepalived sends no SNI without enable_sni; xlvs sends the host, ${host}, as the TLS server name`, ck.key);
    check.verify = false;
  }
}

/** MISC_CHECK: misc_path as argv. */
function execFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, note: Note, fail: Note): void {
  const mp = own.get('misc_path');
  // One quoted string holds the program and its arguments; unquoted, the words are already split.
  const argv = !mp ? [] : mp.args.length === 1 ? scriptWords(mp.args[0]!) : mp.args;
  if (!mp || !argv.length) return fail(ck, 'no misc_path: keepalived ignores this MISC_CHECK too', ck.key);
  check.argv = argv;
  const sh = shellNote(mp.args.join(' '));
  if (sh) note(mp, sh);
  const user = own.get('user');
  if (user) note(user, `xlvs runs the check as itself (keepalived: as ${user.args.join(' ')})`);
}

/** DNS_CHECK: type (keepalived's default SOA) and name (default ".") of the query. */
function dnsFields(own: Map<string, KaNode>, check: CheckConfig, note: Note): void {
  check.query_name = own.get('name')?.args[0] ?? '.';
  const t = own.get('type');
  const qt = (t?.args[0] ?? KA_DNS_TYPE).toUpperCase();
  if (DNS_TYPES.has(qt)) check.query_type = qt as CheckConfig['query_type'];
  else {
    note(t!, `xlvs queries A, AAAA, NS, SOA, TXT or MX: the check asks for A (either way the answer's rcode decides)`);
    check.query_type = 'A';
  }
}

/** UDP_CHECK with require_reply: payload and the expected reply as text (without it, keepalived's silence is up). */
function udpFields(ck: KaNode, own: Map<string, KaNode>, check: CheckConfig, note: Note, fail: Note): void {
  const rr = own.get('require_reply');
  if (!rr) return fail(ck, 'without require_reply keepalived counts silence as up (only an ICMP error fails it); xlvs\'s udp check needs a reply, so this one is not converted', ck.key);
  const pl = own.get('payload');
  const bytes = pl ? hexBytes(pl.args) : undefined;
  const text = bytes && !bytes.wildcard ? asText(bytes.bytes) : undefined;
  if (text !== undefined) check.payload = text;
  else note(pl ?? ck, pl ? 'xlvs sends a payload of UTF-8 text and this is not: it sends an empty datagram' : 'keepalived sends random bytes without a payload; xlvs sends an empty datagram', pl ? undefined : ck.key);
  if (rr.args.length) {
    const want = hexBytes(rr.args);
    const expect = want && !want.wildcard ? asText(want.bytes) : undefined;
    if (expect === undefined) note(rr, 'xlvs matches replies against UTF-8 text without wildcards: any reply passes');
    else {
      check.expect = expect;
      note(rr, 'xlvs looks for it anywhere in the reply; keepalived compares the reply\'s first bytes');
    }
  }
}

/**
 * The fields a real's `check` must set so that, over the service's check, it resolves like the real's own check:
 * empty when they are equivalent. A field the service sets and the real's check leaves at xlvs's default is set
 * back to what the default does; `lost` names those that cannot be (sni, with no host name to derive it from).
 */
function overrideFor(svc: ServiceConfig, base: CheckConfig, want: CheckConfig, real: RealConfig): { o: CheckConfig; lost: CheckKey[] } {
  const plain = { address: real.address, weight: real.weight };
  const goal = effectiveCheck({ ...svc, check: want }, plain);
  // The server name xlvs derives from the host when sni is unset (a name, never an address).
  const hostName = want.host?.startsWith('[') ? undefined : want.host?.replace(/:\d*$/, '');
  const neutral: Partial<Record<CheckKey, unknown>> = {
    address: real.address, port: svc.port, host: want.address ?? real.address, initial: 'up', jitter_ms: 0, body_regex: '', expect: '',
    payload: '', path: '/', status: [200], verify: true, query_name: '.', query_type: 'A',
    sni: hostName && !isIPv4(hostName) ? hostName : undefined,
  };
  const o: Record<string, unknown> = {};
  const lost: CheckKey[] = [];
  for (const [k, rk] of FIELDS) {
    if (!COMMON.includes(k) && !RELEVANT[goal.type].includes(k)) continue;
    const have = effectiveCheck({ ...svc, check: base }, { ...plain, check: o as CheckConfig });
    if (JSON.stringify(have[rk]) === JSON.stringify(goal[rk])) continue;
    const v = want[k] ?? neutral[k];
    if (v === undefined) lost.push(k);
    else o[k] = v;
  }
  return { o: o as CheckConfig, lost };
}

interface RealBlock {
  real: RealConfig;
  node: KaNode;
  tuning: Map<string, KaNode>;
  checkers: KaNode[];
}

/**
 * A virtual_server's checkers -> the service's check (the first real's converted check) and per-real overrides for
 * the reals whose checks differ; inhibit_on_failure -> on_down: keep. Inherited statements no converted check read
 * are listed.
 */
function convertChecks(svc: ServiceConfig, vsLevel: Map<string, KaNode>, reals: RealBlock[], note: Note): void {
  const used = new Set<KaNode>();
  const wanted: (CheckConfig | undefined)[] = [];
  let first: CheckConfig | undefined;
  const inhibits: KaNode[] = [];
  for (const rb of reals) {
    let got: { check: CheckConfig; node: KaNode } | undefined;
    for (const ck of rb.checkers) {
      if (got && CHECKERS[ck.key]) {
        note(ck, `xlvs runs one check per real, here the ${got.node.key} of line ${got.node.line}; keepalived also needed this one to pass`, ck.key);
        continue;
      }
      const r = convertChecker(ck, { svc, realLevel: rb.tuning, vsLevel, note });
      if (!r) continue;
      got = { check: r.check, node: ck };
      for (const u of r.used) used.add(u);
      if (r.check.type === 'tcp' && svc.protocol === 'tcp' && r.check.address === undefined) note(ck, DR_HINT, ck.key);
    }
    wanted.push(got?.check);
    first ??= got?.check;
    const inh = got && (rb.tuning.get('inhibit_on_failure') ?? vsLevel.get('inhibit_on_failure'));
    if (inh) {
      used.add(inh);
      const on = kaBool(inh);
      if (on === undefined) note(inh, `${inh.args[0]} is not yes/no (keepalived refuses it too)`);
      else if (on) inhibits.push(inh);
    }
  }
  for (const n of [...vsLevel.values(), ...reals.flatMap((rb) => [...rb.tuning.values()])]) {
    if (!used.has(n)) note(n, first ? 'no converted health check uses it' : 'no health check was converted for this virtual_server');
  }
  if (!first) return;
  // connect_ip names one real's own target: it stays with that real, and a real with no check of its own is probed
  // at its own address.
  const base: CheckConfig = { ...first };
  delete base.address;
  svc.check = base;
  reals.forEach((rb, i) => {
    const want = wanted[i];
    if (!want) note(rb.node, `${rb.checkers.length ? 'none of its checkers was converted' : 'keepalived does not check it (it is always up there)'}; xlvs checks every real of a checked service, so it gets the service's check`);
    const { o, lost } = overrideFor(svc, base, want ?? base, rb.real);
    if (Object.keys(o).length) rb.real.check = o;
    if (lost.length) note(rb.node, `its check cannot drop the service check's ${lost.join(', ')} (${lost.map((k) => JSON.stringify(base[k])).join(', ')})`);
  });
  if (inhibits.length) {
    svc.on_down = 'keep';
    for (const n of inhibits) note(n, INHIBIT);
  }
}

interface QuorumNodes {
  quorum?: KaNode;
  hysteresis?: KaNode;
  up?: KaNode;
  down?: KaNode;
  sorry?: KaNode;
  sorryInhibit?: KaNode;
  sorryMethod?: KaNode;
}

/**
 * quorum/hysteresis/quorum_up/quorum_down -> quorum, and sorry_server. keepalived's quorum is a total weight of live
 * reals, lost below quorum - hysteresis and regained at quorum + hysteresis; xlvs counts live reals, lost below min
 * and regained at min + hysteresis. With every real of weight w the two agree exactly.
 */
function convertQuorum(svc: ServiceConfig, q: QuorumNodes, note: Note): void {
  const count = (n: KaNode | undefined, dflt: number, lo: number): number => {
    if (!n) return dflt;
    const v = Number(n.args[0]);
    if (Number.isInteger(v) && v >= lo) return v;
    note(n, `${n.args[0] ?? 'no value'} is not a whole number of at least ${lo} (keepalived refuses it too); keepalived's default, ${dflt}, is used`);
    return dflt;
  };
  const Q = count(q.quorum, 1, 1);
  const H = count(q.hysteresis, 0, 0);
  const lossAt = Math.max(1, Q - H);
  const nodes = [q.quorum, q.hysteresis, q.up, q.down].filter((n): n is KaNode => !!n);
  if (nodes.length && !svc.check) for (const n of nodes) note(n, 'quorum needs a health check on the service, and none was converted');
  else if (nodes.length) {
    const weights = svc.reals.map((r) => r.weight);
    const total = weights.reduce((a, b) => a + b, 0);
    const w = total > 0 ? total / weights.length : 1;
    const uniform = weights.every((x) => x === weights[0]);
    const min = Math.max(1, Math.ceil((Q - H) / w - 1e-9));
    const gain = Math.max(min, Math.ceil((Q + H) / w - 1e-9));
    const hook = (n: KaNode | undefined): string[] | undefined => {
      if (!n) return undefined;
      const [script, ...owner] = n.args;
      const argv = script === undefined ? [] : scriptWords(script);
      if (!argv.length) {
        note(n, 'no script given');
        return undefined;
      }
      if (owner.length) note(n, `xlvs runs the hook as itself (keepalived: as ${owner.join(' ')})`);
      const sh = shellNote(script!);
      if (sh) note(n, sh);
      return argv;
    };
    const up = hook(q.up);
    const down = hook(q.down);
    svc.quorum = { min, hysteresis: gain - min, ...(up ? { up } : {}), ...(down ? { down } : {}) };
    // Exact when every real weighs the same, or when any one live real (of weight >= 1) is quorum enough.
    const exact = (uniform && total > 0) || (Q + H === 1 && weights.every((x) => x >= 1));
    if (!exact || min !== Q || gain - min !== H) {
      const weighs = total === 0 ? 'the reals all weigh 0, so keepalived never has quorum; taken as weight 1 each'
        : exact ? `each real weighs ${w}` : `the weights (${weights.join(', ')}) differ: taken at their mean, ${Math.round(w * 100) / 100}`;
      note(q.quorum ?? nodes[0]!, `keepalived weighs the live reals: quorum is lost when their weight falls below ${lossAt} and regained when it reaches ${Q + H} (${weighs}); xlvs counts live reals: min ${min}, hysteresis ${gain - min}`);
    }
  }

  const s = q.sorry;
  const [ip, p] = s?.args ?? [];
  const nonDr = q.sorryMethod && q.sorryMethod.args[0]?.toUpperCase() !== 'DR' ? q.sorryMethod : undefined;
  if (!s) {
    for (const n of [q.sorryInhibit, q.sorryMethod]) if (n) note(n, 'there is no sorry_server');
    return;
  }
  const refused = !ip || !isUnicastV4(ip) ? 'not an IPv4 unicast address: no sorry server'
    : svc.reals.some((r) => r.address === ip) ? `${ip} is also a real of the service, which xlvs refuses: no sorry server`
    : nonDr ? `${describe(nonDr)} (line ${nonDr.line}): xlvs reaches a sorry server by direct routing only: no sorry server`
    : undefined;
  if (refused) {
    note(s, refused);
    for (const n of [q.sorryInhibit, q.sorryMethod]) if (n && n !== nonDr) note(n, 'no sorry server was converted');
    return;
  }
  svc.sorry_server = ip;
  const why: string[] = [];
  if (p !== undefined && Number(p) !== svc.port && svc.port !== 0) why.push(`direct routing delivers to the clients' own port, ${svc.port}, not ${p} (keepalived's DR did too)`);
  if (Q > 1 || H > 0) why.push(`keepalived puts it in place of every real ${lossAt > 1 ? `once the live reals' weight falls below ${lossAt}` : 'once no live weight is left'} and keeps it until that weight is back to ${Q + H}; xlvs gives it new connections only while every real is down`);
  if (why.length) note(s, why.join('; '));
  if (q.sorryInhibit) note(q.sorryInhibit, 'xlvs always does this: the sorry server stays in the datapath with weight 0 while any real is up');
}

/**
 * keepalived.conf -> xlvs config. `iface` overrides the director interface; otherwise the first vrrp_instance's
 * `interface` is used. Statements that configure something xlvs does not do, or does differently, are listed, never
 * silently dropped.
 */
export function convertKeepalived(text: string, opts: { iface?: string } = {}): { config: Config; yaml: string; unmapped: Unmapped[] } {
  const nodes = parseKeepalived(text);
  const unmapped: Unmapped[] = [];
  const seen = new Set<string>();
  // One entry per statement and reason, however many checks inherit the statement.
  const skip: Note = (n, reason, what = describe(n)) => {
    const key = `${n.line}\0${what}\0${reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    unmapped.push({ line: n.line, ...(n.endLine !== n.line ? { endLine: n.endLine } : {}), what, reason });
  };
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
      case 'SSL':
        skip(top, 'xlvs\'s https checks present no client certificate; like keepalived, which never verifies the server\'s certificate, they are converted with verify: false');
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
    const svc: ServiceConfig = { vip, port, protocol: proto === 'TCP' ? 'tcp' : 'udp', scheduler: KA_DEFAULT_SCHEDULER, maglev_size: 65537, reals: [] };
    // The scheduler first: keepalived reads the flag keywords against it (in file order; here in any order).
    const schedNode = kids.filter((c) => c.key === 'lb_algo' || c.key === 'lvs_sched').pop();
    const sched = schedNode?.args[0] ?? '';
    const schedOk = (SCHEDULER_NAMES as readonly string[]).includes(sched);
    if (schedOk) svc.scheduler = sched as typeof svc.scheduler;
    const flags = new Set<string>();
    let persistTimeout: number | undefined;
    let persistMask: string | undefined;
    const vsLevel = new Map<string, KaNode>();
    const realBlocks: RealBlock[] = [];
    const q: QuorumNodes = {};
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
          q.sorry = c;
          break;
        case 'sorry_server_inhibit':
          q.sorryInhibit = c;
          break;
        case 'sorry_server_lvs_method':
          q.sorryMethod = c;
          break;
        case 'quorum':
          q.quorum = c;
          break;
        case 'hysteresis':
          q.hysteresis = c;
          break;
        case 'quorum_up':
          q.up = c;
          break;
        case 'quorum_down':
          q.down = c;
          break;
        case 'omega':
          skip(c, 'xlvs runs no hooks when it stops');
          break;
        case 'smtp_alert':
          skip(c, 'xlvs sends no e-mail; every change of state is a log event');
          break;
        case 'ha_suspend':
          skip(c, 'xlvs does not suspend checks while the VIP is not on this director');
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
          const tuning = new Map<string, KaNode>();
          const checkers: KaNode[] = [];
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
            } else if (r.key in CHECKERS) checkers.push(r);
            else if (INHERITED.has(r.key)) tuning.set(r.key, r);
            else if (r.key === 'notify_up' || r.key === 'notify_down') skip(r, 'xlvs runs no per-real hooks; every change of state is a log event (real down, real up)');
            else if (r.key === 'smtp_alert') skip(r, 'xlvs sends no e-mail; every change of state is a log event');
            else skip(r, `${r.key} is not something xlvs does`);
          }
          // IPVS refuses a lower threshold above the upper one (ERANGE), so keepalived could not add such a real either.
          if (lowerNode && lower > upper) {
            skip(lowerNode, upper ? `lthreshold ${lower} is above uthreshold ${upper} (IPVS refuses that); the real keeps only its uthreshold` : `lthreshold ${lower} needs a uthreshold at least as high (IPVS refuses it alone)`);
            lower = 0;
          }
          if (skipReal) {
            skip(c, skipReal);
            break;
          }
          const real: RealConfig = { address: rip, weight, ...(upper ? { upper_threshold: upper } : {}), ...(lower ? { lower_threshold: lower } : {}) };
          svc.reals.push(real);
          realBlocks.push({ real, node: c, tuning, checkers });
          break;
        }
        default:
          if (INHERITED.has(c.key)) vsLevel.set(c.key, c);
          else if (c.key in CHECKERS) skip(c, 'a checker belongs in a real_server block (keepalived refuses it here)', c.key);
          else skip(c, `${c.key} is not something xlvs does`);
      }
    }
    convertChecks(svc, vsLevel, realBlocks, skip);
    convertQuorum(svc, q, skip);
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
  // Lists of plain values (status codes, argv, flags) on one line each, however long.
  const doc = new Document({ interface: config.interface, services: config.services });
  visit(doc, { Seq: (_, node) => { if (node.items.every((i) => isScalar(i))) node.flow = true; } });
  const yaml = `# converted from keepalived.conf by "xlvs import keepalived"; what could not be mapped is listed on stderr\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
  return { config, yaml, unmapped: unmapped.sort((a, b) => a.line - b.line) };
}
