// SPDX-License-Identifier: Apache-2.0
// abi-codec.ts: the byte-level codec machinery for xlvs_abi.h's structs (field kinds, defineStruct) and the value conversions they use.

/**
 * How a field is stored: host order (`u*`, `i64`; `u32s` an array of u32), wire order (`be*`), a MAC (`macs` an array of them), raw bytes (a nested struct), or
 * padding that must be zero.
 */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'u32s' | 'be16' | 'be32' | 'mac' | 'macs' | 'bytes' | 'pad';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
}

export interface StructSpec<T> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldSpec[];
  encode(value: T, buf?: Buffer, at?: number): Buffer;
  decode(buf: Buffer, at?: number): T;
}

export function defineStruct<T extends object>(name: string, size: number, fields: FieldSpec[]): StructSpec<T> {
  return {
    name,
    size,
    fields,
    encode(value: T, buf = Buffer.alloc(size), at = 0): Buffer {
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        const o = at + f.offset;
        switch (f.kind) {
          case 'pad':
            buf.fill(0, o, o + f.size);
            break;
          case 'u8':
            buf.writeUInt8(Number(v[f.name] ?? 0), o);
            break;
          case 'u16':
            buf.writeUInt16LE(Number(v[f.name] ?? 0), o);
            break;
          case 'u32':
            buf.writeUInt32LE(Number(v[f.name] ?? 0) >>> 0, o);
            break;
          case 'u64':
            buf.writeBigUInt64LE(BigInt((v[f.name] as bigint | number | undefined) ?? 0), o);
            break;
          case 'i64':
            buf.writeBigInt64LE(BigInt((v[f.name] as bigint | number | undefined) ?? 0), o);
            break;
          case 'u32s':
            for (let i = 0; i < f.size / 4; i++) buf.writeUInt32LE(((v[f.name] as number[] | undefined)?.[i] ?? 0) >>> 0, o + i * 4);
            break;
          case 'be16':
            buf.writeUInt16BE(Number(v[f.name] ?? 0), o);
            break;
          case 'be32':
            buf.writeUInt32BE(Number(v[f.name] ?? 0) >>> 0, o);
            break;
          case 'mac':
            macToBytes(String(v[f.name] ?? '00:00:00:00:00:00')).copy(buf, o);
            break;
          case 'macs':
            for (let i = 0; i < f.size / 6; i++) macToBytes((v[f.name] as string[] | undefined)?.[i] ?? '00:00:00:00:00:00').copy(buf, o + i * 6);
            break;
          case 'bytes':
            buf.fill(0, o, o + f.size);
            (v[f.name] as Buffer | undefined)?.copy(buf, o, 0, f.size);
            break;
        }
      }
      return buf;
    },
    decode(buf: Buffer, at = 0): T {
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const o = at + f.offset;
        switch (f.kind) {
          case 'pad':
            break;
          case 'u8':
            out[f.name] = buf.readUInt8(o);
            break;
          case 'u16':
            out[f.name] = buf.readUInt16LE(o);
            break;
          case 'u32':
            out[f.name] = buf.readUInt32LE(o);
            break;
          case 'u64':
            out[f.name] = buf.readBigUInt64LE(o);
            break;
          case 'i64':
            out[f.name] = buf.readBigInt64LE(o);
            break;
          case 'u32s':
            out[f.name] = Array.from({ length: f.size / 4 }, (_, i) => buf.readUInt32LE(o + i * 4));
            break;
          case 'be16':
            out[f.name] = buf.readUInt16BE(o);
            break;
          case 'be32':
            out[f.name] = buf.readUInt32BE(o);
            break;
          case 'mac':
            out[f.name] = bytesToMac(buf.subarray(o, o + 6));
            break;
          case 'macs':
            out[f.name] = Array.from({ length: f.size / 6 }, (_, i) => bytesToMac(buf.subarray(o + i * 6, o + i * 6 + 6)));
            break;
          case 'bytes':
            out[f.name] = Buffer.from(buf.subarray(o, o + f.size));
            break;
        }
      }
      return out as T;
    },
  };
}

export const f = (name: string, offset: number, size: number, kind: FieldKind): FieldSpec => ({ name, offset, size, kind });

/** The datapath's clock: CLOCK_MONOTONIC nanoseconds to seconds as now_seconds() in bpf/conn.h computes them (no division there). */
export function monoSeconds(ns: bigint): number {
  return Number((((ns >> 20n) * 4503600n) >> 32n) & 0xffffffffn);
}

/** A u32 key for array maps. */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Sums a per-CPU value buffer (one slot of `stride` bytes per possible CPU) with the struct's decoder. */
export function sumPerCpu<T extends object>(spec: StructSpec<T>, buf: Buffer, ncpu: number): T {
  const stride = Math.ceil(spec.size / 8) * 8;
  const total: Record<string, bigint> = {};
  for (let cpu = 0; cpu < ncpu; cpu++) {
    const one = spec.decode(buf, cpu * stride) as Record<string, unknown>;
    for (const [k, v] of Object.entries(one)) total[k] = (total[k] ?? 0n) + (v as bigint);
  }
  return total as T;
}

export function ipv4ToU32(addr: string): number {
  let v = ipCache.get(addr);
  if (v === undefined) {
    const p = addr.split('.').map(Number);
    v = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
    if (ipCache.size >= 65536) ipCache.clear();
    ipCache.set(addr, v);
  }
  return v;
}

/** Parsed addresses and MACs, remembered: a 10,000-service apply encodes the same few reals 100,000 times. Bounded. */
const ipCache = new Map<string, number>();
const macCache = new Map<string, Buffer>();

export function u32ToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The caller must not modify the result (it is shared); encode() only copies from it. */
export function macToBytes(mac: string): Buffer {
  let b = macCache.get(mac);
  if (!b) {
    b = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
    if (macCache.size >= 65536) macCache.clear();
    macCache.set(mac, b);
  }
  return b;
}

export function bytesToMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
