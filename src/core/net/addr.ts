// SPDX-License-Identifier: Apache-2.0
// addr.ts: IP addresses of both families: parse, canonical text (RFC 5952 for IPv6), wire bytes, and the family of a string.

/** 4 or 6: an address family as the config, the ABI and ipvsadm's output tell them apart. */
export type Family = 4 | 6;

/**
 * Parsed addresses remembered: a 10,000-service config names the same few reals 100,000 times. Bounded: cleared
 * when full, so a long-lived daemon fed ever-new addresses does not grow.
 */
const seen = new Map<string, Uint8Array | null>();

function memoParse(s: string): Uint8Array | null {
  let v = seen.get(s);
  if (v === undefined) {
    v = parseBytes(s);
    if (seen.size >= 65536) seen.clear();
    seen.set(s, v);
  }
  return v;
}

/** Dotted quad, four decimal parts 0..255 without leading zeros (a leading zero is octal to inet_aton: refused). */
function parseV4(s: string, out: Uint8Array, at: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return false;
    out[at + i] = Number(p);
  }
  return true;
}

/** RFC 4291 text: groups of 1-4 hex digits, one "::", an optional trailing dotted quad; no zone index ("%eth0"). */
function parseV6(s: string): Uint8Array | null {
  if (s.length > 45 || s.length < 2) return null;
  const out = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (part: string): string[] | null => (part === '' ? [] : part.split(':'));
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  if (!head || !tail) return null;
  // A dotted quad may end the address (::ffff:10.0.0.1): it fills the last two groups.
  const all = halves.length === 2 ? tail : head;
  let quad: string | undefined;
  if (all.length && all[all.length - 1]!.includes('.')) quad = all.pop();
  const groups = head.length + tail.length + (quad ? 2 : 0);
  if (halves.length === 1 ? groups !== 8 : groups > 7) return null;
  const put = (list: string[], at: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(list[i]!)) return false;
      const w = parseInt(list[i]!, 16);
      out[at + 2 * i] = w >> 8;
      out[at + 2 * i + 1] = w & 255;
    }
    return true;
  };
  if (!put(head, 0)) return null;
  const tailAt = 16 - 2 * tail.length - (quad ? 4 : 0);
  if (halves.length === 2 && !put(tail, tailAt)) return null;
  if (quad && !parseV4(quad, out, 12)) return null;
  return out;
}

function parseBytes(s: string): Uint8Array | null {
  if (s.includes(':')) return parseV6(s);
  const out = new Uint8Array(4);
  return parseV4(s, out, 0) ? out : null;
}

export function isIPv4(s: string): boolean {
  return memoParse(s)?.length === 4;
}

export function isIPv6(s: string): boolean {
  return memoParse(s)?.length === 16;
}

export function isIP(s: string): boolean {
  return memoParse(s) !== null;
}

/** The family of a valid address, or null for anything else. */
export function familyOf(s: string): Family | null {
  const b = memoParse(s);
  return b === null ? null : b.length === 4 ? 4 : 6;
}

/** The address's wire bytes (4 or 16, network order); throws on an invalid address (callers validate first). The result is shared: copy it. */
export function ipToBytes(s: string): Uint8Array {
  const b = memoParse(s);
  if (!b) throw new Error(`${JSON.stringify(s)} is not an IP address`);
  return b;
}

/** Canonical text for 4 or 16 wire bytes: dotted quad, or RFC 5952 (lower case, longest zero run of 2+ groups as "::", first on a tie). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new Error(`an IP address is 4 or 16 bytes, not ${b.length}`);
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** The canonical text of a valid address ("2001:DB8:0::1" -> "2001:db8::1"): config keys, maps and output compare it. */
export function canonicalIp(s: string): string {
  return bytesToIp(ipToBytes(s));
}

/**
 * An address a VIP, a real or a peer can be: not unspecified, broadcast, loopback, multicast, 0/8, link-local
 * (IPv6 fe80::/10: it needs a zone), or IPv4-mapped (::ffff:0:0/96: the IPv4 address is meant).
 */
export function isUsableUnicast(s: string): boolean {
  const b = memoParse(s);
  if (!b) return false;
  if (b.length === 4) return b[0] !== 0 && b[0] !== 127 && b[0]! < 224;
  if (b[0] === 0xff) return false;
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return false;
  let zeros = 0;
  while (zeros < 16 && b[zeros] === 0) zeros++;
  if (zeros >= 15) return false; // :: and ::1
  if (zeros === 10 && b[10] === 0xff && b[11] === 0xff) return false;
  return true;
}

/** "10.0.0.1:80" or "[2001:db8::1]:80", as ipvsadm prints a service or real. */
export function formatHostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/**
 * Splits "A.B.C.D:PORT" or "[V6]:PORT" (the port text unchecked); also "A.B.C.D" and "[V6]" or a bare "V6" when
 * the port is optional. Null when the text has no such shape.
 */
export function splitHostPort(s: string): { host: string; port?: string } | null {
  if (s.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
    return m ? { host: m[1]!, port: m[2] } : null;
  }
  const colons = s.split(':').length - 1;
  if (colons === 0) return { host: s };
  if (colons === 1) {
    const i = s.indexOf(':');
    return { host: s.slice(0, i), port: s.slice(i + 1) };
  }
  return { host: s }; // a bare IPv6 address: a port needs brackets
}

/**
 * Address order as ipvsadm lists services and reals: IPv4 before IPv6 (AF_INET < AF_INET6), then by wire bytes,
 * so 10.0.0.9 sorts before 10.0.0.10.
 */
export function compareIp(a: string, b: string): number {
  const x = ipToBytes(a);
  const y = ipToBytes(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}
