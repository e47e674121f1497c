// SPDX-License-Identifier: Apache-2.0
// syncdp.ts: connection sync as the datapath sees it: the events it reports, the entries it takes in, and the settings plan() writes.

import * as abi from './abi';
import { UsageError } from './errors';
import { bytesToIp, familyOf, ipToBytes } from './net/addr';
import { IPPROTO_TCP, IPPROTO_UDP } from './net/proto';

/** One new or changed connection, or persistence template, the datapath reported while sync emission is on. */
export interface SyncEvent {
  /** 6 or 17. */
  proto: number;
  /** Template: the client address masked by the service's persist mask, cport 0 (as IPVS templates). */
  caddr: string;
  cport: number;
  vaddr: string;
  /** Template: the service's port (0 for a port-0 service). */
  vport: number;
  /** The real's address (xlvs_reals.addr, or xlvs_reals6 for an IPv6 flow); all three addresses are of the flow's family. */
  raddr: string;
  /** XLVS_CS_* (templates: XLVS_CS_NONE). */
  state: number;
  template: boolean;
  /** The emitting director's own ids: a peer maps (vaddr, vport, proto, raddr) to its ids before insertSynced. */
  svcId: number;
  realId: number;
  /** How long ago the datapath recorded it (ktime now - record stamp). */
  ageMs: number;
}

/** One connection or template to insert or update; svcId and realId are this director's ids. */
export interface SyncInsert {
  proto: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  svcId: number;
  realId: number;
  state: number;
  template: boolean;
}

/** What one insertSynced call did: updated = the key existed (its state and real are now the synced ones). */
export interface SyncInsertResult {
  inserted: number;
  updated: number;
  /** Unknown service or real id, a table with no free or expired way for it, or a per-CPU connection table. */
  refused: number;
}

/**
 * What plan() makes the datapath do for sync (xlvs_cfg fields): emit = report new and changed connections and
 * templates (the master side; off by default, and off after every load).
 */
export interface SyncSettings {
  emit: boolean;
}

export const SYNC_OFF: SyncSettings = { emit: false };

/**
 * Why a director with this setting cannot take synced connections (undefined: it can). With conn_table_per_cpu each
 * CPU looks flows up in its own slice, so an entry inserted from user space would be found by one CPU only.
 */
export function syncBackupProblem(connTablePerCpu: boolean): string | undefined {
  return connTablePerCpu
    ? 'conn_table_per_cpu: true cannot take synced connections (each CPU has its own slice of the table; a synced flow would be found on one CPU only)'
    : undefined;
}

/** Field offsets of the codecs (abi.ts, checked against the BTF): the hot loops below read fields directly. */
const REC = Object.fromEntries(abi.syncRec.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const KEY = Object.fromEntries(abi.connKey.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const IN = Object.fromEntries(abi.syncIn.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const REC6 = Object.fromEntries(abi.syncRec6.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const KEY6 = Object.fromEntries(abi.conn6Key.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const IN6 = Object.fromEntries(abi.syncIn6.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const addr6 = (buf: Buffer, at: number) => bytesToIp(buf.subarray(at, at + 16));

/**
 * Records as xlvs_syncq holds them, concatenated, into events; nowNs: CLOCK_MONOTONIC now. A record is a struct
 * xlvs_sync_rec, or when its flags say XLVS_SYNC_F_INET6 the head of a struct xlvs_sync_rec6 (its addresses follow),
 * so each record's size is known from its own head.
 */
export function decodeSyncRecords(buf: Buffer, nowNs: bigint, out: SyncEvent[] = []): SyncEvent[] {
  const k = REC.key!;
  for (let at = 0; at < buf.length; ) {
    if (at + abi.syncRec.size > buf.length) throw new Error(`sync records: ${buf.length - at} bytes at ${at} are less than a ${abi.syncRec.size}-byte record`);
    const flags = buf.readUInt8(at + REC.flags!);
    const v6 = (flags & abi.SYNC_F_INET6) !== 0;
    const size = v6 ? abi.syncRec6.size : abi.syncRec.size;
    if (at + size > buf.length) throw new Error(`sync records: ${buf.length - at} bytes at ${at} are less than a ${size}-byte IPv6 record`);
    const age = nowNs - buf.readBigUInt64LE(at + REC.stamp!);
    out.push({
      proto: buf.readUInt8(at + k + KEY.proto!),
      caddr: v6 ? addr6(buf, at + REC6.saddr!) : abi.u32ToIpv4(buf.readUInt32BE(at + k + KEY.saddr!)),
      cport: buf.readUInt16BE(at + k + KEY.sport!),
      vaddr: v6 ? addr6(buf, at + REC6.daddr!) : abi.u32ToIpv4(buf.readUInt32BE(at + k + KEY.daddr!)),
      vport: buf.readUInt16BE(at + k + KEY.dport!),
      raddr: v6 ? addr6(buf, at + REC6.raddr!) : abi.u32ToIpv4(buf.readUInt32BE(at + REC.raddr!)),
      state: buf.readUInt8(at + REC.state!),
      template: (flags & abi.SYNC_F_TEMPLATE) !== 0,
      svcId: buf.readUInt32LE(at + REC.svc_id!),
      realId: buf.readUInt32LE(at + REC.real_id!),
      ageMs: age > 0n ? Number(age) / 1e6 : 0,
    });
    at += size;
  }
  return out;
}

/** A usable key address: IPv4 or IPv6 text, not all zero (a zero address marks a free way). */
const isKeyAddr = (a: unknown): a is string => typeof a === 'string' && familyOf(a) !== null && ipToBytes(a).some((b) => b !== 0);
const isPort = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffff;

/** What is wrong with one entry (field and value), or nothing. */
export function syncInsertProblems(e: SyncInsert, where: string): string[] {
  const p: string[] = [];
  const bad = (field: string, value: unknown, want: string) => p.push(`${where}.${field}: ${JSON.stringify(value)} is not ${want}`);
  if (e.proto !== abi.IPPROTO_TCP && e.proto !== abi.IPPROTO_UDP) bad('proto', e.proto, `${IPPROTO_TCP} (tcp) or ${IPPROTO_UDP} (udp)`);
  if (!isKeyAddr(e.caddr)) bad('caddr', e.caddr, 'a non-zero IPv4 or IPv6 address');
  if (!isKeyAddr(e.vaddr)) bad('vaddr', e.vaddr, 'a non-zero IPv4 or IPv6 address');
  else if (isKeyAddr(e.caddr) && familyOf(e.caddr) !== familyOf(e.vaddr)) bad('caddr', e.caddr, `of the family of vaddr ${e.vaddr}`);
  if (!isPort(e.cport)) bad('cport', e.cport, 'a port (0-65535)');
  if (!isPort(e.vport)) bad('vport', e.vport, 'a port (0-65535)');
  if (!Number.isInteger(e.svcId) || e.svcId < 0 || e.svcId >= abi.MAX_SERVICES) bad('svcId', e.svcId, `a service id (0-${abi.MAX_SERVICES - 1})`);
  if (!Number.isInteger(e.realId) || e.realId < 0 || e.realId >= abi.MAX_REALS) bad('realId', e.realId, `a real id (0-${abi.MAX_REALS - 1})`);
  if (typeof e.template !== 'boolean') bad('template', e.template, 'a boolean');
  else if (!e.template && !(Number.isInteger(e.state) && e.state >= abi.CS.SYN_RECV && e.state <= abi.CS.UDP))
    bad('state', e.state, `a connection state (${abi.CS.SYN_RECV}-${abi.CS.UDP})`);
  return p;
}

/** Throws a UsageError naming every bad field before anything is inserted. */
export function checkSyncInserts(entries: readonly SyncInsert[]): void {
  const problems = entries.flatMap((e, i) => syncInsertProblems(e, `entries[${i}]`));
  if (problems.length) throw new UsageError('invalid synced entries (none inserted)', problems);
}

/** Entries [from, from + n) as the frame xlvs_syncin runs on (struct xlvs_sync_in each); buf is reused when large enough. */
export function encodeSyncInserts(entries: readonly SyncInsert[], from: number, n: number, buf?: Buffer): Buffer {
  const size = abi.syncIn.size;
  const out = buf && buf.length === n * size ? buf : Buffer.alloc(n * size);
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const e = entries[from + i]!;
    const at = i * size;
    const k = at + IN.key!;
    out.writeUInt32BE(abi.ipv4ToU32(e.caddr), k + KEY.saddr!);
    out.writeUInt32BE(abi.ipv4ToU32(e.vaddr), k + KEY.daddr!);
    out.writeUInt16BE(e.template ? 0 : e.cport, k + KEY.sport!);
    out.writeUInt16BE(e.vport, k + KEY.dport!);
    out.writeUInt8(e.proto, k + KEY.proto!);
    out.writeUInt32LE(e.svcId, at + IN.svc_id!);
    out.writeUInt32LE(e.realId, at + IN.real_id!);
    out.writeUInt8(e.template ? abi.CS.NONE : e.state, at + IN.state!);
    out.writeUInt8(e.template ? abi.SYNC_F_TEMPLATE : 0, at + IN.flags!);
  }
  return out;
}

/** IPv6 entries [from, from + n) as the frame xlvs_syncin6 runs on (struct xlvs_sync_in6 each). */
export function encodeSyncInserts6(entries: readonly SyncInsert[], from: number, n: number): Buffer {
  const size = abi.syncIn6.size;
  const out = Buffer.alloc(n * size);
  for (let i = 0; i < n; i++) {
    const e = entries[from + i]!;
    const at = i * size;
    const k = at + IN6.key!;
    out.set(ipToBytes(e.caddr), k + KEY6.saddr!);
    out.set(ipToBytes(e.vaddr), k + KEY6.daddr!);
    out.writeUInt16BE(e.template ? 0 : e.cport, k + KEY6.sport!);
    out.writeUInt16BE(e.vport, k + KEY6.dport!);
    out.writeUInt8(e.proto, k + KEY6.proto!);
    out.writeUInt32LE(e.svcId, at + IN6.svc_id!);
    out.writeUInt32LE(e.realId, at + IN6.real_id!);
    out.writeUInt8(e.template ? abi.CS.NONE : e.state, at + IN6.state!);
    out.writeUInt8(e.template ? abi.SYNC_F_TEMPLATE : 0, at + IN6.flags!);
  }
  return out;
}

/** Adds what xlvs_syncin wrote into each entry's result to a running total; returns the results per entry. */
export function tallySyncResults(frame: Buffer, n: number, total: SyncInsertResult, v6 = false): number[] {
  const results: number[] = [];
  const size = v6 ? abi.syncIn6.size : abi.syncIn.size;
  const off = v6 ? IN6.result! : IN.result!;
  for (let i = 0; i < n; i++) {
    const r = frame.readUInt8(i * size + off);
    results.push(r);
    if (r === abi.SYNC_R.INSERTED) total.inserted++;
    else if (r === abi.SYNC_R.UPDATED) total.updated++;
    else total.refused++;
  }
  return results;
}
